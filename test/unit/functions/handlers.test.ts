/**
 * Every Lambda handler is built by the one factory (lib/aws/middleware.ts `lambdaHandler`), so each gets the same
 * stack — the logger's context, its metrics if it emits any, and stableErrorNames last — and none can drop a part.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const functionsDir = join(__dirname, '../../../functions');
const handlerFiles = readdirSync(functionsDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => join(functionsDir, entry.name, 'handler.ts'));

const FACTORY_LINE = /^export const handler = lambdaHandler\(\w+, \{ logger(, metrics)? \}\);$/m;

/** What is wrong with how a handler's source builds its stack; empty when it uses the factory and only it. */
function stackProblems(source: string): string[] {
  const problems: string[] = [];
  const factoryLine = FACTORY_LINE.exec(source);
  if (!factoryLine) problems.push('the handler is not `lambdaHandler(task, { logger[, metrics] })`');
  if (/\bmiddy\(|@middy\/core|injectLambdaContext|metricsMiddleware|stableErrorNames|\.use\(/.test(source)) {
    problems.push('builds middleware by hand');
  }
  const emitsMetrics = /\bfunctionMetrics\(/.test(source);
  if (factoryLine && emitsMetrics !== Boolean(factoryLine[1])) {
    problems.push(emitsMetrics ? 'emits metrics but leaves them out of its stack' : 'passes metrics it never makes');
  }
  return problems;
}

describe('the handlers’ middleware stack', () => {
  it('finds every handler (15 when the factory came; 14 since renew-lease was removed)', () => {
    expect(handlerFiles.length).toBeGreaterThanOrEqual(14);
  });

  it.each(handlerFiles.map((file) => [file.slice(functionsDir.length + 1)]))('%s builds its handler with lambdaHandler', (file) => {
    expect(stackProblems(readFileSync(join(functionsDir, file), 'utf8'))).toEqual([]);
  });

  it('flags the chains the handlers had before the factory (negative control)', () => {
    const logger = "const logger = functionLogger('x');\n";
    const metrics = "const metrics = functionMetrics('x');\n";

    // dispatch-queue's: logger and metrics, no stableErrorNames.
    expect(stackProblems(`${logger}${metrics}export const handler = middy(task).use(injectLambdaContext(logger)).use(metricsMiddleware(metrics));\n`)).toEqual([
      'the handler is not `lambdaHandler(task, { logger[, metrics] })`',
      'builds middleware by hand',
    ]);
    // The factory, then one more middleware added by hand.
    expect(stackProblems(`${logger}export const handler = lambdaHandler(task, { logger });\nhandler.use(other());\n`)).toEqual(['builds middleware by hand']);
    // A handler that queues metrics nobody writes, and one that passes metrics it never made.
    expect(stackProblems(`${logger}${metrics}export const handler = lambdaHandler(task, { logger });\n`)).toEqual([
      'emits metrics but leaves them out of its stack',
    ]);
    expect(stackProblems(`${logger}export const handler = lambdaHandler(task, { logger, metrics });\n`)).toEqual(['passes metrics it never makes']);
    expect(stackProblems(`${logger}${metrics}export const handler = lambdaHandler(task, { logger, metrics });\n`)).toEqual([]);
  });
});
