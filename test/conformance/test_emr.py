"""EMR operations the project's state machine and the AWS CLI call, checked against botocore's EMR model."""

import time

import pytest

FLEETS = [
    {"Name": "Primary", "InstanceFleetType": "MASTER", "TargetOnDemandCapacity": 1, "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}]},
    {"Name": "Core", "InstanceFleetType": "CORE", "TargetOnDemandCapacity": 2, "InstanceTypeConfigs": [{"InstanceType": "r5.4xlarge", "WeightedCapacity": 1}]},
    {"Name": "Task", "InstanceFleetType": "TASK", "TargetSpotCapacity": 2, "InstanceTypeConfigs": [{"InstanceType": "r5.4xlarge", "WeightedCapacity": 2}],
     "LaunchSpecifications": {"SpotSpecification": {"TimeoutDurationMinutes": 10, "TimeoutAction": "SWITCH_TO_ON_DEMAND", "AllocationStrategy": "price-capacity-optimized"}}},
]
STEP = {"Name": "conformance step", "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "s3://conformance-emr/job.py"]}}


@pytest.fixture(scope="module")
def cluster_id(emr):
    response = emr.run_job_flow(
        Name="conformance", ReleaseLabel="emr-7.10.0", LogUri="s3://conformance-emr/logs/", Applications=[{"Name": "Spark"}],
        Instances={"KeepJobFlowAliveWhenNoSteps": True, "InstanceFleets": FLEETS},
        AutoTerminationPolicy={"IdleTimeout": 3600}, Tags=[{"Key": "emrflow:job", "Value": "conformance"}],
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole", VisibleToAllUsers=True,
    )
    return response["JobFlowId"]


def test_cluster_reads(emr, cluster_id):
    deadline = time.time() + 20
    while emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"] not in ("WAITING", "RUNNING"):
        assert time.time() < deadline
        time.sleep(0.05)
    assert any(c["Id"] == cluster_id for c in emr.list_clusters(ClusterStates=["WAITING", "RUNNING"])["Clusters"])
    assert len(emr.list_instance_fleets(ClusterId=cluster_id)["InstanceFleets"]) == 3
    assert emr.list_instances(ClusterId=cluster_id, InstanceFleetType="CORE")["Instances"]
    assert emr.get_auto_termination_policy(ClusterId=cluster_id)["AutoTerminationPolicy"]["IdleTimeout"] == 3600
    emr.add_tags(ResourceId=cluster_id, Tags=[{"Key": "conformance", "Value": "yes"}])


def test_steps(emr, cluster_id):
    step_ids = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[STEP, STEP])["StepIds"]
    assert emr.describe_step(ClusterId=cluster_id, StepId=step_ids[0])["Step"]["Name"] == "conformance step"
    assert {s["Id"] for s in emr.list_steps(ClusterId=cluster_id)["Steps"]} >= set(step_ids)
    emr.cancel_steps(ClusterId=cluster_id, StepIds=[step_ids[1]])


def test_terminate(emr, cluster_id, expect_error):
    emr.terminate_job_flows(JobFlowIds=[cluster_id])
    assert emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"] in ("TERMINATING", "TERMINATED")
    deadline = time.time() + 20
    while emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"] != "TERMINATED":
        assert time.time() < deadline
        time.sleep(0.05)
    with expect_error("InvalidRequestException", 400):
        emr.add_tags(ResourceId=cluster_id, Tags=[{"Key": "late", "Value": "yes"}])


def test_documented_errors(emr, expect_error):
    with expect_error("InvalidRequestException", 400):
        emr.describe_cluster(ClusterId="j-NOSUCHCLUSTER")
    with expect_error("ValidationException", 400):
        emr.describe_cluster(ClusterId="j-" + "X" * 298)
    with expect_error("ValidationException", 400):
        emr.list_steps(ClusterId="j-" + "X" * 298)
    with expect_error("UnknownOperationException", 400):
        emr.list_studios()


def test_list_steps_takes_at_most_ten_step_ids(emr, cluster_id, expect_error):
    with expect_error("ValidationException", 400):
        emr.list_steps(ClusterId=cluster_id, StepIds=[f"s-{n:013d}" for n in range(11)])
    assert emr.list_steps(ClusterId=cluster_id, StepIds=[f"s-{n:013d}" for n in range(10)])["Steps"] == []
