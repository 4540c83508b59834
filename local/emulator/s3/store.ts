/**
 * Local S3: S3's flat key space kept as plain files, so local Spark, the crawler and a person with `ls` see
 * the same objects.
 *
 * How a key maps to a file:
 * - An ordinary key is the file `<root>/<bucket>/<key>`, its `/`-separated segments directories.
 * - A key that cannot be such a file lives in the bucket's side store, `<root>/.emrflow/<bucket>/<sha256(key)>.data`:
 *   a folder marker (`k/`), a key with an empty, `.` or `..` segment (`a//b`), a segment longer than a file
 *   name may be (255 bytes), and the one of `x` and `x/y` that would need `x` to be both a file and a
 *   directory (`x` moves to the side store when `x/y` arrives; `x` written while `x/` holds objects goes
 *   there directly).
 * - Every object written through S3 also gets `<root>/.emrflow/<bucket>/<sha256(key)>.json`: its key, ETag,
 *   checksum and the metadata S3 returns (Content-Type, x-amz-meta-*, …). A plain file rewritten by
 *   something else (Spark) no longer matches the size and mtime recorded there, so its metadata is dropped
 *   and its ETag recomputed, as a new object.
 * A listing merges the plain tree and the side store, so it is S3's listing; a prefix read by Spark or the
 * crawler is the plain tree, which holds every ordinary key.
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Dirent, promises as fs, readdirSync, readFileSync, type Stats } from 'node:fs';
import path from 'node:path';

export interface LocalObject {
  key: string;
  path: string;
  size: number;
  mtimeMs: number;
}

export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'SHA1' | 'SHA256';

/** What S3 stores beside an object's bytes and returns on GET/HEAD. */
export interface ObjectMetadata {
  contentType?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  contentDisposition?: string;
  cacheControl?: string;
  expires?: string;
  /** x-amz-meta-* without the prefix, names lower case as S3 returns them. */
  userMetadata: Record<string, string>;
}

export interface StoredObjectMeta extends ObjectMetadata {
  key: string;
  /** true: the bytes are in the side store, not at the plain path. */
  side: boolean;
  size: number;
  mtimeMs: number;
  etag?: string;
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
  partsCount?: number;
}

/** The largest key S3 accepts, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** The longest file name (one path segment) Linux and macOS file systems take. */
const MAX_SEGMENT_BYTES = 255;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const SIDE_DIR = '.emrflow';

/** Local: the store refusing a bucket or key; the S3 service answers it as InvalidArgument (400). */
export class InvalidKeyError extends Error {}

const keyHash = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

/** The key's path segments when it can be an ordinary file, else null. */
function plainSegments(key: string): string[] | null {
  if (key.endsWith('/')) return null;
  const segments = key.split('/');
  const ordinary = segments.every((s) => s !== '' && s !== '.' && s !== '..' && !s.includes('\0') && Buffer.byteLength(s) <= MAX_SEGMENT_BYTES);
  return ordinary ? segments : null;
}

async function statOrNull(file: string): Promise<Stats | null> {
  try {
    return await fs.stat(file);
  } catch {
    return null;
  }
}

export class LocalS3 {
  private readonly etags = new Map<string, { size: number; mtimeMs: number; etag: string }>();
  /** Per bucket: the metadata of every object written through S3, by key (loaded from disk on first use). */
  private readonly metas = new Map<string, Map<string, StoredObjectMeta>>();

  /** Told of every object written through S3 (PUT, copy, completed multipart upload): S3's "Object Created". */
  onObjectCreated: ((object: { bucket: string; key: string; size: number; etag: string }) => void) | null = null;

  constructor(readonly root: string) {}

  static isValidBucketName(bucket: string): boolean {
    return BUCKET_NAME.test(bucket) && !bucket.includes('..');
  }

  bucketPath(bucket: string): string {
    if (!LocalS3.isValidBucketName(bucket)) throw new InvalidKeyError(`invalid bucket name: ${bucket}`);
    return path.join(this.root, bucket);
  }

  private sideDir(bucket: string): string {
    return path.join(this.root, SIDE_DIR, bucket);
  }

  private sideData(bucket: string, key: string): string {
    return path.join(this.sideDir(bucket), `${keyHash(key)}.data`);
  }

  private metaFile(bucket: string, key: string): string {
    return path.join(this.sideDir(bucket), `${keyHash(key)}.json`);
  }

  private bucketMetas(bucket: string): Map<string, StoredObjectMeta> {
    let metas = this.metas.get(bucket);
    if (metas) return metas;
    metas = new Map();
    let names: string[] = [];
    try {
      names = readdirSync(this.sideDir(bucket)).filter((n) => n.endsWith('.json'));
    } catch {
      // no side directory yet: nothing was written through S3
    }
    for (const name of names) {
      try {
        const meta = JSON.parse(readFileSync(path.join(this.sideDir(bucket), name), 'utf8')) as StoredObjectMeta;
        metas.set(meta.key, meta);
      } catch {
        // a metadata file cut short by a crash: the object reads as one without metadata
      }
    }
    this.metas.set(bucket, metas);
    return metas;
  }

  /** Where the key's bytes are (or would be written), given what is stored now. */
  private locate(bucket: string, key: string): string | null {
    const meta = this.bucketMetas(bucket).get(key);
    if (meta?.side) return this.sideData(bucket, key);
    const segments = plainSegments(key);
    return segments ? path.join(this.bucketPath(bucket), ...segments) : null;
  }

  /**
   * Maps `s3://bucket/key` (also s3a://, s3n://) to its local path: the file of an object, or the directory
   * of a prefix (`s3://bucket/out/`) that Spark reads and writes as plain files.
   */
  uriToPath(uri: string): string {
    const match = /^s3[an]?:\/\/([^/]+)\/?(.*)$/.exec(uri);
    if (!match) throw new InvalidKeyError(`not an s3 uri: ${uri}`);
    const [, bucket, key] = match;
    if (!key) return this.bucketPath(bucket);
    // A prefix (`out/`) is the plain directory even when a folder marker of that name exists.
    const located = key.endsWith('/') ? null : this.locate(bucket, key);
    if (located) return located;
    const prefix = plainSegments(key.replace(/\/+$/, ''));
    if (!prefix) throw new InvalidKeyError(`key cannot be a local path: ${JSON.stringify(key)}`);
    return path.join(this.bucketPath(bucket), ...prefix);
  }

  async bucketExists(bucket: string): Promise<boolean> {
    if (!LocalS3.isValidBucketName(bucket)) return false;
    return (await statOrNull(this.bucketPath(bucket)))?.isDirectory() ?? false;
  }

  async createBucket(bucket: string): Promise<void> {
    await fs.mkdir(this.bucketPath(bucket), { recursive: true });
  }

  async deleteBucket(bucket: string): Promise<void> {
    await fs.rm(this.bucketPath(bucket), { recursive: true, force: true });
    await fs.rm(this.sideDir(bucket), { recursive: true, force: true });
    this.metas.delete(bucket);
  }

  async listBuckets(): Promise<Array<{ name: string; created: Date }>> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.root);
    } catch {
      return [];
    }
    const buckets = [];
    for (const name of entries.sort()) {
      if (!LocalS3.isValidBucketName(name)) continue;
      const stat = await fs.stat(path.join(this.root, name));
      if (stat.isDirectory()) buckets.push({ name, created: stat.birthtime });
    }
    return buckets;
  }

  async stat(bucket: string, key: string): Promise<LocalObject | null> {
    const file = this.locate(bucket, key);
    if (!file) return null;
    const stat = await statOrNull(file);
    return stat?.isFile() ? { key, path: file, size: stat.size, mtimeMs: stat.mtimeMs } : null;
  }

  /** The metadata stored with the object, or null when the file changed since (or never had any). */
  metadata(bucket: string, object: LocalObject): StoredObjectMeta | null {
    const meta = this.bucketMetas(bucket).get(object.key);
    if (!meta) return null;
    if (meta.side) return meta;
    return meta.size === object.size && meta.mtimeMs === object.mtimeMs ? meta : null;
  }

  /** Every object under `prefix`, sorted by key (UTF-8 byte order, as S3 lists them). */
  async list(bucket: string, prefix = ''): Promise<LocalObject[]> {
    const base = this.bucketPath(bucket);
    const out: LocalObject[] = [];
    // Walk only from the deepest directory the prefix names, not the whole bucket.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const dirSegments = dirPart ? plainSegments(dirPart) : [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const key = `${keyPrefix}${entry.name}`;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) await walk(full, `${key}/`);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          const stat = await fs.stat(full);
          out.push({ key, path: full, size: stat.size, mtimeMs: stat.mtimeMs });
        }
      }
    };
    if (dirSegments) await walk(dirPart ? path.join(base, ...dirSegments) : base, dirPart ? `${dirPart}/` : '');
    for (const meta of this.bucketMetas(bucket).values()) {
      if (!meta.side || !meta.key.startsWith(prefix)) continue;
      const file = this.sideData(bucket, meta.key);
      const stat = await statOrNull(file);
      if (stat) out.push({ key: meta.key, path: file, size: stat.size, mtimeMs: stat.mtimeMs });
    }
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  /** The object's ETag (md5 hex, or the multipart form when it was uploaded in parts), cached by size and mtime. */
  async etag(bucket: string, object: LocalObject): Promise<string> {
    const stored = this.metadata(bucket, object)?.etag;
    if (stored) return stored;
    const cached = this.etags.get(object.path);
    if (cached && cached.size === object.size && cached.mtimeMs === object.mtimeMs) return cached.etag;
    const hash = createHash('md5');
    await new Promise<void>((resolve, reject) => {
      createReadStream(object.path)
        .on('data', (chunk) => hash.update(chunk))
        .on('end', resolve)
        .on('error', reject);
    });
    const etag = hash.digest('hex');
    this.etags.set(object.path, { size: object.size, mtimeMs: object.mtimeMs, etag });
    return etag;
  }

  /**
   * Moves a finished body (`tmp`, written outside the bucket) into place as `key`, with its metadata: a plain
   * file when the key can be one, else the side store. A plain file in the way of the key's directories
   * (`x` when `x/y` arrives) moves to the side store first.
   */
  async put(bucket: string, key: string, tmp: string, meta: Omit<StoredObjectMeta, 'key' | 'side' | 'size' | 'mtimeMs'>): Promise<LocalObject> {
    const base = this.bucketPath(bucket);
    const segments = plainSegments(key);
    let target: string | null = null;
    if (segments) {
      let dir = base;
      for (let i = 0; i < segments.length - 1; i += 1) {
        dir = path.join(dir, segments[i]);
        const stat = await statOrNull(dir);
        if (!stat) break;
        if (stat.isFile()) await this.moveToSide(bucket, segments.slice(0, i + 1).join('/'), dir);
      }
      const plain = path.join(base, ...segments);
      if (!(await statOrNull(plain))?.isDirectory()) target = plain;
    }
    const metas = this.bucketMetas(bucket);
    const previous = metas.get(key);
    if (target && previous?.side) await fs.rm(this.sideData(bucket, key), { force: true });
    target ??= this.sideData(bucket, key);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(tmp, target);
    const stat = await fs.stat(target);
    const stored: StoredObjectMeta = { ...meta, key, side: target === this.sideData(bucket, key), size: stat.size, mtimeMs: stat.mtimeMs };
    await this.writeMeta(bucket, stored);
    this.onObjectCreated?.({ bucket, key, size: stat.size, etag: meta.etag ?? '' });
    return { key, path: target, size: stat.size, mtimeMs: stat.mtimeMs };
  }

  private async moveToSide(bucket: string, key: string, file: string): Promise<void> {
    const stat = await fs.stat(file);
    const meta = this.metadata(bucket, { key, path: file, size: stat.size, mtimeMs: stat.mtimeMs }) ?? { key, userMetadata: {} };
    await fs.mkdir(this.sideDir(bucket), { recursive: true });
    await fs.rename(file, this.sideData(bucket, key));
    await this.writeMeta(bucket, { ...meta, key, side: true, size: stat.size, mtimeMs: stat.mtimeMs });
  }

  private async writeMeta(bucket: string, meta: StoredObjectMeta): Promise<void> {
    await fs.mkdir(this.sideDir(bucket), { recursive: true });
    const file = this.metaFile(bucket, meta.key);
    await fs.writeFile(`${file}.tmp`, JSON.stringify(meta));
    await fs.rename(`${file}.tmp`, file);
    this.bucketMetas(bucket).set(meta.key, meta);
  }

  /** Deletes the key (no error when it does not exist, as S3); empty directories left behind go too. */
  async delete(bucket: string, key: string): Promise<void> {
    const metas = this.bucketMetas(bucket);
    const meta = metas.get(key);
    if (meta) {
      metas.delete(key);
      await fs.rm(this.metaFile(bucket, key), { force: true });
    }
    if (meta?.side) {
      await fs.rm(this.sideData(bucket, key), { force: true });
      return;
    }
    const segments = plainSegments(key);
    if (!segments) return;
    const file = path.join(this.bucketPath(bucket), ...segments);
    if (!(await statOrNull(file))?.isFile()) return;
    await fs.rm(file, { force: true });
    await this.pruneEmptyDirs(path.dirname(file), this.bucketPath(bucket));
  }

  /** S3 has no directories: once the last object under a "folder" goes, Spark should not find the folder either. */
  private async pruneEmptyDirs(dir: string, stopAt: string): Promise<void> {
    let current = dir;
    while (current.startsWith(stopAt) && current !== stopAt) {
      try {
        await fs.rmdir(current);
      } catch {
        return;
      }
      current = path.dirname(current);
    }
  }
}
