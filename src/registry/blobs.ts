// Blob reads are always verified in the stream and stop at the declared size. A connection cut
// mid-blob is resumed with a Range request when the registry honours it.
import type { Readable } from 'node:stream';
import { isDigest, shortDigest, type Digest } from '../digest/digest.js';
import { verifyStream } from '../digest/verify-stream.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { deleteScope, pullScope, pushScope, repoPath, type IoOptions, type RepositoryContext } from './context.js';
import { errorFromHttp } from './response-error.js';
import { discardBody, headerValue, isCutError, type HttpResponse } from './transport/http.js';

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
}

function blobWhat(ctx: RepositoryContext, digest: string): string {
  return `blob ${shortDigest(digest)} from registry ${ctx.host}/${ctx.repository}`;
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

/**
 * The blob's bytes. The stream is verified against the descriptor and errors before its end on a
 * wrong digest or size; a cut connection is resumed up to `ctx.retries` times, else NETWORK.
 */
export async function openBlob(ctx: RepositoryContext, descriptor: Descriptor, options: IoOptions = {}): Promise<Readable> {
  const what = blobWhat(ctx, descriptor.digest);
  const path = repoPath(ctx, `blobs/${descriptor.digest}`);
  const scopes = [pullScope(ctx.repository)];
  // A large blob is read on a connection of its own in large pieces (transport/bulk-get.ts); a
  // small one gains nothing from that and keeps to the pooled keep-alive connections.
  const bulk = descriptor.size >= BULK_MIN_BYTES;
  const first = await ctx.send({ method: 'GET', path, scopes, signal: options.signal, bulk });
  if (first.status !== 200) throw await errorFromHttp('GET', first, what);
  const length = headerValue(first.headers, 'content-length');
  if (length !== undefined && Number(length) !== descriptor.size) {
    await discardBody(first.body);
    throw new PolyarchError('SIZE_MISMATCH', `${what}: the registry sends ${length} bytes, the descriptor says ${descriptor.size}`);
  }

  // Each response body is piped straight into the verifier (no intermediate stream, no copy of
  // a chunk); when one ends short of the declared size, the next (a Range request) takes over.
  const verifier = verifyStream({ digest: descriptor.digest, size: descriptor.size, what });
  let current: HttpResponse = first;
  let offset = 0;
  let resumes = 0;
  const fail = (error: unknown): void => {
    if (!verifier.destroyed) verifier.destroy(error instanceof Error ? error : new Error(String(error)));
  };
  verifier.once('close', () => current.body.destroy()); // the consumer gave up, or the blob is done
  // A small blob may fail before anyone reads it: the error stays on the stream for its consumer
  // (who sees `errored`) instead of being an uncaught 'error' event.
  verifier.on('error', () => undefined);
  const resume = async (failure: unknown): Promise<void> => {
    if (options.signal?.aborted) throw options.signal.reason;
    if (failure !== undefined && !isCutError(failure)) throw failure;
    if (resumes >= ctx.retries) {
      throw new PolyarchError('NETWORK', `${what}: connection lost after ${offset} of ${descriptor.size} bytes`, { cause: failure });
    }
    resumes++;
    const response = await ctx.send({ method: 'GET', path, headers: { range: `bytes=${offset}-` }, scopes, signal: options.signal, bulk });
    if (response.status !== 206 || rangeStart(headerValue(response.headers, 'content-range')) !== offset) {
      await discardBody(response.body);
      throw new PolyarchError(
        'NETWORK',
        `${what}: connection lost after ${offset} of ${descriptor.size} bytes and the registry cannot resume (HTTP ${response.status} to a Range request)`,
        { cause: failure },
      );
    }
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
    // Closed without an end or an error: cut, as a stream iterator would report it.
    body.once('close', () => settle(body.readableEnded ? undefined : Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
    body.pipe(verifier, { end: false });
  };
  relay(first);
  return verifier;
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
