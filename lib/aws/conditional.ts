/** DynamoDB's conditional writes: a refused condition is an answer (false), any other error is thrown. */

export function isConditionFailure(error: unknown): boolean {
  return (error as Error)?.name === 'ConditionalCheckFailedException';
}

/** Runs a conditional write: true when it was applied, false when its condition refused it. */
export async function conditional(write: () => Promise<unknown>): Promise<boolean> {
  const applied = await conditionalResult(async () => {
    await write();
    return true;
  });
  return applied ?? false;
}

/** Runs a conditional write and returns what it answered; null when its condition refused it. */
export async function conditionalResult<T>(write: () => Promise<T>): Promise<T | null> {
  try {
    return await write();
  } catch (error) {
    if (isConditionFailure(error)) return null;
    throw error;
  }
}
