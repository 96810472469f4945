// Blob upload sessions: POST opens one; a small blob goes in one streamed PUT, a large one in
// PATCH chunks (one chunk buffered at a time, never the whole layer), then PUT ?digest=.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { shortDigest, type Digest } from '../digest/digest.js';
import { SizeMismatchError } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { pushScope, repoPath, type IoOptions, type RepositoryContext } from './context.js';
import { errorFromHttp } from './response-error.js';
import { discardBody, headerValue, type HttpResponse } from './transport/http.js';

export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;

export interface UploadOptions extends IoOptions {
  readonly digest: Digest;
  readonly size: number;
  /** Overrides the client's chunk size for this upload. */
  readonly chunkSize?: number | undefined;
}

/** Fails the stream as soon as it passes `size` bytes, or ends short of it. */
class SizeGuard extends Transform {
  #bytes = 0;
  constructor(
    private readonly size: number,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.size) done(new SizeMismatchError(this.what, this.size, this.#bytes, true));
    else done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    done(this.#bytes === this.size ? null : new SizeMismatchError(this.what, this.size, this.#bytes, false));
  }
}

/** Adds `digest=` to a Location, keeping the query the registry put there. */
function withDigest(location: string, digest: Digest): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

function nextLocation(response: HttpResponse, what: string): string {
  const location = headerValue(response.headers, 'location');
  if (location === undefined || location === '') throw new PolyarchError('BLOB_UPLOAD_INVALID', `${what}: the registry answered ${response.status} without a Location`);
  return new URL(location, response.url).toString();
}

export async function uploadBlob(ctx: RepositoryContext, content: Readable, options: UploadOptions): Promise<void> {
  const what = `uploading blob ${shortDigest(options.digest)} to registry ${ctx.host}/${ctx.repository}`;
  const scopes = [pushScope(ctx.repository)];
  const signal = options.signal;
  // Listen before the first await: a source that fails while the session opens must not be an
  // uncaught 'error' event; its error is the upload's.
  let sourceError: unknown;
  content.on('error', (error) => {
    sourceError ??= error;
  });
  const started = await ctx.send({ method: 'POST', path: repoPath(ctx, 'blobs/uploads/'), scopes, signal });
  if (started.status !== 202 && started.status !== 201) {
    content.destroy();
    throw await errorFromHttp('POST', started, what);
  }
  await discardBody(started.body);
  let location = nextLocation(started, what);
  const minChunk = Number(headerValue(started.headers, 'oci-chunk-min-length'));
  const chunkSize = Math.max(options.chunkSize ?? ctx.chunkSize, Number.isSafeInteger(minChunk) && minChunk > 0 ? minChunk : 1);

  try {
    if (sourceError !== undefined) throw sourceError;
    if (content.destroyed) throw new PolyarchError('UNKNOWN', `${what}: the source closed before the upload started`);
    const guarded = content.pipe(new SizeGuard(options.size, what));
    content.once('error', (error) => guarded.destroy(error));
    if (options.size <= chunkSize) {
      const done = await ctx.send({
        method: 'PUT',
        path: withDigest(location, options.digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(options.size) },
        body: guarded,
        scopes,
        signal,
      });
      await finish(done);
      return;
    }

    let offset = 0;
    const patch = async (chunk: Buffer): Promise<void> => {
      const response = await ctx.send({
        method: 'PATCH',
        path: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(chunk.length),
          'content-range': `${offset}-${offset + chunk.length - 1}`,
        },
        body: chunk,
        scopes,
        signal,
        retry: false, // a chunk the registry may have half-taken is not simply sent again
      });
      if (response.status !== 202) throw await errorFromHttp('PATCH', response, what);
      await discardBody(response.body);
      location = nextLocation(response, what);
      offset += chunk.length;
    };
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const piece of guarded) {
      const buf = piece as Buffer;
      pending.push(buf);
      pendingBytes += buf.length;
      while (pendingBytes >= chunkSize) {
        const all = Buffer.concat(pending, pendingBytes);
        await patch(all.subarray(0, chunkSize));
        pending = pendingBytes > chunkSize ? [all.subarray(chunkSize)] : [];
        pendingBytes -= chunkSize;
      }
    }
    if (pendingBytes > 0) await patch(Buffer.concat(pending, pendingBytes));
    const done = await ctx.send({
      method: 'PUT',
      path: withDigest(location, options.digest),
      headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
      scopes,
      signal,
    });
    await finish(done);
  } catch (error) {
    content.destroy();
    // Best effort: tell the registry to drop the half-written session.
    await ctx
      .send({ method: 'DELETE', path: location, scopes, retry: false })
      .then((r) => discardBody(r.body))
      .catch(() => undefined);
    throw error;
  }

  async function finish(response: HttpResponse): Promise<void> {
    if (response.status !== 201 && response.status !== 204 && response.status !== 200) throw await errorFromHttp('PUT', response, what);
    await discardBody(response.body);
    const stored = headerValue(response.headers, 'docker-content-digest')?.trim();
    if (stored !== undefined && stored !== options.digest) {
      throw new PolyarchError('DIGEST_MISMATCH', `${what}: the registry stored ${stored}`);
    }
  }
}
