// The embedded OCI registry (distribution-spec v1.1) on node:http, storing on disk under `root`.
// Answers only with codes from the shared table (errors/codes.ts).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { algorithmOf, digestOfBytes, isDigest, type Digest } from '../digest/digest.js';
import { isOciErrorCode } from '../errors/codes.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import { interruptedError, interruptible, throwIfInterrupted } from '../errors/interrupted.js';
import { parseJsonObject, MAX_MANIFEST_SIZE } from '../image/raw-manifest.js';
import { baseMediaType, isImageManifest, MANIFEST_ACCEPT } from '../mediatype/mediatype.js';
import { HttpError, sendOciError } from './error-response.js';
import { checkManifest } from './manifest-validation.js';
import type { HtpasswdAuth } from './htpasswd.js';
import { collectRegistryGarbage, type CollectServerGarbageOptions, type RegistryGarbageResult } from './garbage.js';
import { BlobTooLargeError, RegistryStorage, type StorageOptions } from './storage.js';
import { firstAfter } from './repository-index.js';
import { PAGE_CSP, pageAsset, SECURITY_HEADERS } from './ui/page.js';
import { isWebPagePath, pullHost, renderWebPage } from './ui/web-pages.js';
import { repositoryPage, tagPage, type PageRequest } from './ui/api.js';
import { pemProblem } from '../internal/pem.js';
import { readProblem, readRegularBytes } from '../internal/regular-file.js';

export interface RegistryServerOptions extends StorageOptions {
  /** Where blobs, repositories and uploads live. */
  readonly root: string;
  /** bcrypt htpasswd file: every request needs Basic credentials (reads too, unless anonymousRead). */
  readonly htpasswd?: string;
  readonly anonymousRead?: boolean;
  /** Refuse every write with DENIED. */
  readonly readOnly?: boolean;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /**
   * Called with every fault a request hit that is the server's, not the client's (answered 500
   * UNKNOWN, or a connection cut mid-answer), e.g. to log it.
   */
  readonly onError?: (error: unknown, request: { readonly method: string; readonly path: string }) => void;
  /**
   * Called as each request arrives, before any of its body is read; a function it returns is
   * called once the answer is over (the CLI keeps its young-garbage collector busy in between).
   */
  readonly onRequest?: () => (() => void) | void;
  /** Aborting it closes the server (as `close()` does); already aborted, nothing is created. */
  readonly signal?: AbortSignal;
}

export interface RegistryServer {
  /** Starts listening; resolves with the address actually bound (port 0 picks a free one). */
  listen(port: number, host?: string): Promise<{ readonly host: string; readonly port: number; readonly url: string }>;
  /** Stops listening and cuts every connection; calling it again (or aborting the signal) changes nothing. */
  close(): Promise<void>;
  readonly storage: RegistryStorage;
}

const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const ROUTE = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/(.*)$/;

interface Context {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  readonly storage: RegistryStorage;
  /** Room for request bodies held in memory (manifests being received), shared by every connection. */
  readonly bodies: ByteBudget;
}

/**
 * How many bytes of request bodies a server holds in memory at once. A manifest may be 4 MiB and
 * is held whole until checked; without a bound, 600 slow manifest PUTs held 2.5 GB.
 */
const BODY_BUDGET_BYTES = 64 << 20;

/** Bytes that may be held, taken as they arrive and given back when the request is done with them. */
class ByteBudget {
  #left: number;
  constructor(bytes: number) {
    this.#left = bytes;
  }
  take(bytes: number): boolean {
    if (bytes > this.#left) return false;
    this.#left -= bytes;
    return true;
  }
  give(bytes: number): void {
    this.#left += bytes;
  }
}

function send(res: ServerResponse, status: number, headers: Record<string, string | number> = {}, body?: string | Buffer): void {
  const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...(bytes ? { 'content-length': bytes.length } : { 'content-length': 0 }), ...headers });
  res.end(bytes);
}

function parseDigestParam(text: string | null, code: 'DIGEST_INVALID' | 'BLOB_UNKNOWN' = 'DIGEST_INVALID'): Digest {
  if (text === null || !isDigest(text)) throw new HttpError(code, `invalid digest ${JSON.stringify(text)}`, { status: 400 });
  return text;
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) void _;
}

// ---- manifests ----
/**
 * The Content-Type a stored manifest is served with: only one of the four manifest types PUT
 * stores. Data stored before PUT validation may carry any string (`text/html`, a CR/LF); then the
 * manifest's own `mediaType` field is used when it is one of the four, and otherwise
 * `application/octet-stream`, which with nosniff no browser renders and no client mistakes for a
 * manifest — better than a type nobody checked.
 */
function servedMediaType(stored: string, bytes: Buffer): string {
  if (MANIFEST_ACCEPT.includes(stored)) return stored;
  let own: unknown;
  try {
    own = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown } | null)?.mediaType;
  } catch {
    own = undefined;
  }
  return typeof own === 'string' && MANIFEST_ACCEPT.includes(own) ? own : 'application/octet-stream';
}

async function getManifest(ctx: Context, name: string, reference: string, head: boolean): Promise<void> {
  if (!isDigest(reference) && !TAG.test(reference)) throw new HttpError('MANIFEST_INVALID', `invalid reference ${JSON.stringify(reference)}`);
  const digest = await ctx.storage.resolve(name, reference);
  const found = digest && (await ctx.storage.manifestOf(name, digest));
  if (!digest || !found) throw new HttpError('MANIFEST_UNKNOWN', undefined, { detail: { name, reference } });
  const headers = { 'content-type': servedMediaType(found.mediaType, found.bytes), 'docker-content-digest': digest, etag: `"${digest}"` };
  if (head) {
    ctx.res.writeHead(200, { ...headers, 'content-length': found.bytes.length });
    ctx.res.end();
  } else send(ctx.res, 200, headers, found.bytes);
}

/**
 * The request body, refused with 413 past `max` bytes: at once when Content-Length says so,
 * otherwise as soon as more than `max` arrived — never buffering more than that.
 */
async function readBodyLimited(req: IncomingMessage, max: number, what: string, budget: ByteBudget): Promise<Buffer> {
  const tooLarge = (): HttpError =>
    // The rest of the body is never read: the connection closes after the answer.
    new HttpError('SIZE_INVALID', `${what} larger than ${max} bytes`, { status: 413, headers: { connection: 'close' } });
  const declared = lengthOf(req);
  if (declared !== undefined && declared > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of req) {
      if (total + (chunk as Buffer).length > max) throw tooLarge();
      if (!budget.take((chunk as Buffer).length)) throw new HttpError('TOOMANYREQUESTS', `too many ${what}s are being received at once; retry shortly`, { status: 429, headers: { connection: 'close', 'retry-after': '1' } });
      total += (chunk as Buffer).length;
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks, total);
  } finally {
    budget.give(total); // the copy returned is the caller's, held only while it checks and stores it
  }
}

async function putManifest(ctx: Context, name: string, reference: string): Promise<void> {
  if (!isDigest(reference) && !TAG.test(reference)) throw new HttpError('MANIFEST_INVALID', `invalid tag ${JSON.stringify(reference)}`);
  const bytes = await readBodyLimited(ctx.req, MAX_MANIFEST_SIZE, 'manifest', ctx.bodies);
  const digest = isDigest(reference) ? digestOfBytes(bytes, algorithmOf(reference)) : digestOfBytes(bytes);
  if (isDigest(reference) && reference !== digest) throw new HttpError('DIGEST_INVALID', `manifest digest is ${digest}, not ${reference}`);
  let body: Record<string, unknown>;
  try {
    body = parseJsonObject(bytes, 'manifest');
  } catch (error) {
    throw new HttpError('MANIFEST_INVALID', (error as Error).message);
  }
  // Every field is checked before anything is stored or any header is built from it.
  const checked = checkManifest(body, baseMediaType(ctx.req.headers['content-type'] ?? ''));
  const missing: string[] = [];
  for (const d of checked.blobs) if (!missing.includes(d) && !(await ctx.storage.hasBlob(name, d))) missing.push(d);
  for (const d of checked.manifests) if (!missing.includes(d) && !(await ctx.storage.hasManifest(name, d))) missing.push(d);
  if (missing.length > 0) throw new HttpError('MANIFEST_BLOB_UNKNOWN', `unknown: ${missing.join(', ')}`, { detail: { digests: missing } });
  // A garbage collection running beside the server sees these blobs as just used.
  await ctx.storage.touchBlobLinks(name, checked.blobs);
  await ctx.storage.putManifest(name, digest, bytes, checked.mediaType, isDigest(reference) ? undefined : reference);
  send(ctx.res, 201, { location: `/v2/${name}/manifests/${digest}`, 'docker-content-digest': digest, ...(checked.subject ? { 'oci-subject': checked.subject } : {}) });
}

async function deleteManifest(ctx: Context, name: string, reference: string): Promise<void> {
  const done = isDigest(reference) ? await ctx.storage.deleteManifest(name, reference) : TAG.test(reference) && (await ctx.storage.deleteTag(name, reference));
  if (!done) throw new HttpError('MANIFEST_UNKNOWN');
  send(ctx.res, 202);
}

// ---- blobs ----
async function getBlob(ctx: Context, name: string, digestText: string, head: boolean): Promise<void> {
  if (!isDigest(digestText)) throw new HttpError('DIGEST_INVALID', `invalid digest ${JSON.stringify(digestText)}`);
  const unknown = () => new HttpError('BLOB_UNKNOWN', undefined, { detail: { digest: digestText } });
  // `bytes=S-`, `bytes=S-E`, or a suffix `bytes=-N` (the last N bytes), as Go's ServeContent in distribution answers them.
  // Any other form (`bytes=-`, several ranges) is ignored, as RFC 9110 allows: the whole blob.
  const asked = /^bytes=(\d*)-(\d*)$/.exec(ctx.req.headers.range ?? '');
  const range = asked && (asked[1] !== '' || asked[2] !== '') ? asked : null;
  // A whole GET is verified as it streams (a mismatch cuts the connection before the end); HEAD
  // and ranges cannot be, so they are answered only for a file whose bytes were hashed.
  if (head || range ? !(await ctx.storage.hasBlob(name, digestText)) : !(await ctx.storage.isLinked(name, digestText))) throw unknown();
  const blob = await ctx.storage.openBlob(digestText);
  if (!blob) throw unknown();
  const { size } = blob;
  const headers = { 'content-type': 'application/octet-stream', 'docker-content-digest': digestText, etag: `"${digestText}"`, 'accept-ranges': 'bytes' };
  let part: { start: number; end: number } | undefined;
  if (range) {
    const suffix = range[1] === '';
    const start = suffix ? Math.max(0, size - Number(range[2])) : Number(range[1]);
    const end = !suffix && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start >= size || start > end) {
      await blob.close();
      send(ctx.res, 416, { 'content-range': `bytes */${size}` });
      return;
    }
    part = { start, end };
  }
  if (head) {
    await blob.close();
    ctx.res.writeHead(part ? 206 : 200, { ...headers, 'content-length': part ? part.end - part.start + 1 : size, ...(part ? { 'content-range': `bytes ${part.start}-${part.end}/${size}` } : {}) });
    ctx.res.end();
    return;
  }
  ctx.res.writeHead(part ? 206 : 200, { ...headers, 'content-length': part ? part.end - part.start + 1 : size, ...(part ? { 'content-range': `bytes ${part.start}-${part.end}/${size}` } : {}) });
  // A failure destroys the answer before its end; the caller then cuts the half-sent answer.
  await blob.send(ctx.res, part);
}

/** 413 for a push past maxBlobSize; the rest of the body is not read, so the connection closes. */
function blobTooLarge(limit: number): HttpError {
  return new HttpError('SIZE_INVALID', `blob larger than the limit of ${limit} bytes`, { status: 413, headers: { connection: 'close' } });
}

/** Runs a write that may pass maxBlobSize, answering 413 when it does. */
async function withinBlobLimit<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof BlobTooLargeError) throw blobTooLarge(error.limit);
    throw error;
  }
}

/**
 * DELETE of a blob link. Refused while a stored manifest of the repository is that blob or uses
 * it: the image would then answer 404 for its own layer. The distribution-spec lists 202, 404 and
 * 405 for this endpoint; 405 UNSUPPORTED says "not allowed on this blob now", and the message says
 * which manifest to delete first.
 */
async function deleteBlob(ctx: Context, name: string, digestText: string): Promise<void> {
  if (!isDigest(digestText)) throw new HttpError('DIGEST_INVALID');
  await drain(ctx.req);
  const user = await ctx.storage.manifestUsing(name, digestText);
  if (user !== undefined) {
    throw new HttpError('UNSUPPORTED', user === digestText ? `${digestText} is a manifest of ${name}; delete it through /manifests/` : `blob ${digestText} is used by manifest ${user} of ${name}; delete the manifest first`, { status: 405 });
  }
  if (!(await ctx.storage.unlinkBlob(name, digestText))) throw new HttpError('BLOB_UNKNOWN');
  send(ctx.res, 202);
}

/**
 * Reads and discards the body of a POST that mounts a blob or opens a session (clients send none);
 * one larger than maxBlobSize is refused like a blob that large, instead of being read forever.
 */
async function drainWithinBlobLimit(ctx: Context): Promise<void> {
  const max = ctx.storage.maxBlobSize;
  const declared = lengthOf(ctx.req);
  if (declared !== undefined && declared > max) throw blobTooLarge(max);
  let total = 0;
  for await (const chunk of ctx.req) {
    total += (chunk as Buffer).length;
    if (total > max) throw blobTooLarge(max);
  }
}

function uploadHeaders(name: string, id: string, size: number): Record<string, string> {
  return { location: `/v2/${name}/blobs/uploads/${id}`, range: `0-${Math.max(0, size - 1)}`, 'docker-upload-uuid': id };
}

async function startUpload(ctx: Context, name: string): Promise<void> {
  const mount = ctx.url.searchParams.get('mount');
  const from = ctx.url.searchParams.get('from');
  // hasBlob verifies the bytes: a damaged blob is not mounted, the client uploads it instead.
  if (mount !== null && from !== null && isDigest(mount) && NAME.test(from) && (await ctx.storage.hasBlob(from, mount))) {
    await drainWithinBlobLimit(ctx);
    await ctx.storage.linkBlob(name, mount);
    send(ctx.res, 201, { location: `/v2/${name}/blobs/${mount}`, 'docker-content-digest': mount });
    return;
  }
  const digestParam = ctx.url.searchParams.get('digest');
  if (digestParam !== null) {
    const digest = parseDigestParam(digestParam);
    const declared = lengthOf(ctx.req);
    if (declared !== undefined && declared > ctx.storage.maxBlobSize) throw blobTooLarge(ctx.storage.maxBlobSize);
    if (!(await withinBlobLimit(() => ctx.storage.putBlob(name, digest, ctx.req)))) throw new HttpError('DIGEST_INVALID', `uploaded content does not match ${digest}`);
    send(ctx.res, 201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest });
    return;
  }
  await drainWithinBlobLimit(ctx);
  const state = await ctx.storage.startUpload(name);
  send(ctx.res, 202, { ...uploadHeaders(name, state.id, 0), range: '0-0' });
}

function lengthOf(req: IncomingMessage): number | undefined {
  const text = req.headers['content-length'];
  return text === undefined ? undefined : Number(text);
}

/** `Content-Range: <start>-<end>` of a PATCH, as the length it declares; undefined when it is not the next chunk. */
function chunkLength(range: string, size: number): number | undefined {
  const match = /^(?:bytes )?(\d{1,15})-(\d{1,15})$/.exec(range);
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  return start === size && end >= start ? end - start + 1 : undefined;
}

async function continueUpload(ctx: Context, name: string, id: string, method: string): Promise<void> {
  const state = ctx.storage.upload(id, name);
  if (!state) throw new HttpError('BLOB_UPLOAD_UNKNOWN');
  if (method === 'GET') {
    send(ctx.res, 204, uploadHeaders(name, id, state.size));
    return;
  }
  if (method !== 'PATCH' && method !== 'PUT' && method !== 'DELETE') throw new HttpError('UNSUPPORTED', `${method} is not supported on an upload`);
  // Cancelling needs no turn: a client whose PATCH or PUT broke off cancels while the server may
  // still be finishing that request, and a refusal left the session (and its bytes) behind.
  if (method === 'DELETE') {
    await ctx.storage.cancelUpload(state);
    send(ctx.res, 204);
    return;
  }
  const refuse = (message: string): HttpError => new HttpError('BLOB_UPLOAD_INVALID', message, { status: 416, headers: uploadHeaders(name, id, state.size) });
  // Everything that can be refused is refused before the body touches the session.
  let expected: number | undefined;
  const range = ctx.req.headers['content-range'];
  if (method === 'PATCH' && range !== undefined) {
    expected = chunkLength(range, state.size);
    if (expected === undefined) throw refuse(`Content-Range ${JSON.stringify(range)} is not the next chunk after ${state.size} bytes`);
    const declared = lengthOf(ctx.req);
    if (declared !== undefined && declared !== expected) throw refuse(`Content-Length ${declared} does not match Content-Range ${JSON.stringify(range)}`);
  }
  const digest = method === 'PUT' ? parseDigestParam(ctx.url.searchParams.get('digest')) : undefined;
  const declared = lengthOf(ctx.req);
  if (declared !== undefined && state.size + declared > ctx.storage.maxBlobSize) throw blobTooLarge(ctx.storage.maxBlobSize);
  // One request at a time per session: a second one cannot know where its bytes would land.
  if (!ctx.storage.acquireUpload(state)) throw refuse('another request is writing to this upload session');
  try {
    if (method === 'PATCH' || (lengthOf(ctx.req) ?? 0) > 0 || ctx.req.headers['transfer-encoding']) {
      try {
        await ctx.storage.appendUpload(state, ctx.req, expected);
      } catch (error) {
        if (error instanceof BlobTooLargeError) throw blobTooLarge(error.limit);
        if (isPolyarchError(error) && error.code === 'BLOB_UPLOAD_INVALID') throw refuse(error.message);
        throw error;
      }
    }
    if (method === 'PATCH') {
      send(ctx.res, 202, uploadHeaders(name, id, state.size));
      return;
    }
    if (!(await ctx.storage.finishUpload(state, digest!))) {
      await ctx.storage.cancelUpload(state);
      throw new HttpError('DIGEST_INVALID', `uploaded content does not match ${digest!}`);
    }
    send(ctx.res, 201, { location: `/v2/${name}/blobs/${digest!}`, 'docker-content-digest': digest! });
  } finally {
    ctx.storage.releaseUpload(state);
  }
}

// ---- the web page's data ----
/** A whole number from the query, `fallback` when absent; 400 when it is not one within [min, max]. */
function queryNumber(url: URL, key: string, fallback: number, min: number, max: number): number {
  const text = url.searchParams.get(key);
  if (text === null) return fallback;
  const value = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= min && value <= max)) throw new HttpError('UNSUPPORTED', `${key} must be a whole number from ${min} to ${max}`, { status: 400 });
  return value;
}

/**
 * `/api/repositories?q=&page=&per_page=&tags=`: a page of repositories (a name search), each with
 * its newest tags; `/api/tags?repository=&page=&per_page=`: a page of one repository's tags.
 */
async function pageData(storage: RegistryStorage, url: URL): Promise<unknown> {
  const request: PageRequest = { page: queryNumber(url, 'page', 1, 1, 1e9), perPage: queryNumber(url, 'per_page', 20, 1, 100) };
  if (url.pathname === '/api/repositories') {
    const search = url.searchParams.get('q') ?? '';
    if (search.length > 255) throw new HttpError('UNSUPPORTED', 'q is longer than a repository name can be', { status: 400 });
    return repositoryPage(storage, search, request, queryNumber(url, 'tags', 10, 0, 100));
  }
  const name = url.searchParams.get('repository') ?? '';
  if (!NAME.test(name) || name.length > 255) throw new HttpError('NAME_INVALID', `invalid repository name ${JSON.stringify(name)}`);
  if (!(await storage.repositoryExists(name))) throw new HttpError('NAME_UNKNOWN', undefined, { detail: { name } });
  return tagPage(storage, name, request);
}

// ---- listings ----
/** A page of sorted `items`: those after `last`, at most `n` of them; a slice, whatever the list's length. */
function page(items: readonly string[], url: URL, path: string): { items: readonly string[]; link?: string } {
  const last = url.searchParams.get('last');
  const nText = url.searchParams.get('n');
  const start = last === null ? 0 : firstAfter(items, last);
  if (nText === null) return { items: items.slice(start) };
  const n = Number.parseInt(nText, 10);
  if (!Number.isSafeInteger(n) || n < 0) throw new HttpError('UNSUPPORTED', `invalid n ${JSON.stringify(nText)}`, { status: 400 });
  const slice = items.slice(start, start + n);
  const more = items.length > start + n && slice.length > 0;
  return { items: slice, ...(more ? { link: `<${path}?n=${n}&last=${encodeURIComponent(slice[slice.length - 1]!)}>; rel="next"` } : {}) };
}

async function listTags(ctx: Context, name: string): Promise<void> {
  if (!(await ctx.storage.repositoryExists(name))) throw new HttpError('NAME_UNKNOWN', undefined, { detail: { name } });
  const { items, link } = page(await ctx.storage.tags(name), ctx.url, `/v2/${name}/tags/list`);
  send(ctx.res, 200, { 'content-type': 'application/json', ...(link ? { link } : {}) }, JSON.stringify({ name, tags: items }));
}

async function catalog(ctx: Context): Promise<void> {
  const { items, link } = page(await ctx.storage.repositories(), ctx.url, '/v2/_catalog');
  send(ctx.res, 200, { 'content-type': 'application/json', ...(link ? { link } : {}) }, JSON.stringify({ repositories: items }));
}

/** The fields a referrers list copies from a stored manifest, each of its right type. */
function referrerFields(bytes: Buffer): { subject?: string; artifactType?: string; configMediaType?: string; annotations?: Record<string, string> } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const body = value as Record<string, unknown>;
  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const field = (v: unknown, key: string): unknown => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined);
  const annotations = typeof body.annotations === 'object' && body.annotations !== null && !Array.isArray(body.annotations) ? Object.entries(body.annotations).filter((e): e is [string, string] => typeof e[1] === 'string') : undefined;
  const subject = text(field(body.subject, 'digest'));
  const artifactType = text(body.artifactType);
  const configMediaType = text(field(body.config, 'mediaType'));
  return {
    ...(subject !== undefined ? { subject } : {}),
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(configMediaType !== undefined ? { configMediaType } : {}),
    ...(annotations && annotations.length > 0 ? { annotations: Object.fromEntries(annotations) } : {}),
  };
}

async function referrers(ctx: Context, name: string, digestText: string): Promise<void> {
  if (!isDigest(digestText)) throw new HttpError('DIGEST_INVALID', `invalid digest ${JSON.stringify(digestText)}`);
  const wanted = ctx.url.searchParams.get('artifactType');
  const manifests: unknown[] = [];
  for (const digest of await ctx.storage.manifestDigests(name)) {
    // A stored manifest that is gone or not a JSON object (stored before validation) is skipped, and
    // only fields of the right type are copied: one bad manifest must not break the list for every client.
    const found = await ctx.storage.manifestOf(name, digest).catch(() => undefined);
    if (!found) continue;
    const body = referrerFields(found.bytes);
    if (!body || body.subject !== digestText) continue;
    const artifactType = body.artifactType ?? (isImageManifest(found.mediaType) ? body.configMediaType : undefined);
    if (wanted !== null && artifactType !== wanted) continue;
    manifests.push({ mediaType: found.mediaType, digest, size: found.bytes.length, ...(artifactType ? { artifactType } : {}), ...(body.annotations ? { annotations: body.annotations } : {}) });
  }
  const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
  send(ctx.res, 200, { 'content-type': 'application/vnd.oci.image.index.v1+json', ...(wanted !== null ? { 'oci-filters-applied': 'artifactType' } : {}) }, index);
}

async function route(ctx: Context): Promise<void> {
  const { req, url } = ctx;
  const method = req.method ?? 'GET';
  const path = url.pathname;
  if (path === '/v2/' || path === '/v2') return send(ctx.res, 200, { 'content-type': 'application/json' }, '{}');
  if (path === '/v2/_catalog' && method === 'GET') return catalog(ctx);
  const match = ROUTE.exec(path);
  if (!match) throw new HttpError('UNSUPPORTED', `no such endpoint ${method} ${path}`, { status: 404 });
  const [, name = '', kind, rest = ''] = match;
  if (!NAME.test(name) || name.length > 255) throw new HttpError('NAME_INVALID', `invalid repository name ${JSON.stringify(name)}`);
  if (kind === 'manifests') {
    if (method === 'GET' || method === 'HEAD') return getManifest(ctx, name, rest, method === 'HEAD');
    if (method === 'PUT') return putManifest(ctx, name, rest);
    if (method === 'DELETE') return deleteManifest(ctx, name, rest);
  } else if (kind === 'tags' && rest === 'list' && method === 'GET') {
    return listTags(ctx, name);
  } else if (kind === 'referrers' && method === 'GET') {
    return referrers(ctx, name, rest);
  } else if (kind === 'blobs') {
    if (rest === 'uploads/' || rest === 'uploads') {
      if (method === 'POST') return startUpload(ctx, name);
    } else if (rest.startsWith('uploads/')) {
      return continueUpload(ctx, name, rest.slice('uploads/'.length), method);
    } else if (method === 'GET' || method === 'HEAD') {
      return getBlob(ctx, name, rest, method === 'HEAD');
    } else if (method === 'DELETE') {
      return deleteBlob(ctx, name, rest);
    }
  }
  throw new HttpError('UNSUPPORTED', `${method} ${path} is not supported`);
}

function checkStorageOptions(options: StorageOptions): void {
  const whole = (value: number | undefined, what: string, min: number): void => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) throw new PolyarchError('USAGE', `${what} must be a whole number of at least ${min}, not ${value}`);
  };
  whole(options.uploadMaxAgeMs, 'uploadMaxAgeMs', 1);
  whole(options.maxUploadsPerRepository, 'maxUploadsPerRepository', 1);
  whole(options.maxUploads, 'maxUploads', 1);
  if (options.maxBlobSize !== Number.POSITIVE_INFINITY) whole(options.maxBlobSize, 'maxBlobSize', 1);
}

/** More than any certificate chain or key in PEM. */
const MAX_PEM_BYTES = 1 << 20;

async function readOption(path: string, what: string, kind: 'certificate' | 'key'): Promise<Buffer> {
  let bytes: Buffer;
  try {
    // A regular file, read to a bound: /dev/zero or a FIFO is an error, not a read that never ends.
    bytes = await readRegularBytes(path, MAX_PEM_BYTES);
  } catch (error) {
    throw new PolyarchError('USAGE', `cannot read ${what} "${path}": ${readProblem(error)}`, { cause: error });
  }
  // Named here rather than by OpenSSL's "PEM routines::no start line", which names no file.
  const problem = pemProblem(bytes.toString('utf8'), kind);
  if (problem) throw new PolyarchError('CONFIG_INVALID', `${what} "${path}": ${problem}`);
  return bytes;
}

function isWrite(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD';
}

/**
 * Collects the garbage of the registry stored at `root` (`serve --gc`), safely beside a server
 * running there: uploads are left alone, blobs touched within the grace period are kept. Nothing
 * is created on disk.
 *
 * {@includeCode ../../examples/api/collectServerGarbage.ts#example}
 */
export async function collectServerGarbage(options: CollectServerGarbageOptions): Promise<RegistryGarbageResult> {
  return interruptible(options.signal, () => collectRegistryGarbage(new RegistryStorage(options.root), options));
}

/**
 * An OCI distribution registry over the store at `root`, ready to `listen`. Aborting
 * `options.signal` closes it.
 *
 * {@includeCode ../../examples/api/createRegistryServer.ts#example}
 */
export async function createRegistryServer(options: RegistryServerOptions): Promise<RegistryServer> {
  throwIfInterrupted(options.signal);
  // Every option is checked (and every file read) before anything is created on disk.
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) throw new PolyarchError('USAGE', 'give both --tls-cert and --tls-key (tlsCert and tlsKey), or neither');
  checkStorageOptions(options);
  if (options.anonymousRead && !options.htpasswd) throw new PolyarchError('USAGE', '--anonymous-read (anonymousRead) opens reads of a server that asks for a password, --htpasswd (htpasswd); without one every request is open already');
  const tls = options.tlsCert && options.tlsKey ? { cert: await readOption(options.tlsCert, 'TLS certificate', 'certificate'), key: await readOption(options.tlsKey, 'TLS key', 'key') } : undefined;
  // Loaded only with a password file: bcrypt and its worker pool cost a server without one nothing.
  const auth: HtpasswdAuth | undefined = options.htpasswd ? await (await import('./htpasswd.js')).loadHtpasswd(options.htpasswd) : undefined;
  const storage = new RegistryStorage(options.root, options);
  const bodies = new ByteBudget(BODY_BUDGET_BYTES);
  await storage.init();
  storage.startPurging();

  const authorized = async (req: IncomingMessage): Promise<boolean> => {
    if (!auth) return true;
    if (options.anonymousRead && !isWrite(req.method ?? 'GET')) return true;
    const header = req.headers.authorization ?? '';
    if (!/^basic /i.test(header)) return false;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return false;
    try {
      return await auth.verify(decoded.slice(0, colon), decoded.slice(colon + 1));
    } catch (error) {
      // Too many checks waiting (a password-guessing flood): ask to come back rather than say "wrong password".
      if (isPolyarchError(error) && error.code === 'TOOMANYREQUESTS') throw new HttpError('TOOMANYREQUESTS', 'too many login attempts at once; retry shortly');
      throw error;
    }
  };
  /** 401 with the challenge a browser or a registry client answers with Basic credentials. */
  const requireLogin = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let ok: boolean;
    try {
      ok = await authorized(req);
    } catch (error) {
      if (error instanceof HttpError && error.code === 'TOOMANYREQUESTS') {
        await drain(req);
        res.setHeader('retry-after', '1');
      }
      throw error;
    }
    if (ok) return;
    await drain(req);
    res.setHeader('www-authenticate', 'Basic realm="polyarch"');
    throw new HttpError('UNAUTHORIZED');
  };

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://registry.invalid');
    res.setHeader('docker-distribution-api-version', 'registry/2.0');
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    try {
      // The page and its files are reads like any other: behind the login unless --anonymous-read.
      const asset = req.method === 'GET' ? pageAsset(url.pathname) : undefined;
      if (req.method === 'GET' && isWebPagePath(url.pathname)) {
        await requireLogin(req, res);
        const page = await renderWebPage(storage, url, pullHost(req.headers.host));
        return send(res, page.status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': PAGE_CSP }, page.body);
      }
      if (asset) {
        await requireLogin(req, res);
        return send(res, 200, { 'content-type': asset.contentType, 'cache-control': 'no-cache' }, asset.body);
      }
      if ((url.pathname === '/api/repositories' || url.pathname === '/api/tags') && req.method === 'GET') {
        await requireLogin(req, res);
        return send(res, 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }, JSON.stringify(await pageData(storage, url)));
      }
      await requireLogin(req, res);
      if (options.readOnly && isWrite(req.method ?? 'GET') && url.pathname.startsWith('/v2/')) {
        await drain(req);
        throw new HttpError('DENIED', 'this registry is read-only');
      }
      await route({ req, res, url, storage, bodies });
    } catch (error) {
      answerError(req, res, url, error);
    }
  };

  /** Client mistakes get their OCI code; anything else is the server's fault: 500 UNKNOWN, no paths or stack in the answer. */
  const answerError = (req: IncomingMessage, res: ServerResponse, url: URL, error: unknown): void => {
    if (error instanceof HttpError) return sendOciError(res, error.code, error.message, error.detail, error.status, error.headers);
    if (isPolyarchError(error) && isOciErrorCode(error.code)) return sendOciError(res, error.code, error.message, error.detail);
    const aborted = req.destroyed && !req.complete;
    if (!aborted) options.onError?.(error, { method: req.method ?? 'GET', path: url.pathname });
    const errno = (error as NodeJS.ErrnoException | undefined)?.code;
    sendOciError(res, 'UNKNOWN', `internal error${typeof errno === 'string' && /^[A-Z0-9_]{1,40}$/.test(errno) ? ` (${errno})` : ''}`);
  };

  // Nothing a request does may take the process down: whatever escapes ends that connection only.
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const done = options.onRequest?.();
    if (done) res.once('close', done);
    res.on('error', () => res.destroy()); // a write after the end or to a gone client is that request's problem
    handler(req, res).catch(() => res.destroy());
  };
  const server: Server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const scheme = options.tlsCert ? 'https' : 'http';
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    options.signal?.removeEventListener('abort', onAbort);
    closing ??= new Promise((resolve) => {
      storage.stopPurging();
      for (const socket of sockets) socket.destroy();
      server.close(() => void (auth ? auth.close() : Promise.resolve()).then(() => resolve()));
    });
    return closing;
  };
  const onAbort = (): void => void close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) {
    // Aborted while the store was being opened: nothing may stay running.
    await close();
    throwIfInterrupted(options.signal);
  }

  return {
    storage,
    listen(port, host = '127.0.0.1') {
      if (!Number.isSafeInteger(port) || port < 0 || port > 65535) return Promise.reject(new PolyarchError('USAGE', `cannot listen on port ${String(port)}: a port is a whole number from 0 to 65535`));
      if (options.signal?.aborted || closing) return Promise.reject(options.signal?.aborted ? interruptedError(options.signal) : new PolyarchError('USAGE', 'the registry server is closed'));
      return new Promise((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) =>
          reject(
            error.code === 'EADDRINUSE'
              ? new PolyarchError('ADDRESS_IN_USE', `cannot listen on ${host}:${port}: address in use`, { cause: error })
              : new PolyarchError('USAGE', `cannot listen on ${host}:${port}: ${error.message}`, { cause: error }),
          ),
        );
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({ host: `${shown}:${address.port}`, port: address.port, url: `${scheme}://${shown}:${address.port}` });
        });
      });
    },
    close,
  };
}

