import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ASL_PATH, DEFAULT_SERVERLESS_PATH, loadStateMachineLimits, retryDelays } from '../../../local/planner/stateMachineLimits';

const asl = readFileSync(DEFAULT_ASL_PATH, 'utf8');
const serverless = readFileSync(DEFAULT_SERVERLESS_PATH, 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'emrflow-limits-'));
let copies = 0;

/** A copy of the definitions with one edit applied; the edit must change the text, or the test proves nothing. */
function edited(edit: { asl?: (text: string) => string; serverless?: (text: string) => string }) {
  copies++;
  const paths = { asl: join(dir, `run-job-${copies}.asl.yml`), serverless: join(dir, `serverless-${copies}.yml`) };
  const newAsl = edit.asl ? edit.asl(asl) : asl;
  const newServerless = edit.serverless ? edit.serverless(serverless) : serverless;
  expect(newAsl === asl && newServerless === serverless).toBe(false);
  writeFileSync(paths.asl, newAsl);
  writeFileSync(paths.serverless, newServerless);
  return loadStateMachineLimits(paths);
}

/** Replaces `from` with `to` once, inside the named state's block of the ASL. */
function inState(state: string, from: string | RegExp, to: string) {
  return (text: string) => {
    const start = text.indexOf(`\n  ${state}:\n`);
    expect(start).toBeGreaterThan(0);
    const end = text.slice(start + 1).search(/\n {2}[A-Z][A-Za-z]+:\n/) + start + 1;
    return text.slice(0, start) + text.slice(start, end).replace(from, to) + text.slice(end);
  };
}

describe('the state machine limits the planner reads', () => {
  const shipped = loadStateMachineLimits();

  it('reads the shipped definitions', () => {
    expect(shipped.acquireCapacity).toEqual({ timeoutSeconds: 14400, heartbeatSeconds: 900 });
    expect(shipped.runPooledStep.heartbeatSeconds).toBe(900);
    expect(shipped.runPooledStep.throttleRetry).toMatchObject({ intervalSeconds: 5, maxAttempts: 5, backoffRate: 2, jitter: 'FULL' });
    expect(shipped.runPooledStep.throttleRetry.errorEquals).toContain('Emr.Throttled');
    expect(retryDelays(shipped.runPooledStep.throttleRetry)).toEqual([5, 10, 20, 40, 80]);
    expect(shipped.createClusterThrottle).toMatchObject({ maxRetries: 4, firstWaitSeconds: { min: 5, max: 30 }, addedWaitSeconds: { min: 10, max: 60 } });
    expect(shipped.dispatchSweepSeconds).toBe(60);
    expect(shipped.settleStepsSeconds).toBe(300);
  });

  it('follows AcquireCapacity TimeoutSeconds and HeartbeatSeconds', () => {
    const limits = edited({ asl: inState('AcquireCapacity', 'TimeoutSeconds: 14400', 'TimeoutSeconds: 3600') });
    expect(limits.acquireCapacity.timeoutSeconds).toBe(3600);
    const heartbeat = edited({ asl: inState('AcquireCapacity', 'HeartbeatSeconds: 900', 'HeartbeatSeconds: 120') });
    expect(heartbeat.acquireCapacity.heartbeatSeconds).toBe(120);
  });

  it("follows RunPooledStep's heartbeat and its Emr.Throttled retry, wherever it sits among the retriers", () => {
    const limits = edited({
      asl: (text) =>
        inState(
          'RunPooledStep',
          'HeartbeatSeconds: 900',
          'HeartbeatSeconds: 600',
        )(
          inState(
            'RunPooledStep',
            /ErrorEquals: \[Emr\.Throttled\]\n(\s+)IntervalSeconds: 5\n\s+MaxAttempts: 5/,
            'ErrorEquals: [Emr.Throttled, EMR.ThrottlingException]\n$1IntervalSeconds: 3\n$1MaxAttempts: 7\n$1MaxDelaySeconds: 60',
          )(text),
        ),
    });
    expect(limits.runPooledStep.heartbeatSeconds).toBe(600);
    expect(limits.runPooledStep.throttleRetry).toEqual({
      errorEquals: ['Emr.Throttled', 'EMR.ThrottlingException'],
      intervalSeconds: 3,
      maxAttempts: 7,
      backoffRate: 2,
      maxDelaySeconds: 60,
      jitter: 'FULL',
    });
    expect(retryDelays(limits.runPooledStep.throttleRetry)).toEqual([3, 6, 12, 24, 48, 60, 60]);
  });

  it("follows CreateCluster's throttling loop cap and waits", () => {
    const limits = edited({
      asl: (text) =>
        inState(
          'NextCreateThrottle',
          'States.MathRandom(10, 60)',
          'States.MathRandom(20, 90)',
        )(inState('CreateClusterRejected', 'NumericLessThan: 4', 'NumericLessThan: 2')(text)),
    });
    expect(limits.createClusterThrottle.maxRetries).toBe(2);
    expect(limits.createClusterThrottle.addedWaitSeconds).toEqual({ min: 20, max: 90 });
  });

  it("follows dispatch-queue's and settle-steps' schedules in serverless.yml", () => {
    const limits = edited({
      serverless: (text) =>
        text.replace('rate: rate(1 minute)', 'rate: rate(2 minutes)').replace('- schedule: rate(5 minutes)', '- schedule: rate(10 minutes)'),
    });
    expect(limits.dispatchSweepSeconds).toBe(120);
    expect(limits.settleStepsSeconds).toBe(600);
  });

  it.each(['AcquireCapacity', 'RunPooledStep', 'CreateClusterRejected', 'FirstCreateThrottle', 'NextCreateThrottle', 'WaitToCreateCluster'])(
    'names the state %s when it is missing',
    (state) => {
      expect(() => edited({ asl: (text) => text.replace(new RegExp(`\\n  ${state}:\\n`), `\n  ${state}Renamed:\n`) })).toThrow(
        new RegExp(`state ${state}: missing`),
      );
    },
  );

  it('says so when RunPooledStep has no throttling retry, and when a schedule is gone', () => {
    expect(() => edited({ asl: inState('RunPooledStep', '[Emr.Throttled]', '[States.TaskFailed]') })).toThrow(
      /RunPooledStep\.Retry: no retrier with Emr\.Throttled/,
    );
    expect(() => edited({ serverless: (text) => text.replace('- schedule: rate(5 minutes)', '- schedule: cron(0/5 * * * ? *)') })).toThrow(
      /functions\.settleSteps\.events/,
    );
  });
});
