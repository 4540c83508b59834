"""The local runtime's Step Functions API (emrflow emulator's AWS_ENDPOINT_URL_SFN), checked against botocore's model.

Every response of ListStateMachines, DescribeStateMachine, DescribeStateMachineForExecution, StartExecution,
DescribeExecution, ListExecutions, GetExecutionHistory and StopExecution goes through the shape checks, running
and ended executions alike, and each documented error is asked for once.
"""

import json
import time

import pytest

DATE = "2026-11-26"
EVENTS = "\n".join(
    json.dumps({"event_time": f"{DATE}T10:0{n}:00Z", "site": "news.example.com", "visitor_id": f"v{n}", "session_id": "s1", "url": f"https://news.example.com/{n}"})
    for n in (1, 2, 3)
)
CONSOLE = json.dumps({"job": "denormalize-events", "date": DATE})


@pytest.fixture(scope="module")
def run_job(stepfunctions, s3):
    raw = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].endswith("rawbucket"))
    s3.put_object(Bucket=raw, Key=f"events/dt={DATE}/part-0001.json", Body=EVENTS.encode())
    machines = stepfunctions.list_state_machines()["stateMachines"]
    return next(m["stateMachineArn"] for m in machines if m["name"].endswith("-run-job"))


def wait_ended(stepfunctions, arn, seconds=60):
    deadline = time.time() + seconds
    while True:
        described = stepfunctions.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        assert time.time() < deadline, f"{arn} still RUNNING"
        time.sleep(0.05)


def test_state_machines(stepfunctions, run_job):
    described = stepfunctions.describe_state_machine(stateMachineArn=run_job)
    assert described["type"] == "STANDARD" and json.loads(described["definition"])["StartAt"] == "NormalizeRequest"
    assert stepfunctions.list_state_machines(maxResults=1)["nextToken"]


def test_execution_lifecycle(stepfunctions, run_job):
    started = stepfunctions.start_execution(stateMachineArn=run_job, name="conformance-happy", input=CONSOLE)
    arn = started["executionArn"]
    assert stepfunctions.start_execution(stateMachineArn=run_job, name="conformance-happy", input=CONSOLE)["executionArn"] == arn
    assert stepfunctions.describe_execution(executionArn=arn)["status"] in ("RUNNING", "SUCCEEDED")
    assert stepfunctions.describe_state_machine_for_execution(executionArn=arn)["stateMachineArn"] == run_job
    assert wait_ended(stepfunctions, arn)["status"] == "SUCCEEDED"
    events = stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    first = stepfunctions.get_execution_history(executionArn=arn, maxResults=5, reverseOrder=True)
    assert [e["id"] for e in first["events"]] == [e["id"] for e in reversed(events)][:5]
    stepfunctions.get_execution_history(executionArn=arn, nextToken=first["nextToken"], reverseOrder=True, includeExecutionData=False)
    listed = stepfunctions.list_executions(stateMachineArn=run_job, statusFilter="SUCCEEDED")["executions"]
    assert arn in [e["executionArn"] for e in listed]


def test_stop_execution(stepfunctions, run_job):
    arn = stepfunctions.start_execution(stateMachineArn=run_job, name="conformance-stopped", input=CONSOLE)["executionArn"]
    stepfunctions.stop_execution(executionArn=arn, error="Conformance.Stop", cause="stopped by the conformance suite")
    described = stepfunctions.describe_execution(executionArn=arn)
    assert described["status"] == "ABORTED" and described["error"] == "Conformance.Stop"
    deadline = time.time() + 30
    while stepfunctions.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=1)["events"][0]["type"] != "ExecutionAborted":
        assert time.time() < deadline
        time.sleep(0.05)
    assert stepfunctions.list_executions(stateMachineArn=run_job, statusFilter="ABORTED", maxResults=1)["executions"]


def test_failed_execution(stepfunctions, run_job):
    arn = stepfunctions.start_execution(stateMachineArn=run_job, input=json.dumps({"job": "denormalize-events", "date": "2026-01-01"}))["executionArn"]
    described = wait_ended(stepfunctions, arn)
    assert described["status"] == "FAILED" and described["error"] == "Input.NotFound"
    assert stepfunctions.get_execution_history(executionArn=arn)["events"][-1]["executionFailedEventDetails"]["error"] == "Input.NotFound"


def test_documented_errors(stepfunctions, run_job, expect_error):
    execution = run_job.replace(":stateMachine:", ":execution:") + ":never-started"
    with expect_error("ExecutionAlreadyExists", 400):
        stepfunctions.start_execution(stateMachineArn=run_job, name="conformance-happy", input="{}")
    with expect_error("InvalidExecutionInput", 400):
        stepfunctions.start_execution(stateMachineArn=run_job, input="{not json")
    with expect_error("InvalidExecutionInput", 400):
        stepfunctions.start_execution(stateMachineArn=run_job, input=json.dumps({"pad": "x" * 262_144}))
    with expect_error("InvalidName", 400):
        stepfunctions.start_execution(stateMachineArn=run_job, name="has space", input="{}")
    with expect_error("StateMachineDoesNotExist", 400):
        stepfunctions.start_execution(stateMachineArn=run_job + "-nope", input="{}")
    with expect_error("StateMachineDoesNotExist", 400):
        stepfunctions.describe_state_machine(stateMachineArn=run_job + "-nope")
    with expect_error("InvalidArn", 400):
        stepfunctions.describe_execution(executionArn="arn:aws:s3:::not-an-execution")
    with expect_error("ExecutionDoesNotExist", 400):
        stepfunctions.describe_execution(executionArn=execution)
    with expect_error("ExecutionDoesNotExist", 400):
        stepfunctions.get_execution_history(executionArn=execution)
    with expect_error("ExecutionDoesNotExist", 400):
        stepfunctions.describe_state_machine_for_execution(executionArn=execution)
    with expect_error("ExecutionDoesNotExist", 400):
        stepfunctions.stop_execution(executionArn=execution)
    with expect_error("ValidationException", 400):
        stepfunctions.stop_execution(executionArn=execution, error="E" * 257)
    with expect_error("InvalidToken", 400):
        stepfunctions.list_executions(stateMachineArn=run_job, nextToken="bogus")
    with expect_error("TaskDoesNotExist", 400):
        stepfunctions.send_task_heartbeat(taskToken="emrflow-local-eyJyIjoieCIsImUiOiJ4IiwibiI6MX0.bm9uY2U")
    with expect_error("UnknownOperationException", 400):
        stepfunctions.list_activities()
