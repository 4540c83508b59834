/**
 * A seedable random source (mulberry32) so that throttling faults and resource ids are reproducible in
 * tests: the same seed gives the same ids and the same throttled calls.
 */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
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
