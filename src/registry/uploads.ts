// Blob upload sessions: POST opens one; a blob up to the chunk size goes in one streamed PUT, a
// larger one in streamed PATCH chunks, then PUT ?digest=. Nothing is buffered: each request's
// body is read from the source as the socket takes it.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { shortDigest, type Digest } from '../digest/digest.js';
import { SizeMismatchError, VerifyStream } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { streamFromPieces } from '../internal/streams.js';
import { pushScope, repoPath, type IoOptions, type RepositoryContext } from './context.js';
import { errorFromHttp } from './response-error.js';
import { discardBody, headerValue, PieceBody, type HttpResponse } from './transport/http.js';

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

/**
 * Uploads a blob from a stream, or from a PieceBody whose reader verifies what it hands over (a
 * registry's readBlobInto): a blob that fits one request is then sent piece by piece as read,
 * with no stream and no copy; a larger one is streamed in chunks like any other.
 */
export async function uploadBlob(ctx: RepositoryContext, source: Readable | PieceBody, options: UploadOptions): Promise<void> {
  const what = `uploading blob ${shortDigest(options.digest)} to registry ${ctx.host}/${ctx.repository}`;
  const scopes = [pushScope(ctx.repository)];
  const signal = options.signal;
  const open = async (): Promise<{ location: string; chunkSize: number }> => {
    const started = await ctx.send({ method: 'POST', path: repoPath(ctx, 'blobs/uploads/'), scopes, signal });
    if (started.status !== 202 && started.status !== 201) throw await errorFromHttp('POST', started, what);
    await discardBody(started.body);
    const minChunk = Number(headerValue(started.headers, 'oci-chunk-min-length'));
    return { location: nextLocation(started, what), chunkSize: Math.max(options.chunkSize ?? ctx.chunkSize, Number.isSafeInteger(minChunk) && minChunk > 0 ? minChunk : 1) };
  };
  if (source instanceof PieceBody) {
    const session = await open();
    if (options.size > session.chunkSize) return uploadStream(streamFromPieces(source.read), session.location, session.chunkSize);
    try {
      const done = await ctx.send({
        method: 'PUT',
        path: withDigest(session.location, options.digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(options.size) },
        body: source,
        scopes,
        signal,
      });
      await finish(done);
      return;
    } catch (error) {
      await cancel(session.location);
      throw error;
    }
  }
  const content = source;
  // Listen before the first await: a source that fails while the session opens must not be an
  // uncaught 'error' event; its error is the upload's.
  content.on('error', () => undefined);
  let session: { location: string; chunkSize: number };
  try {
    session = await open();
  } catch (error) {
    content.destroy();
    throw error;
  }
  return uploadStream(content, session.location, session.chunkSize);

  async function uploadStream(content: Readable, opened: string, chunkSize: number): Promise<void> {
    let location = opened;
    try {
      if (content.errored) throw content.errored;
      if (content.destroyed) throw new PolyarchError('UNKNOWN', `${what}: the source closed before the upload started`);
      // A verifier of this very digest and size already fails short or long content.
      const checked = content instanceof VerifyStream && content.verifies(options.digest, options.size);
      const guarded = checked ? content : content.pipe(new SizeGuard(options.size, what));
      if (!checked) content.once('error', (error) => guarded.destroy(error));
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

      const source = guarded[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      let leftover: Buffer | undefined;
      /** The next `length` bytes of the source, as they come (the iterator is shared by every chunk). */
      async function* take(length: number): AsyncGenerator<Buffer> {
        for (let left = length; left > 0; ) {
          let piece = leftover;
          leftover = undefined;
          if (piece === undefined) {
            const next = await source.next();
            if (next.done) return; // short: the size guard has failed the source already
            piece = next.value;
          }
          if (piece.length > left) {
            leftover = piece.subarray(left);
            piece = piece.subarray(0, left);
          }
          left -= piece.length;
          yield piece;
        }
      }
      for (let offset = 0; offset < options.size; ) {
        const length = Math.min(chunkSize, options.size - offset);
        const response = await ctx.send({
          method: 'PATCH',
          path: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(length),
            'content-range': `${offset}-${offset + length - 1}`,
          },
          body: Readable.from(take(length), { objectMode: false }),
          scopes,
          signal,
          retry: false, // a chunk the registry may have half-taken is not simply sent again
        });
        if (response.status !== 202) throw await errorFromHttp('PATCH', response, what);
        await discardBody(response.body);
        location = nextLocation(response, what);
        offset += length;
      }
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
      await cancel(location);
      throw error;
    }
  }

  /** Best effort: tells the registry to drop the half-written session. */
  async function cancel(location: string): Promise<void> {
    await ctx
      .send({ method: 'DELETE', path: location, scopes, retry: false })
      .then((r) => discardBody(r.body))
      .catch(() => undefined);
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
