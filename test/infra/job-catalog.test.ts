/**
 * infra/job-catalog.js: what serverless.yml derives per job from the catalog, for a catalog of several jobs
 * (the packaged-template test sees only the one job config/jobs.json has today).
 */
import { DEFAULT_S3_MARKER as CONTRACT_DEFAULT_S3_MARKER } from '../../lib/contract';

const { fromJobs, DEFAULT_S3_MARKER } = require('../../infra/job-catalog.js');

const job = (name: string, inputPrefix: string, catalog?: { database: string; table: string; crawler: string }) => ({
  name,
  inputPrefix,
  ...(catalog ? { catalog } : {}),
});
const glue = (resource: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:glue:\${AWS::Region}:\${AWS::AccountId}:${resource}` });

describe('job catalog derivations', () => {
  const jobs = [
    job('denormalize-events', 'events/', { database: 'emrflow_raw', table: 'events', crawler: 'emrflow-raw-events' }),
    job('sessionize-clicks', 'clicks/', { database: 'emrflow_raw', table: 'clicks', crawler: 'emrflow-raw-clicks' }),
    job('compact-events', 'events/'),
    job('score-leads', 'leads/'),
  ];

  it('matches only the marker of a marker-mode job (the default), in any folder under its prefix', () => {
    expect(fromJobs([job('a', 'events/')]).s3TriggerDetail).toEqual({
      bucket: { name: [{ Ref: 'RawBucket' }] },
      object: { key: [{ wildcard: 'events/*/_SUCCESS' }, 'events/_SUCCESS'] },
    });
    expect(fromJobs([{ ...job('a', 'events/'), s3Trigger: { mode: 'marker', marker: 'READY' } }]).s3TriggerDetail.object.key).toEqual([
      { wildcard: 'events/*/READY' },
      'events/READY',
    ]);
  });

  it('matches every non-empty object of a per-object job, or only its suffix, and both kinds of jobs as alternatives', () => {
    // Act
    const detail = fromJobs([
      job('a', 'events/'),
      { ...job('b', 'clicks/'), s3Trigger: { mode: 'per-object' } },
      { ...job('c', 'le*ds/'), s3Trigger: { mode: 'per-object', suffix: '.json' } },
    ]).s3TriggerDetail;

    // Assess
    expect(detail).toEqual({
      bucket: { name: [{ Ref: 'RawBucket' }] },
      $or: [
        { object: { key: [{ wildcard: 'events/*/_SUCCESS' }, 'events/_SUCCESS'] } },
        { object: { key: [{ prefix: 'clicks/' }, { wildcard: 'le\\*ds/*.json' }], size: [{ numeric: ['>', 0] }] } },
      ],
    });
  });

  it("repeats lib/contract's default marker (this file is plain JS for osls)", () => {
    expect(DEFAULT_S3_MARKER).toBe(CONTRACT_DEFAULT_S3_MARKER);
  });

  it('creates one Glue database per catalog database and one crawler with its own role per catalogued job', () => {
    // Act
    const { Resources } = fromJobs(jobs).resources;

    // Assess
    expect(Object.keys(Resources).sort()).toEqual([
      'DenormalizeEventsCrawler',
      'DenormalizeEventsCrawlerRole',
      'EmrflowRawGlueDatabase',
      'SessionizeClicksCrawler',
      'SessionizeClicksCrawlerRole',
    ]);
    expect(Resources.SessionizeClicksCrawler.Properties).toEqual(
      expect.objectContaining({
        Name: 'emrflow-raw-clicks',
        Role: { 'Fn::GetAtt': ['SessionizeClicksCrawlerRole', 'Arn'] },
        DatabaseName: { Ref: 'EmrflowRawGlueDatabase' },
        Targets: { S3Targets: [{ Path: { 'Fn::Sub': 's3://${RawBucket}/clicks/' } }] },
      }),
    );
  });

  it('lets a crawler read only its own prefix and write only its own table', () => {
    // Act
    const statements = fromJobs(jobs).resources.Resources.SessionizeClicksCrawlerRole.Properties.Policies[0].PolicyDocument.Statement;
    const bySid = Object.fromEntries(statements.map((s: any) => [s.Sid, s]));

    // Assess
    expect(bySid.ReadInput.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${RawBucket}/clicks/*' });
    expect(bySid.ListInput.Condition).toBeUndefined();
    expect(bySid.ReadDatabase.Resource).toEqual([glue('catalog'), glue('database/emrflow_raw')]);
    expect(bySid.WriteCatalog.Resource).toEqual([glue('catalog'), glue('database/emrflow_raw'), glue('table/emrflow_raw/clicks')]);
  });

  it('grants catalog reads and crawler runs on the catalogued jobs only', () => {
    // Act
    const derived = fromJobs(jobs);

    // Assess
    expect(derived.catalogReadArns).toEqual([
      glue('catalog'),
      glue('database/emrflow_raw'),
      glue('table/emrflow_raw/events'),
      glue('table/emrflow_raw/clicks'),
    ]);
    expect(derived.crawlerArns).toEqual([glue('crawler/emrflow-raw-events'), glue('crawler/emrflow-raw-clicks')]);
  });
});
