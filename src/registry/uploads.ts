// Blob upload sessions: POST opens one; a blob up to the chunk size goes in one streamed PUT, a
// larger one in streamed PATCH chunks, then PUT ?digest=. Nothing is buffered: each request's
// body is read from the source as the socket takes it.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { shortDigest, type Digest } from '../digest/digest.js';
import { SizeMismatchError, VerifyStream } from '../digest/verify-stream.js';
import { asError, PolyarchError } from '../errors/polyarch-error.js';
import { pushScope, repoPath, type IoOptions, type RepositoryContext } from './context.js';
import { errorFromHttp } from './response-error.js';
import { ChunkRelay } from './chunk-relay.js';
import { discardBody, headerValue, PieceBody, type HttpBody, type HttpResponse } from './transport/http.js';

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

/** The next `length` bytes of a stream, as they come, for chunk after chunk (the iterator is shared by every chunk). */
function chunksOf(source: AsyncIterator<Buffer>): (length: number) => AsyncGenerator<Buffer> {
  let leftover: Buffer | undefined;
  return async function* take(length: number): AsyncGenerator<Buffer> {
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
  };
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

/** Tries to cancel an upload session this many times (the registry may still be busy with the request that broke). */
const CANCEL_ATTEMPTS = 3;
/** How long cancelling may take in all. */
const CANCEL_BUDGET_MS = 5_000;

/**
 * Best effort: drops a session an upload gave up on, so its bytes do not stay on the registry
 * until it purges old uploads (distribution: a week). A registry may still be busy with the
 * request that broke (polyarch serve before it took a cancel at any time refused it then): the
 * cancel is tried again shortly. distribution answers 404 once a broken request has moved the
 * session's state token on; nothing this side can name that session any more.
 */
async function cancelSession(ctx: RepositoryContext, location: string, scopes: readonly string[]): Promise<void> {
  // A registry that stopped answering holds the failed copy up for this long at most.
  const signal = AbortSignal.timeout(CANCEL_BUDGET_MS);
  for (let attempt = 0; attempt < CANCEL_ATTEMPTS && !signal.aborted; attempt++) {
    if (attempt > 0) await sleep(100 * 3 ** attempt);
    const cancelled = await ctx.send({ method: 'DELETE', path: location, scopes: [...scopes], retry: false, signal }).catch(() => undefined);
    if (cancelled) {
      await discardBody(cancelled.body).catch(() => undefined);
      if (cancelled.status < 300 || cancelled.status === 404) return;
    }
  }
}

/**
 * Uploads a blob from a stream, or from a PieceBody whose reader verifies what it hands over (a
 * registry's readBlobInto, a layout's readInto): its pieces then go out as read, with no stream
 * and no copy, in one request or spread over the chunks (chunk-relay.ts).
 */
export async function uploadBlob(ctx: RepositoryContext, source: Readable | PieceBody, options: UploadOptions): Promise<void> {
  const what = `uploading blob ${shortDigest(options.digest)} to registry ${ctx.host}/${ctx.repository}`;
  const scopes = [pushScope(ctx.repository)];
  const signal = options.signal;
  // Listen before the first await: a source that fails while the session opens must not be an
  // uncaught 'error' event; its error is the upload's.
  if (source instanceof Readable) source.on('error', () => undefined);
  const started = await ctx.send({ method: 'POST', path: repoPath(ctx, 'blobs/uploads/'), scopes, signal }).catch((error: unknown) => {
    if (source instanceof Readable) source.destroy();
    throw error;
  });
  if (started.status !== 202 && started.status !== 201) {
    if (source instanceof Readable) source.destroy();
    throw await errorFromHttp('POST', started, what);
  }
  await discardBody(started.body);
  let location = nextLocation(started, what);
  const minChunk = Number(headerValue(started.headers, 'oci-chunk-min-length'));
  const chunkSize = Math.max(options.chunkSize ?? ctx.chunkSize, Number.isSafeInteger(minChunk) && minChunk > 0 ? minChunk : 1);

  let stopSource = async (): Promise<void> => undefined;
  // Before the last PUT names the digest: the reader has handed over (and checked) every byte.
  let sourceDone = async (): Promise<void> => undefined;
  try {
    let bodyOf: (length: number) => HttpBody;
    if (source instanceof PieceBody) {
      if (options.size <= chunkSize) {
        await finish(await put(location, source, options.size));
        return;
      }
      const relay = new ChunkRelay();
      const reading = source.read(relay.take);
      reading.catch((error: unknown) => relay.fail(asError(error)));
      stopSource = async () => {
        relay.fail(new Error('the upload stopped'));
        await reading.catch(() => undefined);
      };
      sourceDone = () => reading;
      bodyOf = (length) => new PieceBody(relay.chunk(length));
    } else {
      const content = source;
      stopSource = async () => void content.destroy();
      if (content.errored) throw content.errored;
      if (content.destroyed) throw new PolyarchError('UNKNOWN', `${what}: the source closed before the upload started`);
      // A verifier of this very digest and size already fails short or long content.
      const checked = content instanceof VerifyStream && content.verifies(options.digest, options.size);
      const guarded = checked ? content : content.pipe(new SizeGuard(options.size, what));
      if (!checked) content.once('error', (error) => guarded.destroy(error));
      if (options.size <= chunkSize) {
        await finish(await put(location, guarded, options.size));
        return;
      }
      const take = chunksOf(guarded[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
      bodyOf = (length) => Readable.from(take(length), { objectMode: false });
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
        body: bodyOf(length),
        scopes,
        signal,
        retry: false, // a chunk the registry may have half-taken is not simply sent again
      });
      if (response.status !== 202) throw await errorFromHttp('PATCH', response, what);
      await discardBody(response.body);
      location = nextLocation(response, what);
      offset += length;
    }
    await sourceDone();
    await finish(await put(location, undefined, 0));
  } catch (error) {
    await stopSource(); // a PieceBody sent in one request is stopped by that request's failure
    await cancelSession(ctx, location, scopes);
    throw error;
  }

  /** The PUT that ends the session under the digest, with the last bytes (or none). */
  function put(at: string, body: HttpBody | undefined, length: number): Promise<HttpResponse> {
    return ctx.send({
      method: 'PUT',
      path: withDigest(at, options.digest),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) },
      ...(body !== undefined ? { body } : {}),
      scopes,
      signal,
    });
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
