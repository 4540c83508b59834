// Imported first by the handler tests: the handlers read these when they run, the logger when it is made.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.RAW_BUCKET = 'emrflow-raw';
process.env.ARTIFACTS_BUCKET = 'emrflow-artifacts';
process.env.LOGS_BUCKET = 'emrflow-logs';
process.env.RUNS_TABLE = 'emrflow-runs';
process.env.CLUSTER_REGISTRY_TABLE = 'emrflow-cluster-registry';

export const lambdaContext = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'emrflow-test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:emrflow-test',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
  logGroupName: '/aws/lambda/emrflow-test',
  logStreamName: '2026/11/27/[$LATEST]abc',
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};
