"""Fixtures for the conformance suite: botocore clients on the emulator, each checked by `shapes.Recorder`.

Run through jest (`npx jest test/conformance`), which starts an emulator and passes its endpoints in
AWS_ENDPOINT_URL_{EMR,GLUE,S3}; or by hand against a running `emrflow emulator` after pasting the exports it prints.
"""

from __future__ import annotations

import contextlib
import json
import os

import botocore.session
import pytest
from botocore.config import Config

from shapes import Recorder, Tally

TALLY = Tally()


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    if not all(os.environ.get(f"AWS_ENDPOINT_URL_{service}") for service in ("EMR", "GLUE", "S3")):
        pytest.exit("AWS_ENDPOINT_URL_EMR/GLUE/S3 are not set: run `npx jest test/conformance`, or start `emrflow emulator` and paste its exports", 2)
    return Recorder(TALLY)


# botocore names the Step Functions client "stepfunctions"; its endpoint variable carries the service id, SFN.
ENDPOINT_VARIABLE = {"stepfunctions": "SFN"}


def _client(recorder: Recorder, service: str):
    session = botocore.session.get_session()
    client = session.create_client(
        service,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        endpoint_url=os.environ[f"AWS_ENDPOINT_URL_{ENDPOINT_VARIABLE.get(service, service.upper().replace('-', '_'))}"],
        aws_access_key_id="conformance",
        aws_secret_access_key="conformance",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"}),
    )
    recorder.attach(client)
    return client


@pytest.fixture(scope="session")
def s3(recorder):
    return _client(recorder, "s3")


@pytest.fixture(scope="session")
def glue(recorder):
    return _client(recorder, "glue")


@pytest.fixture(scope="session")
def emr(recorder):
    return _client(recorder, "emr")


@pytest.fixture(scope="session")
def stepfunctions(recorder):
    if not os.environ.get("AWS_ENDPOINT_URL_SFN"):
        pytest.skip("AWS_ENDPOINT_URL_SFN is not set: the Step Functions API is the local runtime's (emrflow emulator's), not the bare emulator's")
    return _client(recorder, "stepfunctions")


@pytest.fixture(scope="session")
def emr_serverless(recorder):
    return _client(recorder, "emr-serverless")


@pytest.fixture
def expect_error(recorder):
    """`with expect_error("NoSuchKey", 404): …` — the call must fail with that code and status."""

    @contextlib.contextmanager
    def expecting(code: str, status: int):
        recorder.expect_error = (code, status)
        try:
            with pytest.raises(Exception) as raised:
                yield
            response = getattr(raised.value, "response", None)
            assert response is not None, f"expected a service error {code}, got {raised.value!r}"
            got = response["Error"].get("Code")
            assert response["ResponseMetadata"]["HTTPStatusCode"] == status, f"{code}: status {response['ResponseMetadata']['HTTPStatusCode']}"
            # A HEAD error has no body; botocore names it by its status.
            assert got in (code, str(status)), f"expected {code}, got {got}"
        finally:
            recorder.expect_error = None

    return expecting


def pytest_sessionfinish(session, exitstatus):
    report = os.environ.get("CONFORMANCE_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "checks": TALLY.checks,
                    "passed": TALLY.passed,
                    "operations": {service: sorted(ops) for service, ops in sorted(TALLY.operations.items())},
                    "failures": TALLY.failures,
                },
                f,
                indent=1,
            )
