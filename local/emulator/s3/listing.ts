/** S3's listings on the local store: ListBuckets, ListObjects and ListObjectsV2. */
import type { ServerResponse } from 'node:http';
import { S3Error, sendXml, tag, XMLNS } from './http';
import type { LocalObject, LocalS3 } from './store';

/** ListBuckets: this region's buckets by name, paged by a continuation token. */
export async function listBuckets(store: LocalS3, region: string, res: ServerResponse, q: URLSearchParams, requestId: string): Promise<void> {
  const prefix = q.get('prefix') ?? '';
  const max = Math.min(Number(q.get('max-buckets') ?? 10000), 10000);
  if (!Number.isInteger(max) || max < 1) throw new S3Error('InvalidArgument', 'max-buckets must be an integer between 1 and 10000', 400);
  const after = q.has('continuation-token') ? Buffer.from(q.get('continuation-token') ?? '', 'base64url').toString('utf8') : '';
  const regionFilter = q.get('bucket-region');
  const all = (await store.listBuckets()).filter((b) => b.name.startsWith(prefix) && b.name > after && (!regionFilter || regionFilter === region));
  const page = all.slice(0, max);
  const buckets = page
    .map((b) => `<Bucket>${tag('Name', b.name)}${tag('CreationDate', b.created.toISOString())}${tag('BucketRegion', region)}</Bucket>`)
    .join('');
  const next = all.length > page.length ? tag('ContinuationToken', Buffer.from(page[page.length - 1].name).toString('base64url')) : '';
  sendXml(
    res,
    requestId,
    `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner><ID>emrflow-local</ID><DisplayName>emrflow</DisplayName></Owner><Buckets>${buckets}</Buckets>${next}${q.has('prefix') ? tag('Prefix', prefix) : ''}</ListAllMyBucketsResult>`,
  );
}

/** ListObjects (v1, by marker) and ListObjectsV2 (by continuation token): keys and common prefixes in key order. */
export async function listObjects(store: LocalS3, res: ServerResponse, bucket: string, q: URLSearchParams, v2: boolean, requestId: string): Promise<void> {
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeysParam = q.get('max-keys');
  const maxKeys = maxKeysParam === null ? 1000 : Math.min(1000, Number(maxKeysParam));
  if (!Number.isInteger(maxKeys) || maxKeys < 0)
    throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', 400, {
      ArgumentName: 'max-keys',
      ArgumentValue: maxKeysParam ?? '',
    });
  const encodingType = q.get('encoding-type');
  if (encodingType !== null && encodingType !== 'url')
    throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', 400, { ArgumentName: 'encoding-type', ArgumentValue: encodingType });
  const urlEncode = encodingType === 'url';
  const enc = (value: string) => (urlEncode ? encodeURIComponent(value).replace(/%2F/g, '/') : value);
  const token = q.get('continuation-token');
  const startAfter = v2 ? (token ? Buffer.from(token, 'base64url').toString('utf8') : (q.get('start-after') ?? '')) : (q.get('marker') ?? '');
  const fetchOwner = !v2 || q.get('fetch-owner') === 'true';

  const objects = await store.list(bucket, prefix);
  // Merge objects and common prefixes in key order, then page; both count toward max-keys.
  const entries: Array<{ key: string; object?: LocalObject }> = [];
  const seenPrefixes = new Set<string>();
  for (const object of objects) {
    if (delimiter) {
      const at = object.key.indexOf(delimiter, prefix.length);
      if (at >= 0) {
        const common = object.key.slice(0, at + delimiter.length);
        if (!seenPrefixes.has(common)) {
          seenPrefixes.add(common);
          entries.push({ key: common });
        }
        continue;
      }
    }
    entries.push({ key: object.key, object });
  }
  const after = Buffer.from(startAfter);
  const remaining = entries.filter((e) => Buffer.compare(Buffer.from(e.key), after) > 0);
  const page = remaining.slice(0, maxKeys);
  const truncated = remaining.length > page.length;
  const last = page[page.length - 1]?.key;

  let contents = '';
  let commonPrefixes = '';
  const owner = '<Owner><ID>emrflow-local</ID><DisplayName>emrflow</DisplayName></Owner>';
  for (const entry of page) {
    if (entry.object) {
      const etag = await store.etag(bucket, entry.object);
      contents += `<Contents>${tag('Key', enc(entry.key))}${tag('LastModified', new Date(entry.object.mtimeMs).toISOString())}${tag('ETag', `"${etag}"`)}${tag('Size', entry.object.size)}${fetchOwner ? owner : ''}<StorageClass>STANDARD</StorageClass></Contents>`;
    } else {
      commonPrefixes += `<CommonPrefixes>${tag('Prefix', enc(entry.key))}</CommonPrefixes>`;
    }
  }
  const paging = v2
    ? `${tag('KeyCount', page.length)}${token ? tag('ContinuationToken', token) : ''}${truncated && last ? tag('NextContinuationToken', Buffer.from(last, 'utf8').toString('base64url')) : ''}${q.has('start-after') ? tag('StartAfter', enc(q.get('start-after') ?? '')) : ''}`
    : `${tag('Marker', enc(q.get('marker') ?? ''))}${truncated && delimiter && last ? tag('NextMarker', enc(last)) : ''}`;
  sendXml(
    res,
    requestId,
    `<ListBucketResult xmlns="${XMLNS}">${tag('Name', bucket)}${tag('Prefix', enc(prefix))}${delimiter ? tag('Delimiter', enc(delimiter)) : ''}${tag('MaxKeys', maxKeys)}${urlEncode ? tag('EncodingType', 'url') : ''}${tag('IsTruncated', truncated)}${paging}${contents}${commonPrefixes}</ListBucketResult>`,
  );
}
