/**
 * A day's job mix for the capacity planner: either a profile (examples/planner/day.json: job kinds with
 * priorities and SLAs, a heavy-tailed input-size distribution, hourly uploads and a nightly batch spike,
 * a Spot model) expanded into jobs with a seeded generator, or a recorded history (the runs table as JSON
 * lines, one RunRecord per line). Both are validated with a strict schema; an error names the file and field.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { JobDefinitionSchema, loadJobs, type JobDefinition } from '../../lib/config/jobs';
import { PrioritySchema } from '../../lib/domain/priority';
import { between, nonEmptyString, parseConfig, strictObject } from '../../lib/schema';
import { HOURS_PER_MONTH, SPOT_BAND_MONTHLY_RATE, type SpotBand } from './constants';
import { Random } from './random';

const MiB = 1024 * 1024;
const BANDS = Object.keys(SPOT_BAND_MONTHLY_RATE) as [SpotBand, ...SpotBand[]];

const KindSchema = strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lowercase letters, digits or "-"'),
  /** Share of the day's jobs of this kind (shares are normalized). */
  share: between(0, 1),
  /** hourly: an upload at the top of each hour; nightly: the batch spike; business: spread over working hours. */
  arrival: z.enum(['hourly', 'nightly', 'business']),
  priority: PrioritySchema,
  slaMinutes: between(5, 720, { integer: true }),
  maxAttempts: between(1, 10, { integer: true }),
  /** Log-normal input size: median MiB and log-space sigma (1.5 gives a tail of a few 100× the median). */
  inputMiB: strictObject({ median: between(0.001, Infinity), sigma: between(0, 4), max: between(1, Infinity) }),
  /** MiB/s one capacity unit really processes for this kind (sizing's default is 24), and its run-to-run spread. */
  throughputMiBpsPerUnit: between(0.1, 10_000),
  throughputSigma: between(0, 2).default(0.2),
});
export type JobKind = z.infer<typeof KindSchema>;

export const ProfileSchema = strictObject({
  description: z.string().optional(),
  /** The day simulated (run date); arrivals are seconds after its midnight UTC. */
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date such as 2026-12-01'),
  jobs: between(1, 1_000_000, { integer: true }),
  /** Input sizes are scaled so the day's total is this many TiB (the heavy-tailed shape is kept). */
  totalInputTiB: between(0.000001, 10_000),
  kinds: z.array(KindSchema).min(1, 'must list at least one job kind'),
  arrivals: strictObject({
    /** Hourly uploads land within this many seconds after the hour (exponential spread, this mean). */
    hourlySpreadSeconds: between(1, 3600),
    /** The nightly batch starts at this UTC hour and its jobs arrive over `nightlySpikeMinutes`. */
    nightlyStartHour: between(0, 23, { integer: true }),
    nightlySpikeMinutes: between(1, 600),
    businessHours: strictObject({ from: between(0, 23, { integer: true }), to: between(1, 24, { integer: true }) }),
  }),
  spot: strictObject({
    /** Spot Instance Advisor band per instance type; types not listed get `defaultBand`. */
    bands: z.record(nonEmptyString, z.enum(BANDS)),
    defaultBand: z.enum(BANDS),
    /** Chance that a cluster asking for Spot finds none at launch (SpotSpecification timeout). */
    noSpotAtLaunch: between(0, 1),
  }),
});
export type Profile = z.infer<typeof ProfileSchema>;

/** One job of the day, as the simulator replays it in every strategy. */
export interface SimJob {
  id: string;
  kind: string;
  arrival: number;
  inputBytes: number;
  /** The run's real throughput (MiB/s per unit): the step lasts as long as the data says, whatever sizing predicted. */
  throughput: number;
  job: JobDefinition;
}

export interface SpotModel {
  /** Interruptions per instance-hour, per instance type. */
  hazardPerHour(instanceType: string): number;
  noSpotAtLaunch: number;
  description: string;
}

export function parseProfile(file: string, raw: unknown): Profile {
  return parseConfig(file, ProfileSchema, raw);
}

export function readProfile(file: string): Profile {
  return parseProfile(file, readJson(file));
}

/** The profile's Spot model, or `stress`× the worst Advisor band for every type. */
export function spotModel(profile: Profile, stress?: number): SpotModel {
  const worst = SPOT_BAND_MONTHLY_RATE['>20%'];
  if (stress !== undefined) {
    return {
      hazardPerHour: () => (worst * stress) / HOURS_PER_MONTH,
      noSpotAtLaunch: profile.spot.noSpotAtLaunch,
      description: `${stress}× the worst Advisor band (>20%/month → ${(worst * stress * 100).toFixed(0)}%/month) for every type`,
    };
  }
  return {
    hazardPerHour: (type) => SPOT_BAND_MONTHLY_RATE[profile.spot.bands[type] ?? profile.spot.defaultBand] / HOURS_PER_MONTH,
    noSpotAtLaunch: profile.spot.noSpotAtLaunch,
    description: 'Spot Instance Advisor bands per type from the profile',
  };
}

function definitionOf(kind: Pick<JobKind, 'name' | 'priority' | 'slaMinutes' | 'maxAttempts'>, releaseLabel: string): JobDefinition {
  return JobDefinitionSchema.parse({
    name: kind.name,
    description: `simulated job kind ${kind.name}`,
    entryPoint: 'spark/denormalize.py',
    inputPrefix: `${kind.name}/`,
    outputPrefix: `out/${kind.name}/`,
    slaMinutes: kind.slaMinutes,
    priority: kind.priority,
    releaseLabel,
    maxAttempts: kind.maxAttempts,
  });
}

/** Expands a profile into its day of jobs, sorted by arrival; the same seed gives the same jobs. */
export function generateJobs(profile: Profile, seed: number): SimJob[] {
  const random = new Random(seed).fork(1);
  const releaseLabel = loadJobs()[0].releaseLabel;
  const totalShare = profile.kinds.reduce((sum, kind) => sum + kind.share, 0);
  const counts = profile.kinds.map((kind) => Math.round((profile.jobs * kind.share) / totalShare));
  counts[0] += profile.jobs - counts.reduce((a, b) => a + b, 0);
  const { arrivals } = profile;
  const jobs: SimJob[] = [];
  profile.kinds.forEach((kind, k) => {
    const job = definitionOf(kind, releaseLabel);
    for (let i = 0; i < counts[k]; i++) {
      let arrival: number;
      if (kind.arrival === 'hourly') arrival = (i % 24) * 3600 + Math.min(3599, random.exponential(arrivals.hourlySpreadSeconds));
      else if (kind.arrival === 'nightly') arrival = arrivals.nightlyStartHour * 3600 + random.uniform(0, arrivals.nightlySpikeMinutes * 60);
      else arrival = random.uniform(arrivals.businessHours.from * 3600, arrivals.businessHours.to * 3600);
      const mib = Math.min(kind.inputMiB.max, random.logNormal(kind.inputMiB.median, kind.inputMiB.sigma));
      const throughput = kind.throughputMiBpsPerUnit * Math.exp(kind.throughputSigma * random.normal());
      jobs.push({ id: `${kind.name}-${String(i).padStart(5, '0')}`, kind: kind.name, arrival: Math.floor(arrival), inputBytes: mib * MiB, throughput, job });
    }
  });
  const total = jobs.reduce((sum, j) => sum + j.inputBytes, 0);
  const scale = (profile.totalInputTiB * 1024 ** 4) / total;
  for (const j of jobs) j.inputBytes = Math.max(1, Math.round(j.inputBytes * scale));
  return jobs.sort((a, b) => a.arrival - b.arrival || (a.id < b.id ? -1 : 1));
}

/** A RunRecord line of the runs table, as far as the planner reads it. */
const HistoryLine = z.object({
  job: nonEmptyString,
  finishedAt: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 time'),
  runId: nonEmptyString,
  durationSeconds: between(0, Infinity),
  inputBytes: between(0, Infinity).nullable(),
  capacityUnits: between(1, Infinity).nullable().optional(),
  stepSeconds: between(0, Infinity).nullable().optional(),
});

/**
 * Jobs from a history export: each run arrives when it started (finishedAt − durationSeconds), on the time
 * of day it had; its job definition comes from config/jobs.json when the job is there, else a normal-priority
 * 60-minute one. Throughput is the run's own when its step time is known, else sizing's default.
 */
export function readHistory(file: string, defaultThroughput: number): SimJob[] {
  const catalog = new Map(loadJobs().map((j) => [j.name, j]));
  const releaseLabel = loadJobs()[0].releaseLabel;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const jobs = lines.map((line, i) => {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${i + 1}: not JSON; a history export has one runs-table item (RunRecord) per line`);
    }
    const run = parseConfig(`${file}:${i + 1}`, HistoryLine, raw);
    const started = Date.parse(run.finishedAt) - run.durationSeconds * 1000;
    const job =
      catalog.get(run.job) ??
      definitionOf(
        {
          name: run.job
            .toLowerCase()
            .replace(/[^a-z0-9-]/g, '-')
            .slice(0, 63),
          priority: 'normal',
          slaMinutes: 60,
          maxAttempts: 3,
        },
        releaseLabel,
      );
    const inputBytes = run.inputBytes ?? 0;
    const work = run.stepSeconds && run.capacityUnits ? Math.max(30, run.stepSeconds - 120) * run.capacityUnits : 0;
    return {
      id: `${run.runId}#${i}`,
      kind: job.name,
      arrival: Math.floor((started % 86_400_000) / 1000),
      inputBytes,
      throughput: work > 0 && inputBytes > 0 ? inputBytes / MiB / work : defaultThroughput,
      job,
    };
  });
  if (jobs.length === 0) throw new Error(`${file}: no runs; export the runs table as JSON lines`);
  return jobs.sort((a, b) => a.arrival - b.arrival || (a.id < b.id ? -1 : 1));
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
}
