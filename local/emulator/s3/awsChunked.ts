/**
 * Decodes the `aws-chunked` content encoding that SDK v3 and newer botocore use for streamed uploads with
 * trailing checksums: `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0\r\n<trailers>\r\n\r\n`.
 * Signatures are not verified (the emulator does not check auth); the trailers are kept in `trailers` for
 * the caller to verify the checksum they carry.
 */
import { Transform, type TransformCallback } from 'node:stream';

export class AwsChunkedDecoder extends Transform {
  private buffer: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private state: 'header' | 'data' | 'dataEnd' | 'trailer' = 'header';
  /** Trailer headers (`x-amz-checksum-crc32: …`), lower-case names, filled once the stream has ended. */
  readonly trailers: Record<string, string> = {};

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    try {
      this.drain();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private drain(): void {
    for (;;) {
      if (this.state === 'header') {
        const end = this.buffer.indexOf('\r\n');
        if (end < 0) return;
        const size = parseInt(this.buffer.subarray(0, end).toString('latin1').split(';')[0], 16);
        if (Number.isNaN(size)) throw new Error('malformed aws-chunked body');
        this.buffer = this.buffer.subarray(end + 2);
        this.remaining = size;
        this.state = size === 0 ? 'trailer' : 'data';
      } else if (this.state === 'data') {
        if (this.buffer.length === 0) return;
        const take = Math.min(this.remaining, this.buffer.length);
        this.push(this.buffer.subarray(0, take));
        this.buffer = this.buffer.subarray(take);
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'dataEnd';
      } else if (this.state === 'dataEnd') {
        if (this.buffer.length < 2) return;
        this.buffer = this.buffer.subarray(2);
        this.state = 'header';
      } else {
        // Trailers are read whole at the end (_flush).
        return;
      }
    }
  }

  override _flush(callback: TransformCallback): void {
    for (const line of this.buffer.toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    callback();
  }
}
