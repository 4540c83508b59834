"""EMR operations the project's state machine and the AWS CLI call, checked against botocore's EMR model."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

FLEETS = [
    {"Name": "Primary", "InstanceFleetType": "MASTER", "TargetOnDemandCapacity": 1, "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge"}]},
    {"Name": "Core", "InstanceFleetType": "CORE", "TargetOnDemandCapacity": 2, "InstanceTypeConfigs": [{"InstanceType": "r5.4xlarge", "WeightedCapacity": 1}]},
    {"Name": "Task", "InstanceFleetType": "TASK", "TargetSpotCapacity": 2, "InstanceTypeConfigs": [{"InstanceType": "r5.4xlarge", "WeightedCapacity": 2}],
     "LaunchSpecifications": {"SpotSpecification": {"TimeoutDurationMinutes": 10, "TimeoutAction": "SWITCH_TO_ON_DEMAND", "AllocationStrategy": "price-capacity-optimized"}}},
]
STEP_LIVE_STATES = ["PENDING", "RUNNING", "CANCEL_PENDING"]
STEP_ENDED_STATES = ["COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED"]
AWS_CLI = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "aws"
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


def _ended_states(emr, cluster_id, step_ids):
    deadline = time.time() + 30
    while True:
        states = {s["Id"]: s["Status"]["State"] for s in emr.list_steps(ClusterId=cluster_id, StepIds=step_ids)["Steps"]}
        if len(states) == len(step_ids) and all(state in STEP_ENDED_STATES for state in states.values()):
            return states
        assert time.time() < deadline, f"steps not ended within 30 s: {states}"
        time.sleep(0.05)


def test_list_steps_filters(emr, cluster_id):
    """ListSteps' StepIds and StepStates filters, as the settle sweep uses them (lib/jobManager/steps.ts)."""
    step_ids = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[STEP, STEP, STEP])["StepIds"]
    assert sorted(s["Id"] for s in emr.list_steps(ClusterId=cluster_id, StepIds=step_ids[:2])["Steps"]) == sorted(step_ids[:2])
    assert all(s["Status"]["State"] in STEP_LIVE_STATES for s in emr.list_steps(ClusterId=cluster_id, StepStates=STEP_LIVE_STATES)["Steps"])
    # Ended states do not change: each step is listed under its own state, and under no other.
    for step_id, state in _ended_states(emr, cluster_id, step_ids).items():
        others = [other for other in STEP_ENDED_STATES + STEP_LIVE_STATES if other != state]
        assert step_id in {s["Id"] for s in emr.list_steps(ClusterId=cluster_id, StepStates=[state])["Steps"]}
        assert step_id not in {s["Id"] for s in emr.list_steps(ClusterId=cluster_id, StepStates=others)["Steps"]}
        assert [s["Id"] for s in emr.list_steps(ClusterId=cluster_id, StepIds=[step_id], StepStates=[state])["Steps"]] == [step_id]
        assert emr.list_steps(ClusterId=cluster_id, StepIds=[step_id], StepStates=others)["Steps"] == []


def _aws_cli(*args):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "conformance", "AWS_SECRET_ACCESS_KEY": "conformance"}
    env.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    return subprocess.run([str(AWS_CLI), *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=60, check=False)


def _listed_ids(run):
    assert run.returncode == 0, run.stderr
    return [s["Id"] for s in json.loads(run.stdout)["Steps"]]


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the project venv has no AWS CLI")
def test_list_steps_filters_through_the_aws_cli(emr, cluster_id):
    """`aws emr list-steps --step-ids … / --step-states …` as a user types them (AWS CLI v1 from .venv)."""
    step_ids = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[STEP, STEP])["StepIds"]
    assert sorted(_listed_ids(_aws_cli("emr", "list-steps", "--cluster-id", cluster_id, "--step-ids", *step_ids))) == sorted(step_ids)
    running = _aws_cli("emr", "list-steps", "--cluster-id", cluster_id, "--step-states", "RUNNING")
    assert running.returncode == 0, running.stderr
    assert all(s["Status"]["State"] == "RUNNING" for s in json.loads(running.stdout)["Steps"])
    state = _ended_states(emr, cluster_id, step_ids)[step_ids[0]]
    assert _listed_ids(_aws_cli("emr", "list-steps", "--cluster-id", cluster_id, "--step-states", state, "--step-ids", step_ids[0])) == [step_ids[0]]
    assert _listed_ids(_aws_cli("emr", "list-steps", "--cluster-id", cluster_id, "--step-states", *STEP_LIVE_STATES, "--step-ids", step_ids[0])) == []
    too_many = _aws_cli("emr", "list-steps", "--cluster-id", cluster_id, "--step-ids", *[f"s-{n:013d}" for n in range(11)])
    assert too_many.returncode != 0 and "ValidationException" in too_many.stderr, too_many.stderr


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
