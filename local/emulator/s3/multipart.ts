/**
 * S3 multipart upload: uploads and their parts live in `<stateDir>/s3-multipart-uploads/<uploadId>/`
 * (target.json, part-N and part-N.json with its ETag and size) until CompleteMultipartUpload checks the part
 * list as S3 does and concatenates the parts into the object.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { writeBody } from './body';
import { hashing, header, malformedXml, readBody, S3Error, sendXml, tag, XMLNS, xmlUnescape } from './http';
import { checksumHeaders, checkWriteConditions, metadataFromHeaders, metadataOf, resolveCopySource, unquote } from './objectHeaders';
import type { LocalS3, ObjectMetadata } from './store';

/** S3's smallest part, except the last (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
const MIN_PART_BYTES = 5 * 1024 * 1024;

interface UploadTarget extends ObjectMetadata {
  bucket: string;
  key: string;
  initiated: string;
}

interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: string;
}

export class MultipartUploads {
  constructor(
    private readonly store: LocalS3,
    private readonly uploadsDir: string,
  ) {}

  async create(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, requestId: string): Promise<void> {
    req.resume();
    const uploadId = randomUUID().replace(/-/g, '');
    const target: UploadTarget = { bucket, key, initiated: new Date().toISOString(), ...metadataFromHeaders(req.headers) };
    await fs.mkdir(path.join(this.uploadsDir, uploadId), { recursive: true });
    await fs.writeFile(path.join(this.uploadsDir, uploadId, 'target.json'), JSON.stringify(target));
    sendXml(
      res,
      requestId,
      `<InitiateMultipartUploadResult xmlns="${XMLNS}">${tag('Bucket', bucket)}${tag('Key', key)}${tag('UploadId', uploadId)}</InitiateMultipartUploadResult>`,
    );
  }

  private async uploadDir(uploadId: string, bucket: string, key: string): Promise<string> {
    const dir = path.join(this.uploadsDir, path.basename(uploadId));
    const target = await this.uploadTarget(dir);
    if (!target || target.bucket !== bucket || target.key !== key) {
      throw new S3Error(
        'NoSuchUpload',
        'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
        404,
        { UploadId: uploadId },
      );
    }
    return dir;
  }

  private async uploadTarget(dir: string): Promise<UploadTarget | null> {
    try {
      return JSON.parse(await fs.readFile(path.join(dir, 'target.json'), 'utf8')) as UploadTarget;
    } catch {
      return null;
    }
  }

  private static partNumber(q: URLSearchParams): number {
    const partNumber = Number(q.get('partNumber'));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
      throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 400, {
        ArgumentName: 'partNumber',
        ArgumentValue: q.get('partNumber') ?? '',
      });
    }
    return partNumber;
  }

  private async savePart(dir: string, partNumber: number, tmp: string, etag: string): Promise<UploadedPart> {
    await fs.rename(tmp, path.join(dir, `part-${partNumber}`));
    const stat = await fs.stat(path.join(dir, `part-${partNumber}`));
    const part: UploadedPart = { partNumber, etag, size: stat.size, lastModified: stat.mtime.toISOString() };
    await fs.writeFile(path.join(dir, `part-${partNumber}.json`), JSON.stringify(part));
    return part;
  }

  async uploadPart(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, q: URLSearchParams, requestId: string): Promise<void> {
    const dir = await this.uploadDir(q.get('uploadId') ?? '', bucket, key);
    const partNumber = MultipartUploads.partNumber(q);
    const body = await writeBody(req, this.uploadsDir);
    await this.savePart(dir, partNumber, body.tmp, body.etag);
    res.writeHead(200, { etag: `"${body.etag}"`, ...checksumHeaders(body.checksum), 'x-amz-request-id': requestId });
    res.end();
  }

  /** UploadPartCopy: the part is a byte range (`x-amz-copy-source-range: bytes=first-last`) of an existing object. */
  async uploadPartCopy(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, q: URLSearchParams, requestId: string): Promise<void> {
    req.resume();
    const dir = await this.uploadDir(q.get('uploadId') ?? '', bucket, key);
    const partNumber = MultipartUploads.partNumber(q);
    const source = await resolveCopySource(this.store, req.headers);
    const rangeHeader = header(req.headers, 'x-amz-copy-source-range');
    let start = 0;
    let end = source.object.size - 1;
    if (rangeHeader !== undefined) {
      const range = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
      if (!range || Number(range[1]) > Number(range[2])) {
        throw new S3Error(
          'InvalidArgument',
          'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
          400,
          { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: rangeHeader },
        );
      }
      [start, end] = [Number(range[1]), Number(range[2])];
      if (end >= source.object.size) {
        throw new S3Error('InvalidArgument', `Range specified is not valid for source object of size: ${source.object.size}`, 400, {
          ArgumentName: 'x-amz-copy-source-range',
          ArgumentValue: rangeHeader,
        });
      }
    }
    await fs.mkdir(this.uploadsDir, { recursive: true });
    const tmp = path.join(this.uploadsDir, `part-copy-${randomUUID()}`);
    const md5 = createHash('md5');
    if (source.object.size > 0) {
      await pipeline(createReadStream(source.object.path, { start, end }), hashing([md5]), createWriteStream(tmp));
    } else {
      await fs.writeFile(tmp, '');
    }
    const part = await this.savePart(dir, partNumber, tmp, md5.digest('hex'));
    sendXml(res, requestId, `<CopyPartResult xmlns="${XMLNS}">${tag('LastModified', part.lastModified)}${tag('ETag', `"${part.etag}"`)}</CopyPartResult>`);
  }

  private async uploadedParts(dir: string): Promise<UploadedPart[]> {
    const names = (await fs.readdir(dir)).filter((n) => /^part-\d+\.json$/.test(n));
    const parts = await Promise.all(names.map(async (n) => JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as UploadedPart));
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async listParts(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, q: URLSearchParams, requestId: string): Promise<void> {
    req.resume();
    const uploadId = q.get('uploadId') ?? '';
    const dir = await this.uploadDir(uploadId, bucket, key);
    const marker = Number(q.get('part-number-marker') ?? 0);
    const max = Math.min(Number(q.get('max-parts') ?? 1000), 1000);
    const after = (await this.uploadedParts(dir)).filter((p) => p.partNumber > marker);
    const page = after.slice(0, max);
    const truncated = after.length > page.length;
    const parts = page
      .map((p) => `<Part>${tag('PartNumber', p.partNumber)}${tag('LastModified', p.lastModified)}${tag('ETag', `"${p.etag}"`)}${tag('Size', p.size)}</Part>`)
      .join('');
    sendXml(
      res,
      requestId,
      `<ListPartsResult xmlns="${XMLNS}">${tag('Bucket', bucket)}${tag('Key', key)}${tag('UploadId', uploadId)}${tag('PartNumberMarker', marker)}${tag('NextPartNumberMarker', page.at(-1)?.partNumber ?? marker)}${tag('MaxParts', max)}${tag('IsTruncated', truncated)}${parts}<StorageClass>STANDARD</StorageClass></ListPartsResult>`,
    );
  }

  async listUploads(res: ServerResponse, bucket: string, q: URLSearchParams, requestId: string): Promise<void> {
    const prefix = q.get('prefix') ?? '';
    let names: string[] = [];
    try {
      names = await fs.readdir(this.uploadsDir);
    } catch {
      // no upload was ever started
    }
    const uploads: Array<UploadTarget & { uploadId: string }> = [];
    for (const uploadId of names) {
      const target = await this.uploadTarget(path.join(this.uploadsDir, uploadId));
      if (target && target.bucket === bucket && target.key.startsWith(prefix)) uploads.push({ ...target, uploadId });
    }
    uploads.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated < b.initiated ? -1 : 1));
    const body = uploads
      .map((u) => `<Upload>${tag('Key', u.key)}${tag('UploadId', u.uploadId)}${tag('Initiated', u.initiated)}<StorageClass>STANDARD</StorageClass></Upload>`)
      .join('');
    sendXml(
      res,
      requestId,
      `<ListMultipartUploadsResult xmlns="${XMLNS}">${tag('Bucket', bucket)}${tag('Prefix', prefix)}${tag('MaxUploads', 1000)}<IsTruncated>false</IsTruncated>${body}</ListMultipartUploadsResult>`,
    );
  }

  /**
   * Checks the part list as S3 does (ascending part numbers, each part uploaded with that ETag, every part
   * but the last at least 5 MiB), then concatenates the parts into the object.
   */
  async complete(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, uploadId: string, requestId: string): Promise<void> {
    const dir = await this.uploadDir(uploadId, bucket, key);
    const body = await readBody(req);
    const requested = [...body.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
      partNumber: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1])?.[1]),
      etag: xmlUnescape(/<ETag>([\s\S]*?)<\/ETag>/.exec(m[1])?.[1] ?? ''),
    }));
    if (requested.length === 0 || requested.some((p) => !Number.isInteger(p.partNumber))) throw malformedXml();
    for (let i = 1; i < requested.length; i += 1) {
      if (requested[i].partNumber <= requested[i - 1].partNumber) {
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.', 400, {
          UploadId: uploadId,
        });
      }
    }
    const uploaded = new Map((await this.uploadedParts(dir)).map((p) => [p.partNumber, p]));
    const parts = requested.map((p) => {
      const part = uploaded.get(p.partNumber);
      if (!part || unquote(p.etag) !== part.etag) {
        throw new S3Error(
          'InvalidPart',
          "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
          400,
          { UploadId: uploadId, PartNumber: p.partNumber, ETag: p.etag },
        );
      }
      return part;
    });
    parts.slice(0, -1).forEach((part) => {
      if (part.size < MIN_PART_BYTES) {
        throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', 400, {
          ProposedSize: part.size,
          MinSizeAllowed: MIN_PART_BYTES,
          PartNumber: part.partNumber,
          ETag: part.etag,
        });
      }
    });
    await checkWriteConditions(this.store, req.headers, bucket, key);
    const target = await this.uploadTarget(dir);
    if (!target) throw new Error(`upload ${uploadId}: its target.json is gone`);
    const tmp = path.join(this.uploadsDir, `body-${uploadId}`);
    const out = createWriteStream(tmp);
    for (const part of parts) await pipeline(createReadStream(path.join(dir, `part-${part.partNumber}`)), out, { end: false });
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    // S3's multipart ETag: md5 of the parts' binary md5s, then "-<number of parts>".
    const etag = `${createHash('md5')
      .update(Buffer.concat(parts.map((p) => Buffer.from(p.etag, 'hex'))))
      .digest('hex')}-${parts.length}`;
    await this.store.put(bucket, key, tmp, { ...metadataOf(target), etag, partsCount: parts.length });
    await fs.rm(dir, { recursive: true, force: true });
    sendXml(
      res,
      requestId,
      `<CompleteMultipartUploadResult xmlns="${XMLNS}">${tag('Location', `/${bucket}/${key}`)}${tag('Bucket', bucket)}${tag('Key', key)}${tag('ETag', `"${etag}"`)}</CompleteMultipartUploadResult>`,
    );
  }

  async abort(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, uploadId: string, requestId: string): Promise<void> {
    req.resume();
    await fs.rm(await this.uploadDir(uploadId, bucket, key), { recursive: true, force: true });
    res.writeHead(204, { 'x-amz-request-id': requestId });
    res.end();
  }
}
