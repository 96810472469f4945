// The embedded OCI registry (distribution-spec v1.1) on node:http, storing on disk under `root`.
// Answers only with codes from the shared table (errors/codes.ts).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFile } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { digestOfBytes, isDigest, type Digest } from '../digest/digest.js';
import { isPolyarchError, PolyarchError } from '../errors/polyarch-error.js';
import { parseJsonObject, MAX_MANIFEST_SIZE } from '../image/raw-manifest.js';
import { baseMediaType, isImageManifest, isIndex } from '../mediatype/mediatype.js';
import { readAllLimited } from '../internal/streams.js';
import { HttpError, sendOciError } from './error-response.js';
import { loadHtpasswd, type HtpasswdAuth } from './htpasswd.js';
import { RegistryStorage } from './storage.js';
import { PAGE_CSP, pageAsset, renderPage, SECURITY_HEADERS } from './ui/page.js';
import { listRepositories } from './ui/api.js';

export interface RegistryServerOptions {
  /** Where blobs, repositories and uploads live. */
  readonly root: string;
  /** bcrypt htpasswd file: every request needs Basic credentials (reads too, unless anonymousRead). */
  readonly htpasswd?: string;
  readonly anonymousRead?: boolean;
  /** Refuse every write with DENIED. */
  readonly readOnly?: boolean;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

export interface RegistryServer {
  /** Starts listening; resolves with the address actually bound (port 0 picks a free one). */
  listen(port: number, host?: string): Promise<{ readonly host: string; readonly port: number; readonly url: string }>;
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
async function getManifest(ctx: Context, name: string, reference: string, head: boolean): Promise<void> {
  if (!isDigest(reference) && !TAG.test(reference)) throw new HttpError('MANIFEST_INVALID', `invalid reference ${JSON.stringify(reference)}`);
  const digest = await ctx.storage.resolve(name, reference);
  const found = digest && (await ctx.storage.manifestOf(name, digest));
  if (!digest || !found) throw new HttpError('MANIFEST_UNKNOWN', undefined, { detail: { name, reference } });
  const headers = { 'content-type': found.mediaType, 'docker-content-digest': digest, etag: `"${digest}"` };
  if (head) {
    ctx.res.writeHead(200, { ...headers, 'content-length': found.bytes.length });
    ctx.res.end();
  } else send(ctx.res, 200, headers, found.bytes);
}

async function putManifest(ctx: Context, name: string, reference: string): Promise<void> {
  if (!isDigest(reference) && !TAG.test(reference)) throw new HttpError('MANIFEST_INVALID', `invalid tag ${JSON.stringify(reference)}`);
  let bytes: Buffer;
  try {
    bytes = await readAllLimited(ctx.req, MAX_MANIFEST_SIZE, 'manifest');
  } catch {
    throw new HttpError('SIZE_INVALID', `manifest larger than ${MAX_MANIFEST_SIZE} bytes`, { status: 413 });
  }
  const digest = digestOfBytes(bytes);
  if (isDigest(reference) && reference !== digest) throw new HttpError('DIGEST_INVALID', `manifest digest is ${digest}, not ${reference}`);
  const contentType = baseMediaType(ctx.req.headers['content-type'] ?? '');
  let body: Record<string, unknown>;
  try {
    body = parseJsonObject(bytes, 'manifest');
  } catch (error) {
    throw new HttpError('MANIFEST_INVALID', (error as Error).message);
  }
  const declared = typeof body.mediaType === 'string' ? body.mediaType : undefined;
  if (declared && contentType && declared !== contentType) throw new HttpError('MANIFEST_INVALID', `Content-Type ${contentType} does not match the manifest's mediaType ${declared}`);
  const mediaType = declared ?? contentType;
  if (!mediaType) throw new HttpError('MANIFEST_INVALID', 'no media type: set Content-Type or mediaType');
  const missing: string[] = [];
  if (isImageManifest(mediaType)) {
    const refs = [body.config, ...(Array.isArray(body.layers) ? body.layers : [])] as { digest?: string; urls?: unknown }[];
    if (!body.config || !Array.isArray(body.layers)) throw new HttpError('MANIFEST_INVALID', 'an image manifest needs config and layers');
    for (const d of refs) {
      if (!d || typeof d.digest !== 'string' || !isDigest(d.digest)) throw new HttpError('MANIFEST_INVALID', 'a descriptor has no valid digest');
      if (Array.isArray(d.urls)) continue; // foreign layers live elsewhere
      if (!(await ctx.storage.hasBlob(name, d.digest))) missing.push(d.digest);
    }
  } else if (isIndex(mediaType)) {
    if (!Array.isArray(body.manifests)) throw new HttpError('MANIFEST_INVALID', 'an index needs manifests');
    for (const d of body.manifests as { digest?: string; mediaType?: string }[]) {
      if (!d || typeof d.digest !== 'string' || !isDigest(d.digest)) throw new HttpError('MANIFEST_INVALID', 'an index entry has no valid digest');
      if (typeof d.mediaType === 'string' && (isIndex(d.mediaType) || isImageManifest(d.mediaType)) && !(await ctx.storage.hasManifest(name, d.digest))) missing.push(d.digest);
    }
  } else {
    throw new HttpError('MANIFEST_INVALID', `unsupported manifest media type ${mediaType}`);
  }
  if (missing.length > 0) throw new HttpError('MANIFEST_BLOB_UNKNOWN', `unknown: ${missing.join(', ')}`, { detail: { digests: missing } });
  await ctx.storage.putManifest(name, digest, bytes, mediaType, isDigest(reference) ? undefined : reference);
  const subject = (body.subject as { digest?: string } | undefined)?.digest;
  send(ctx.res, 201, { location: `/v2/${name}/manifests/${digest}`, 'docker-content-digest': digest, ...(subject ? { 'oci-subject': subject } : {}) });
}

async function deleteManifest(ctx: Context, name: string, reference: string): Promise<void> {
  const done = isDigest(reference) ? await ctx.storage.deleteManifest(name, reference) : TAG.test(reference) && (await ctx.storage.deleteTag(name, reference));
  if (!done) throw new HttpError('MANIFEST_UNKNOWN');
  send(ctx.res, 202);
}

// ---- blobs ----
async function getBlob(ctx: Context, name: string, digestText: string, head: boolean): Promise<void> {
  if (!isDigest(digestText)) throw new HttpError('DIGEST_INVALID', `invalid digest ${JSON.stringify(digestText)}`);
  if (!(await ctx.storage.hasBlob(name, digestText))) throw new HttpError('BLOB_UNKNOWN', undefined, { detail: { digest: digestText } });
  const size = await ctx.storage.blobSize(digestText);
  const headers = { 'content-type': 'application/octet-stream', 'docker-content-digest': digestText, etag: `"${digestText}"`, 'accept-ranges': 'bytes' };
  const range = /^bytes=(\d+)-(\d*)$/.exec(ctx.req.headers.range ?? '');
  if (range) {
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start >= size || start > end) {
      send(ctx.res, 416, { 'content-range': `bytes */${size}` });
      return;
    }
    ctx.res.writeHead(206, { ...headers, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` });
    if (head) ctx.res.end();
    else ctx.storage.openBlobRange(digestText, start, end).pipe(ctx.res);
    return;
  }
  ctx.res.writeHead(200, { ...headers, 'content-length': size });
  if (head) ctx.res.end();
  else ctx.storage.openBlobRange(digestText).pipe(ctx.res);
}

function uploadHeaders(name: string, id: string, size: number): Record<string, string> {
  return { location: `/v2/${name}/blobs/uploads/${id}`, range: `0-${Math.max(0, size - 1)}`, 'docker-upload-uuid': id };
}

async function startUpload(ctx: Context, name: string): Promise<void> {
  const mount = ctx.url.searchParams.get('mount');
  const from = ctx.url.searchParams.get('from');
  if (mount !== null && from !== null && isDigest(mount) && NAME.test(from) && (await ctx.storage.hasBlob(from, mount))) {
    await drain(ctx.req);
    await ctx.storage.linkBlob(name, mount);
    send(ctx.res, 201, { location: `/v2/${name}/blobs/${mount}`, 'docker-content-digest': mount });
    return;
  }
  const digestParam = ctx.url.searchParams.get('digest');
  if (digestParam !== null) {
    const digest = parseDigestParam(digestParam);
    await storeVerified(ctx.storage.putBlob(name, digest, ctx.req, lengthOf(ctx.req)));
    send(ctx.res, 201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest });
    return;
  }
  await drain(ctx.req);
  const state = await ctx.storage.startUpload(name);
  send(ctx.res, 202, { ...uploadHeaders(name, state.id, 0), range: '0-0' });
}

function lengthOf(req: IncomingMessage): number | undefined {
  const text = req.headers['content-length'];
  return text === undefined ? undefined : Number(text);
}

/** A verification failure while storing becomes DIGEST_INVALID / SIZE_INVALID; nothing is kept. */
async function storeVerified(work: Promise<unknown>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (isPolyarchError(error) && error.code === 'DIGEST_MISMATCH') throw new HttpError('DIGEST_INVALID', error.message);
    if (isPolyarchError(error) && error.code === 'SIZE_MISMATCH') throw new HttpError('SIZE_INVALID', error.message);
    throw error;
  }
}

async function continueUpload(ctx: Context, name: string, id: string, method: string): Promise<void> {
  const state = ctx.storage.upload(id, name);
  if (!state) {
    await drain(ctx.req);
    throw new HttpError('BLOB_UPLOAD_UNKNOWN');
  }
  if (method === 'GET') {
    send(ctx.res, 204, uploadHeaders(name, id, state.size));
    return;
  }
  if (method === 'DELETE') {
    await ctx.storage.cancelUpload(state);
    send(ctx.res, 204);
    return;
  }
  const range = ctx.req.headers['content-range'];
  if (method === 'PATCH' && range !== undefined) {
    const match = /^(?:bytes )?(\d+)-(\d+)$/.exec(range);
    // An out-of-order chunk is refused without touching the session (416 + where it stands).
    if (!match || Number(match[1]) !== state.size) {
      await drain(ctx.req);
      send(ctx.res, 416, uploadHeaders(name, id, state.size));
      return;
    }
  }
  if (method === 'PATCH' || (lengthOf(ctx.req) ?? 0) > 0 || ctx.req.headers['transfer-encoding']) await ctx.storage.appendUpload(state, ctx.req);
  else await drain(ctx.req);
  if (method === 'PATCH') {
    send(ctx.res, 202, uploadHeaders(name, id, state.size));
    return;
  }
  const digest = parseDigestParam(ctx.url.searchParams.get('digest'));
  if (!(await ctx.storage.finishUpload(state, digest))) {
    await ctx.storage.cancelUpload(state);
    throw new HttpError('DIGEST_INVALID', `uploaded content does not match ${digest}`);
  }
  send(ctx.res, 201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest });
}

// ---- listings ----
function page(items: readonly string[], url: URL, path: string): { items: string[]; link?: string } {
  const last = url.searchParams.get('last');
  const nText = url.searchParams.get('n');
  const after = last === null ? [...items] : items.filter((i) => i > last);
  if (nText === null) return { items: after };
  const n = Number.parseInt(nText, 10);
  if (!Number.isSafeInteger(n) || n < 0) throw new HttpError('UNSUPPORTED', `invalid n ${JSON.stringify(nText)}`, { status: 400 });
  const slice = after.slice(0, n);
  const more = after.length > n && slice.length > 0;
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
      if (!isDigest(rest)) throw new HttpError('DIGEST_INVALID');
      if (!(await ctx.storage.unlinkBlob(name, rest))) throw new HttpError('BLOB_UNKNOWN');
      return send(ctx.res, 202);
    }
  }
  throw new HttpError('UNSUPPORTED', `${method} ${path} is not supported`);
}

function isWrite(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD';
}

export async function createRegistryServer(options: RegistryServerOptions): Promise<RegistryServer> {
  const storage = new RegistryStorage(options.root);
  await storage.init();
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) throw new PolyarchError('USAGE', 'give both --tls-cert and --tls-key, or neither');
  const auth: HtpasswdAuth | undefined = options.htpasswd ? await loadHtpasswd(options.htpasswd) : undefined;

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
      if (url.pathname === '/' && req.method === 'GET') {
        await requireLogin(req, res);
        return send(res, 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': PAGE_CSP }, renderPage());
      }
      if (asset) {
        await requireLogin(req, res);
        return send(res, 200, { 'content-type': asset.contentType, 'cache-control': 'no-cache' }, asset.body);
      }
      if (url.pathname === '/api/repositories' && req.method === 'GET') {
        await requireLogin(req, res);
        return send(res, 200, { 'content-type': 'application/json', 'cache-control': 'no-store' }, JSON.stringify(await listRepositories(storage)));
      }
      await requireLogin(req, res);
      if (options.readOnly && isWrite(req.method ?? 'GET') && url.pathname.startsWith('/v2/')) {
        await drain(req);
        throw new HttpError('DENIED', 'this registry is read-only');
      }
      await route({ req, res, url, storage });
    } catch (error) {
      if (error instanceof HttpError) sendOciError(res, error.code, error.message, error.detail, error.status);
      else sendOciError(res, 'UNSUPPORTED', `internal error: ${(error as Error).message}`, undefined, 500);
    }
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => void handler(req, res);
  const server: Server =
    options.tlsCert && options.tlsKey
      ? createHttpsServer({ cert: await readFile(options.tlsCert), key: await readFile(options.tlsKey) }, listener)
      : createHttpServer(listener);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const scheme = options.tlsCert ? 'https' : 'http';

  return {
    storage,
    listen(port, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) =>
          reject(new PolyarchError('USAGE', `cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'address in use' : error.message}`, { cause: error })),
        );
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({ host: `${shown}:${address.port}`, port: address.port, url: `${scheme}://${shown}:${address.port}` });
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => void (auth ? auth.close() : Promise.resolve()).then(() => resolve()));
      });
    },
  };
}

