import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Deletes a run's claim if this execution made it (ClaimRun writes `execution`), so the run can start
 * again. False when the claim is gone or belongs to another execution.
 */
export async function releaseClaim(dynamo: DynamoDBDocumentClient, table: string, claim: { runId: string; execution: string }): Promise<boolean> {
  try {
    await dynamo.send(
      new DeleteCommand({
        TableName: table,
        Key: { runId: claim.runId },
        ConditionExpression: '#execution = :execution',
        ExpressionAttributeNames: { '#execution': 'execution' },
        ExpressionAttributeValues: { ':execution': claim.execution },
      }),
    );
    return true;
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}
