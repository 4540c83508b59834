/**
 * listAppClusters, the reaper's and the cleanup's view of the account (issue 21): only this stage's clusters,
 * and a cluster its role may not describe (another app's or another stage's) is skipped, not a failure.
 */
import { DescribeClusterCommand, EMRClient, ListClustersCommand } from '@aws-sdk/client-emr';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { listAppClusters } from '../../../lib/aws/emr';

const emr = mockClient(EMRClient);
const tags = (stage: string) => [
  { Key: 'emrflow:app', Value: 'emrflow' },
  { Key: 'emrflow:stage', Value: stage },
  { Key: 'emrflow:pool', Value: 'dedicated' },
];
const denied = () => Object.assign(new Error('User is not authorized to perform: elasticmapreduce:DescribeCluster'), { name: 'AccessDeniedException' });

beforeEach(() => {
  emr.reset();
  emr.on(ListClustersCommand).resolves({
    Clusters: [
      { Id: 'j-OURS', Name: 'emrflow r-1 attempt 1' },
      { Id: 'j-PROD', Name: 'emrflow r-1 attempt 2' },
      { Id: 'j-DENIED', Name: 'emrflow pool shared other-1' },
      { Id: 'j-FOREIGN', Name: 'nightly etl of another team' },
    ],
  });
  emr.on(DescribeClusterCommand, { ClusterId: 'j-OURS' }).resolves({ Cluster: { Id: 'j-OURS', Status: { State: 'WAITING' }, Tags: tags('dev') } as never });
  emr.on(DescribeClusterCommand, { ClusterId: 'j-PROD' }).resolves({ Cluster: { Id: 'j-PROD', Status: { State: 'WAITING' }, Tags: tags('prod') } as never });
  emr.on(DescribeClusterCommand, { ClusterId: 'j-DENIED' }).rejects(denied());
});

describe('listAppClusters', () => {
  it("lists only this stage's clusters, describes only names the app gives, and skips one its role may not describe", async () => {
    // Act
    const clusters = await listAppClusters(new EMRClient({}), { stage: 'dev' });

    // Assess
    expect(clusters.map((cluster) => cluster.id)).toEqual(['j-OURS']);
    expect(emr).not.toHaveReceivedCommandWith(DescribeClusterCommand, { ClusterId: 'j-FOREIGN' });
    expect(emr).toHaveReceivedCommandWith(DescribeClusterCommand, { ClusterId: 'j-DENIED' });
  });

  it("lists the other stage's cluster to that stage (negative control of the stage filter)", async () => {
    const clusters = await listAppClusters(new EMRClient({}), { stage: 'prod' });

    expect(clusters.map((cluster) => cluster.id)).toEqual(['j-PROD']);
  });

  it('still fails on any other DescribeCluster error (negative control: only AccessDenied means "not ours")', async () => {
    emr.on(DescribeClusterCommand, { ClusterId: 'j-DENIED' }).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    await expect(listAppClusters(new EMRClient({}), { stage: 'dev' })).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});
