/**
 * Local S3: `<root>/<bucket>/<key>` as plain files, so local Spark, the crawler and a person with `ls` all
 * see the same objects. Keys map to paths segment by segment; a key that cannot be a file (a `..` or empty
 * segment) is refused rather than written somewhere else.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';

export interface LocalObject {
  key: string;
  path: string;
  size: number;
  mtimeMs: number;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export class InvalidKeyError extends Error {}

export class LocalS3 {
  private readonly etags = new Map<string, { size: number; mtimeMs: number; etag: string }>();

  constructor(readonly root: string) {}

  static isValidBucketName(bucket: string): boolean {
    return BUCKET_NAME.test(bucket) && !bucket.includes('..');
  }

  bucketPath(bucket: string): string {
    if (!LocalS3.isValidBucketName(bucket)) throw new InvalidKeyError(`invalid bucket name: ${bucket}`);
    return path.join(this.root, bucket);
  }

  objectPath(bucket: string, key: string): string {
    const segments = key.split('/');
    if (segments[segments.length - 1] === '') segments.pop();
    if (key.length === 0 || segments.some((s) => s === '' || s === '.' || s === '..')) {
      throw new InvalidKeyError(`key cannot be stored as a local file: ${JSON.stringify(key)}`);
    }
    return path.join(this.bucketPath(bucket), ...segments);
  }

  /** Maps `s3://bucket/key` (also s3a://, s3n://) to its local path. */
  uriToPath(uri: string): string {
    const match = /^s3[an]?:\/\/([^/]+)\/?(.*)$/.exec(uri);
    if (!match) throw new InvalidKeyError(`not an s3 uri: ${uri}`);
    const [, bucket, key] = match;
    return key ? this.objectPath(bucket, key) : this.bucketPath(bucket);
  }

  async bucketExists(bucket: string): Promise<boolean> {
    try {
      return (await fs.stat(this.bucketPath(bucket))).isDirectory();
    } catch {
      return false;
    }
  }

  async createBucket(bucket: string): Promise<void> {
    await fs.mkdir(this.bucketPath(bucket), { recursive: true });
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
    const file = this.objectPath(bucket, key);
    if (key.endsWith('/')) return null;
    try {
      const stat = await fs.stat(file);
      return stat.isFile() ? { key, path: file, size: stat.size, mtimeMs: stat.mtimeMs } : null;
    } catch {
      return null;
    }
  }

  /** Every object under `prefix`, sorted by key as S3 lists them. */
  async list(bucket: string, prefix = ''): Promise<LocalObject[]> {
    const base = this.bucketPath(bucket);
    // Walk only from the deepest directory the prefix names, not the whole bucket.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    if (dirPart.split('/').some((s) => s === '..')) return [];
    const start = dirPart ? path.join(base, ...dirPart.split('/').filter(Boolean)) : base;
    const out: LocalObject[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      let entries;
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
    await walk(start, dirPart ? `${dirPart.replace(/\/+$/, '')}/` : '');
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The object's ETag (md5 hex, or the multipart form when it was uploaded in parts), cached by size and mtime. */
  async etag(object: { path: string; size: number; mtimeMs: number }): Promise<string> {
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

  /** Records an ETag computed while writing (saves re-reading the file, and keeps multipart ETags). */
  rememberEtag(file: string, stat: Stats, etag: string): void {
    this.etags.set(file, { size: stat.size, mtimeMs: stat.mtimeMs, etag });
  }
}
