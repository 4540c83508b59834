/**
 * The one seeded random source of the local tools (mulberry32: small, fast, good enough for sampling): the
 * emulator's throttling faults and resource ids, and the capacity planner's workload and simulated day. The
 * same seed gives the same ids, the same throttled calls and the same planner figures.
 */
export class Random {
  private state: number;

  constructor(seed: number) {
    // mulberry32 accepts 0, but a fixed odd state keeps `--seed 0` as well mixed as any other seed.
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  normal(): number {
    const u = Math.max(1e-12, this.next());
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Log-normal with the given median and log-space sigma: a heavy right tail. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  exponential(mean: number): number {
    return -mean * Math.log(Math.max(1e-12, 1 - this.next()));
  }

  /** A child stream, so adding draws to one part of a model does not shift every other part. */
  fork(salt: number): Random {
    return new Random((Math.imul(this.state ^ salt, 2654435761) + salt) >>> 0);
  }

  /** `length` characters drawn from `alphabet`. */
  chars(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i += 1) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }
}

const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const HEX = '0123456789abcdef';

/** Ids shaped like the real ones: j-…, s-…, if-…, ci-…, i-…. */
export class IdFactory {
  constructor(private readonly random: Random) {}

  cluster(): string {
    return `j-${this.random.chars(UPPER_ALNUM, 13)}`;
  }
  step(): string {
    return `s-${this.random.chars(UPPER_ALNUM, 13)}`;
  }
  instanceFleet(): string {
    return `if-${this.random.chars(UPPER_ALNUM, 13)}`;
  }
  instanceGroup(): string {
    return `ig-${this.random.chars(UPPER_ALNUM, 13)}`;
  }
  clusterInstance(): string {
    return `ci-${this.random.chars(UPPER_ALNUM, 13)}`;
  }
  ec2Instance(): string {
    return `i-${this.random.chars(HEX, 17)}`;
  }
  requestId(): string {
    const hex = (n: number) => this.random.chars(HEX, n);
    return `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
  }
  /** EMR Serverless application and job run ids: 16 of [0-9a-z], as AWS gives them (`00f…`). */
  serverlessId(): string {
    return `00f${this.random.chars('0123456789abcdefghijklmnopqrstuvwxyz', 13)}`;
  }
  application(): string {
    return `application_${Date.now()}_${this.random.chars('0123456789', 4)}`;
  }
}
