import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../../local/cli';

const ROOT = join(__dirname, '../../..');

describe('emrflow options (parseArgs strict, values checked by a schema)', () => {
  it.each([
    [['run', 'in.json', '--foo'], 'unknown option --foo'],
    [['run', 'in.json', '--faults'], "Option '--faults <value>' argument missing"],
    [['run', 'in.json', '--json=yes'], "Option '--json' does not take an argument"],
    [['run', 'in.json', '--faults', 'no/such/file.json'], '--faults: no such file: no/such/file.json'],
    [['run', 'in.json', '--time-scale', 'fast'], '--time-scale: must be a positive number, got "fast"'],
    [['run', 'in.json', '--time-scale', '0'], '--time-scale: must be a positive number, got number 0'],
    [
      ['run', 'in.json', '--time-scale', '-1'],
      "Option '--time-scale' argument is ambiguous. Did you forget to specify the option argument for '--time-scale'? To specify an option argument starting with a dash use '--time-scale=-XYZ'.",
    ],
    [['run', 'in.json', '--time-scale=-1'], '--time-scale: must be a positive number, got "-1"'],
    [['emulator', '--port', '70000'], '--port: must be between 0 and 65535, got number 70000'],
    [['demo', '--events', '1e3'], '--events: must be an integer from 1 to 10000000, got "1e3"'],
    [['run', 'in.json', '--machine', 'Run Job'], '--machine: must be a state machine name: statemachines/<name>.asl.yml, got "Run Job"'],
    [['upload', 'README.md', 's3://emrflow-raw/'], 'upload: "s3://emrflow-raw/" is not s3://<bucket>/<key>'],
    [['launch'], 'unknown command "launch"'],
  ])('rejects %j: %s', async (argv, message) => {
    await expect(main(argv)).rejects.toThrow(message);
  });

  it('exits 2 and prints the usage for bad usage', () => {
    const result = spawnSync(join(ROOT, 'bin/emrflow'), ['run', 'in.json', '--time-scale', 'fast'], { cwd: ROOT, encoding: 'utf8' });

    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^emrflow: --time-scale: must be a positive number, got "fast"\n\nemrflow — run emrflow's state machines/);
    expect(result.stderr).toContain('Exit status: 0 the execution succeeded');
  });
});
