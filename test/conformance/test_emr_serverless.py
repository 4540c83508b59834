"""EMR Serverless operations run-job, cleanup, the reaper and the AWS CLI call, checked against botocore's model."""

import time

import pytest

ROLE = "arn:aws:iam::000000000000:role/emrflow-local-serverless-job"
DRIVER = {"sparkSubmit": {"entryPoint": "s3://conformance-emr/job.jar", "entryPointArguments": ["--date", "2026-11-27"],
                          "sparkSubmitParameters": "--conf spark.executor.cores=4 --conf spark.executor.memory=14g --conf spark.executor.instances=2"}}


def wait_for(read, states, seconds=20):
    deadline = time.time() + seconds
    while (value := read()) not in states:
        assert time.time() < deadline, f"still {value}"
        time.sleep(0.05)
    return value


@pytest.fixture(scope="module")
def application_id(emr_serverless):
    response = emr_serverless.create_application(
        name="conformance", releaseLabel="emr-7.10.0", type="SPARK", clientToken="conformance-app", architecture="ARM64",
        maximumCapacity={"cpu": "64 vCPU", "memory": "512 GB"}, autoStopConfiguration={"enabled": True, "idleTimeoutMinutes": 15},
        tags={"emrflow:app": "emrflow"},
    )
    again = emr_serverless.create_application(name="conformance", releaseLabel="emr-7.10.0", type="SPARK", clientToken="conformance-app", architecture="ARM64")
    assert again["applicationId"] == response["applicationId"]
    return response["applicationId"]


def test_application_lifecycle(emr_serverless, application_id):
    get = lambda: emr_serverless.get_application(applicationId=application_id)["application"]["state"]
    wait_for(get, ("CREATED",))
    assert any(a["id"] == application_id for a in emr_serverless.list_applications(states=["CREATED"])["applications"])
    emr_serverless.start_application(applicationId=application_id)
    wait_for(get, ("STARTED",))
    emr_serverless.stop_application(applicationId=application_id)
    wait_for(get, ("STOPPED",))


def test_job_run_succeeds_once_per_client_token(emr_serverless, application_id):
    started = emr_serverless.start_job_run(applicationId=application_id, clientToken="run-1", executionRoleArn=ROLE, jobDriver=DRIVER, name="conformance r1 attempt 1")
    retried = emr_serverless.start_job_run(applicationId=application_id, clientToken="run-1", executionRoleArn=ROLE, jobDriver=DRIVER, name="conformance r1 attempt 1")
    assert retried["jobRunId"] == started["jobRunId"]
    get = lambda: emr_serverless.get_job_run(applicationId=application_id, jobRunId=started["jobRunId"])["jobRun"]
    wait_for(lambda: get()["state"], ("SUCCESS",), seconds=60)
    billed = get()["billedResourceUtilization"]
    # A 4 vCPU driver and two 4 vCPU executors, billed at least a minute each.
    assert billed["vCPUHour"] >= 12 / 60
    runs = emr_serverless.list_job_runs(applicationId=application_id, states=["SUCCESS"])["jobRuns"]
    assert [r["id"] for r in runs] == [started["jobRunId"]]


def test_cancel_job_run(emr_serverless, application_id):
    started = emr_serverless.start_job_run(applicationId=application_id, clientToken="run-2", executionRoleArn=ROLE, jobDriver=DRIVER)
    emr_serverless.cancel_job_run(applicationId=application_id, jobRunId=started["jobRunId"])
    get = lambda: emr_serverless.get_job_run(applicationId=application_id, jobRunId=started["jobRunId"])["jobRun"]["state"]
    assert get() in ("CANCELLING", "CANCELLED")
    wait_for(get, ("CANCELLED",))


def test_modelled_error_codes(emr_serverless, application_id, expect_error):
    with expect_error("ResourceNotFoundException", 404):
        emr_serverless.get_application(applicationId="00fnosuchapp0000")
    with expect_error("ResourceNotFoundException", 404):
        emr_serverless.get_job_run(applicationId=application_id, jobRunId="00fnosuchrun0000")
    with expect_error("ValidationException", 400):
        emr_serverless.start_job_run(applicationId=application_id, clientToken="bad-role", executionRoleArn="arn:aws:iam::000000000000:user/not-a-role", jobDriver=DRIVER)
