/** How the local Step Functions API reads a request's ARNs and pages a list, as the service does. */
import { AwsServiceError } from '../../emulator/protocol';

/** A request's members, as JSON 1.0 carries them. */
export type Input = Record<string, unknown>;

const DEFAULT_PAGE = 100;

/** The ARN in `member`, of the kind `kind` names (`:stateMachine:`, `:execution:`): ValidationException or InvalidArn else. */
export function requiredArn(input: Input, member: string, kind: string): string {
  const value = input[member];
  if (value === undefined || value === null) {
    throw new AwsServiceError(
      'ValidationException',
      `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
    );
  }
  const arn = String(value);
  if (!/^arn:aws[\w-]*:states:[\w-]+:\d{12}:/.test(arn) || !arn.includes(kind) || arn.length > 256)
    throw new AwsServiceError('InvalidArn', `Invalid Arn: '${arn}'`);
  return arn;
}

/** `maxResults` (0 = the default, up to 1,000) and an opaque `nextToken`, as the list operations page. */
export function page<T>(items: T[], input: Input, member: string): Record<string, unknown> {
  const max = input.maxResults === undefined || input.maxResults === 0 ? DEFAULT_PAGE : Number(input.maxResults);
  if (!Number.isInteger(max) || max < 0 || max > 1000) {
    throw new AwsServiceError(
      'ValidationException',
      `1 validation error detected: Value '${String(input.maxResults)}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000`,
    );
  }
  let start = 0;
  if (input.nextToken !== undefined) {
    const decoded = /^emrflow-page-(\d+)$/.exec(Buffer.from(String(input.nextToken), 'base64url').toString('utf8'));
    if (!decoded || Number(decoded[1]) > items.length) throw new AwsServiceError('InvalidToken', `Invalid Token: '${String(input.nextToken)}'`);
    start = Number(decoded[1]);
  }
  const end = start + max;
  return { [member]: items.slice(start, end), ...(end < items.length ? { nextToken: Buffer.from(`emrflow-page-${end}`).toString('base64url') } : {}) };
}
