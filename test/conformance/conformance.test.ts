/**
 * The conformance suite: Python tests (test/conformance/test_*.py) drive the emulator through botocore's own
 * service models, and every response is checked against the operation's output shape and every error against
 * its documented code and status (test/conformance/shapes.py). This test starts an emulator, runs them with
 * the project venv's pytest and fails on any non-conforming answer.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalRuntime, type LocalRuntime } from '../../local/runner';
import { STEP_FUNCTIONS_OPERATIONS } from '../../local/runner/stepFunctionsApi/service';

const root = path.resolve(__dirname, '../..');
const python = path.join(root, '.venv', 'bin', 'python');
const here = path.join(root, 'test', 'conformance');

interface Report {
  checks: number;
  passed: number;
  operations: Record<string, string[]>;
  failures: string[];
}

/** Runs the Python suite; asynchronously, since the emulator it calls runs in this process. */
async function runPytest(env: Record<string, string>): Promise<{ status: number | null; output: string; report: Report | null }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'conformance-'));
  const reportFile = path.join(dir, 'report.json');
  try {
    const child = spawn(python, ['-m', 'pytest', here, '-q', '-p', 'no:cacheprovider'], {
      cwd: here,
      env: { ...process.env, ...env, CONFORMANCE_REPORT: reportFile, PYTHONDONTWRITEBYTECODE: '1' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const report = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as Report) : null;
    return { status, output, report };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const describeIfVenv = existsSync(python) ? describe : describe.skip;

describeIfVenv('conformance with botocore service models', () => {
  // The whole local runtime, as `emrflow emulator` serves it: the emulator (EMR, Glue, S3) and the runner's
  // Step Functions endpoint, whose executions run the deployed state machines against that emulator.
  let runtime: LocalRuntime;
  beforeAll(async () => {
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    runtime = await startLocalRuntime({ timeScale: 0.002, simulateSteps: true, schedules: false, seed: 7 });
  }, 60_000);
  afterAll(async () => {
    await runtime.stop();
  });

  it('answers every EMR, EMR Serverless, Glue, S3 and Step Functions call with the modelled output shape or a documented error', async () => {
    const { status, output, report } = await runPytest(runtime.env);

    expect(report?.failures ?? [output]).toEqual([]);
    expect({ status, output: status === 0 ? '' : output }).toEqual({ status: 0, output: '' });
    expect(report!.checks).toBe(report!.passed);
    expect(report!.checks).toBeGreaterThan(100);
    expect(Object.keys(report!.operations)).toEqual(['emr', 'emr-serverless', 'glue', 's3', 'stepfunctions']);
    expect(report!.operations.stepfunctions).toEqual(expect.arrayContaining([...STEP_FUNCTIONS_OPERATIONS]));
    expect(report!.operations['emr-serverless']).toEqual([
      'CancelJobRun',
      'CreateApplication',
      'GetApplication',
      'GetJobRun',
      'ListApplications',
      'ListJobRuns',
      'StartApplication',
      'StartJobRun',
      'StopApplication',
    ]);
  }, 120_000);

  it('negative control: the shape checks reject a member the model does not have, a wrong type and an undocumented error', () => {
    const probe = path.join(os.tmpdir(), `conformance-probe-${process.pid}.py`);
    writeFileSync(
      probe,
      [
        'import sys, types',
        `sys.path.insert(0, ${JSON.stringify(here)})`,
        'import botocore.session',
        'from xml.etree import ElementTree',
        'from shapes import check_json_value, check_xml_element, expected_error_status',
        'glue = botocore.session.get_session().get_service_model("glue")',
        'op = glue.operation_model("GetTable")',
        'out = []',
        'check_json_value({"Table": {"Name": "t", "Bogus": 1, "CreateTime": "yesterday"}}, op.output_shape, "GetTableResponse", out)',
        'assert any("Bogus" in p for p in out) and any("CreateTime" in p for p in out), out',
        's3 = botocore.session.get_session().get_service_model("s3")',
        'assert expected_error_status("s3", s3.operation_model("GetObject"), "NoSuchKey") == 404',
        'assert expected_error_status("s3", s3.operation_model("GetObject"), "MadeUpError") is None',
        'xml_out = []',
        'listing = ElementTree.fromstring("<ListBucketResult><Name>b</Name><KeyCount>many</KeyCount><Bogus/></ListBucketResult>")',
        'check_xml_element(listing, s3.operation_model("ListObjectsV2").output_shape, "ListBucketResult", xml_out)',
        'assert any("Bogus" in p for p in xml_out) and any("KeyCount" in p for p in xml_out), xml_out',
        'sfn = botocore.session.get_session().get_service_model("stepfunctions")',
        'sfn_out = []',
        'check_json_value({"executionArn": "a", "stateMachineArn": "m", "status": "DONE", "startDate": "today", "bogus": 1}, sfn.operation_model("DescribeExecution").output_shape, "DescribeExecutionOutput", sfn_out)',
        'check_json_value({"events": [{"id": 1, "timestamp": 1.5, "type": "TaskDone", "taskScheduledEventDetails": {"resourceType": "lambda", "resource": "invoke", "region": "us-east-1"}}]}, sfn.operation_model("GetExecutionHistory").output_shape, "GetExecutionHistoryOutput", sfn_out)',
        'assert any("status" in p for p in sfn_out) and any("startDate" in p for p in sfn_out) and any("bogus" in p for p in sfn_out), sfn_out',
        'assert any("TaskDone" in p for p in sfn_out) and any("parameters" in p for p in sfn_out), sfn_out',
        'assert expected_error_status("stepfunctions", sfn.operation_model("StartExecution"), "ExecutionAlreadyExists") == 400',
        'assert expected_error_status("stepfunctions", sfn.operation_model("DescribeExecution"), "ExecutionAlreadyExists") is None',
        'serverless = botocore.session.get_session().get_service_model("emr-serverless")',
        'rest_out = []',
        'check_json_value({"jobRun": {"applicationId": "a", "state": "DONE", "Bogus": 1}}, serverless.operation_model("GetJobRun").output_shape, "GetJobRunResponse", rest_out)',
        'assert any("Bogus" in p for p in rest_out) and any("DONE" in p for p in rest_out), rest_out',
        'assert expected_error_status("emr-serverless", serverless.operation_model("GetJobRun"), "ResourceNotFoundException") == 404',
        'print("rejected", len(out) + len(xml_out), len(sfn_out), "rest-json", len(rest_out) > 2)',
      ].join('\n'),
    );
    try {
      const run = spawnSync(python, [probe], { encoding: 'utf8' });

      expect(run.stderr).toBe('');
      expect(run.stdout.trim()).toBe('rejected 4 5 rest-json True');
    } finally {
      rmSync(probe, { force: true });
    }
  });
});
