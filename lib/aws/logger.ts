import { Logger } from '@aws-lambda-powertools/logger';
import { APP_NAME } from '../contract';

/** One structured logger per function; POWERTOOLS_LOG_LEVEL and the service name come from the environment. */
export function functionLogger(name: string): Logger {
  return new Logger({ serviceName: APP_NAME, persistentKeys: { function: name } });
}
