// Blob reads are always verified in the stream and stop at the declared size. A connection cut
// mid-blob is resumed with a Range request when the registry honours it.
import type { Readable } from 'node:stream';
import { isDigest, shortDigest, type Digest } from '../digest/digest.js';
import { verifyingTaker, verifyStream } from '../digest/verify-stream.js';
import { asError, PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { deleteScope, pullScope, pushScope, repoPath, type IoOptions, type RepositoryContext } from './context.js';
import { errorFromHttp } from './response-error.js';
import { takeAll, type PieceTaker } from '../internal/streams.js';
import { BulkBody } from './transport/bulk-get.js';
import { discardBody, headerValue, isCutError, type HttpResponse } from './transport/http.js';

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
}

function blobWhat(ctx: RepositoryContext, digest: string): string {
  return `blob ${shortDigest(digest)} in registry ${ctx.host}/${ctx.repository}`;
}

export async function headBlob(ctx: RepositoryContext, digest: Digest, options: IoOptions = {}): Promise<BlobInfo | undefined> {
  const response = await ctx.send({ method: 'HEAD', path: repoPath(ctx, `blobs/${digest}`), scopes: [pullScope(ctx.repository)], signal: options.signal });
  if (response.status === 404) {
    await discardBody(response.body);
    return undefined;
  }
  if (response.status !== 200) throw await errorFromHttp('HEAD', response, blobWhat(ctx, digest));
  await discardBody(response.body);
  const size = Number(headerValue(response.headers, 'content-length'));
  return { digest, size: Number.isSafeInteger(size) ? size : -1 };
}

/** Blobs at least this large are read in bulk (one bulk read's worth: a smaller one gains nothing). */
const BULK_MIN_BYTES = 256 * 1024;

/** `bytes start-end/total`: the start, or undefined when absent or malformed. */
function rangeStart(value: string | undefined): number | undefined {
  const match = value ? /^bytes\s+(\d+)-\d+\/(\d+|\*)$/i.exec(value.trim()) : null;
  return match ? Number(match[1]) : undefined;
}

/** A body that ended short of the blob: a cut, as a stream iterator would report it (and resumed like one). */
function prematureClose(): Error {
  return Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/** One blob's GETs: the first, and Range requests for the rest after a cut. */
class BlobRequests {
  readonly #ctx: RepositoryContext;
  readonly #descriptor: Descriptor;
  readonly #options: IoOptions;
  readonly #path: string;
  readonly #scopes: string[];
  // A large blob is read on a connection of its own in large pieces (transport/bulk-get.ts); a
  // small one gains nothing from that and keeps to the pooled keep-alive connections.
  readonly #bulk: boolean;
  readonly what: string;
  #resumes = 0;

  constructor(ctx: RepositoryContext, descriptor: Descriptor, options: IoOptions) {
    this.#ctx = ctx;
    this.#descriptor = descriptor;
    this.#options = options;
    this.#path = repoPath(ctx, `blobs/${descriptor.digest}`);
    this.#scopes = [pullScope(ctx.repository)];
    this.#bulk = descriptor.size >= BULK_MIN_BYTES;
    this.what = blobWhat(ctx, descriptor.digest);
  }

  /** The whole blob: a 200 whose length, when given, is the descriptor's. */
  async first(): Promise<HttpResponse> {
    const response = await this.#ctx.send({ method: 'GET', path: this.#path, scopes: this.#scopes, signal: this.#options.signal, bulk: this.#bulk });
    if (response.status !== 200) throw await errorFromHttp('GET', response, this.what);
    const length = headerValue(response.headers, 'content-length');
    if (length !== undefined && Number(length) !== this.#descriptor.size) {
      await discardBody(response.body);
      throw new PolyarchError('SIZE_MISMATCH', `${this.what}: the registry sends ${length} bytes, the descriptor says ${this.#descriptor.size}`);
    }
    return response;
  }

  /**
   * The bytes from `offset` on, after `failure` cut the last answer short: only for a cut, at most
   * `ctx.retries` times, and only when the registry answers the Range request exactly; else NETWORK.
   */
  async rest(offset: number, failure: unknown): Promise<HttpResponse> {
    if (this.#options.signal?.aborted) throw this.#options.signal.reason;
    if (failure !== undefined && !isCutError(failure)) throw failure;
    const lost = `${this.what}: connection lost after ${offset} of ${this.#descriptor.size} bytes`;
    if (this.#resumes >= this.#ctx.retries) throw new PolyarchError('NETWORK', lost, { cause: failure });
    this.#resumes++;
    const response = await this.#ctx.send({ method: 'GET', path: this.#path, headers: { range: `bytes=${offset}-` }, scopes: this.#scopes, signal: this.#options.signal, bulk: this.#bulk });
    if (response.status !== 206 || rangeStart(headerValue(response.headers, 'content-range')) !== offset) {
      await discardBody(response.body);
      throw new PolyarchError('NETWORK', `${lost} and the registry cannot resume (HTTP ${response.status} to a Range request)`, { cause: failure });
    }
    return response;
  }
}

/**
 * The blob's bytes. The stream is verified against the descriptor and errors before its end on a
 * wrong digest or size; a cut connection is resumed up to `ctx.retries` times, else NETWORK.
 */
export async function openBlob(ctx: RepositoryContext, descriptor: Descriptor, options: IoOptions = {}): Promise<Readable> {
  const requests = new BlobRequests(ctx, descriptor, options);
  const first = await requests.first();

  // Each response body is piped straight into the verifier (no intermediate stream, no copy of
  // a chunk); when one ends short of the declared size, the next (a Range request) takes over.
  const verifier = verifyStream({ digest: descriptor.digest, size: descriptor.size, what: requests.what });
  let current: HttpResponse = first;
  let offset = 0;
  const fail = (error: unknown): void => {
    if (!verifier.destroyed) verifier.destroy(asError(error));
  };
  verifier.once('close', () => current.body.destroy()); // the consumer gave up, or the blob is done
  // A small blob may fail before anyone reads it: the error stays on the stream for its consumer
  // (who sees `errored`) instead of being an uncaught 'error' event.
  verifier.on('error', () => undefined);
  const resume = async (failure: unknown): Promise<void> => {
    const response = await requests.rest(offset, failure);
    if (verifier.destroyed) {
      response.body.destroy();
      return;
    }
    relay(response);
  };
  const relay = (response: HttpResponse): void => {
    current = response;
    const body = response.body;
    let settled = false;
    const settle = (failure: unknown): void => {
      if (settled) return;
      settled = true;
      body.unpipe(verifier);
      if (verifier.destroyed) return;
      // Complete (or longer, which the verifier reports) ends the blob; anything else is resumed.
      if (failure === undefined && offset >= descriptor.size) verifier.end();
      else resume(failure).catch(fail);
    };
    body.on('data', (chunk: Buffer) => {
      offset += chunk.length;
    });
    body.once('end', () => settle(undefined));
    body.once('error', settle);
    // Closed without an end or an error: cut.
    body.once('close', () => settle(body.readableEnded ? undefined : prematureClose()));
    body.pipe(verifier, { end: false });
  };
  relay(first);
  return verifier;
}

/**
 * The blob's bytes handed to `take` piece by piece, without a stream: over plain HTTP each piece
 * is the socket's own read (no copy), so a copy hashes and writes what was read. The bytes are
 * verified as they pass, and the last piece is handed over only when the digest matches: a taker
 * framed by the size never holds the whole of wrong bytes (the promise rejects with
 * DIGEST_MISMATCH or SIZE_MISMATCH instead). A cut connection is resumed as openBlob does.
 */
export async function readBlobInto(ctx: RepositoryContext, descriptor: Descriptor, take: PieceTaker, options: IoOptions = {}): Promise<void> {
  const requests = new BlobRequests(ctx, descriptor, options);
  // The taker's own failure (its file or upload broke) is never a cut of this blob to resume.
  let takerFailure: { readonly error: unknown } | undefined;
  const taken: PieceTaker = (piece) =>
    take(piece).catch((error: unknown) => {
      takerFailure ??= { error };
      throw error;
    });
  const checked = verifyingTaker({ digest: descriptor.digest, size: descriptor.size, what: requests.what }, taken);
  let response = await requests.first();
  for (;;) {
    let failure: unknown;
    try {
      const body = response.body;
      if (body instanceof BulkBody) await body.drainInto(checked.take);
      else await takeAll(body, checked.take);
      if (checked.bytes === descriptor.size) return checked.end();
      failure = prematureClose();
    } catch (error) {
      response.body.destroy();
      if (takerFailure) throw takerFailure.error;
      failure = error;
    }
    response = await requests.rest(checked.bytes, failure);
  }
}

/**
 * Cross-repository mount. 201: mounted. 202: the registry opened an upload instead; it is
 * cancelled and false returned, so the caller uploads.
 */
export async function mountBlob(ctx: RepositoryContext, descriptor: Descriptor, fromRepository: string, options: IoOptions = {}): Promise<boolean> {
  const query = new URLSearchParams({ mount: descriptor.digest, from: fromRepository });
  const response = await ctx.send({
    method: 'POST',
    path: `${repoPath(ctx, 'blobs/uploads/')}?${query.toString()}`,
    scopes: [pushScope(ctx.repository), pullScope(fromRepository)],
    signal: options.signal,
  });
  if (response.status === 201) {
    await discardBody(response.body);
    return true;
  }
  if (response.status === 202) {
    await discardBody(response.body);
    const location = headerValue(response.headers, 'location');
    if (location !== undefined) {
      const cancel = await ctx
        .send({ method: 'DELETE', path: new URL(location, response.url).toString(), scopes: [pushScope(ctx.repository)], signal: options.signal })
        .catch(() => undefined);
      if (cancel) await discardBody(cancel.body);
    }
    return false;
  }
  throw await errorFromHttp('POST', response, `mounting blob ${shortDigest(descriptor.digest)} into ${ctx.host}/${ctx.repository} from ${fromRepository}`);
}

export async function deleteBlob(ctx: RepositoryContext, digest: Digest, options: IoOptions = {}): Promise<void> {
  if (!isDigest(digest)) throw new PolyarchError('INVALID_REFERENCE', `cannot delete blob "${digest}": not a digest`);
  const response = await ctx.send({ method: 'DELETE', path: repoPath(ctx, `blobs/${digest}`), scopes: [deleteScope(ctx.repository)], signal: options.signal });
  if (response.status !== 202 && response.status !== 200 && response.status !== 204) throw await errorFromHttp('DELETE', response, `deleting ${blobWhat(ctx, digest)}`);
  await discardBody(response.body);
}
