/**
 * The object checksums S3 verifies on upload (`x-amz-checksum-<algorithm>`, as a header or an aws-chunked
 * trailer), computed while the body streams. CRC64NVME is not computed here: an upload that asks for it is
 * answered NotImplemented rather than stored unverified.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { ChecksumAlgorithm } from './store';

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'SHA1', 'SHA256'];

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), which node:zlib does not offer. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32c(data: Uint8Array, previous: number): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i += 1) crc = CRC32C_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

export interface RunningChecksum {
  update(chunk: Buffer): void;
  /** The base64 value S3 expects in `x-amz-checksum-<algorithm>`. */
  digest(): string;
}

export function runningChecksum(algorithm: ChecksumAlgorithm): RunningChecksum {
  if (algorithm === 'SHA1' || algorithm === 'SHA256') {
    const hash = createHash(algorithm === 'SHA1' ? 'sha1' : 'sha256');
    return { update: (chunk) => hash.update(chunk), digest: () => hash.digest('base64') };
  }
  let value = 0;
  const step = algorithm === 'CRC32' ? crc32 : crc32c;
  return {
    update: (chunk) => {
      value = step(chunk, value);
    },
    digest: () => {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(value >>> 0);
      return out.toString('base64');
    },
  };
}
