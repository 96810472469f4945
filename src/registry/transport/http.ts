// The bottom of the HTTP stack: one pair of keep-alive agents (node:http and node:https) per
// client, the only place TLS settings live. Node's own HTTP client is used rather than a package:
// it parses in C++ and costs nothing to load, where undici's WASM parser cost about 15 MB of memory
// and tens of milliseconds of start-up in every command that talks to a registry.
// Redirects are followed here (blob GETs may go to storage); every hop is checked by origin.ts,
// so credentials ride only on hops to the origin the request was first sent to.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { asError, PolyarchError } from '../../errors/polyarch-error.js';
import { redactUrl } from '../../internal/redact.js';
import type { PieceTaker } from '../../internal/streams.js';
import { readRegularFile } from '../../internal/regular-file.js';
import { ASK_AGAIN, bulkGet, REDIRECT_STATUSES, silenceError } from './bulk-get.js';
import { mayCarryCredentials, originOf, withoutCredentials } from './origin.js';

export interface FetcherOptions {
  /** Accept any TLS certificate (the registry is insecure by the user's choice). */
  readonly insecure?: boolean;
  /** Extra PEM CA certificates trusted besides the system roots. */
  readonly caFile?: string;
  readonly userAgent?: string;
  /**
   * Milliseconds a connection may stay silent: connecting, waiting for the headers, and between
   * two pieces of a body (default 60 s). A stalled server fails the request as a cut connection,
   * which the retry and resume layers handle.
   */
  readonly timeoutMs?: number;
  /** TLS settings only known after reading settings files; asked for once, before the first request, and added to the fields above. */
  readonly tls?: () => Promise<TlsSettings>;
}

/** Per-registry TLS settings (from settings files). */
export interface TlsSettings {
  readonly insecure?: boolean;
  /** PEM CA certificate files trusted besides the system roots. */
  readonly caFiles?: readonly string[];
  /** Client certificates for mutual TLS. */
  readonly keypairs?: readonly { readonly cert: string; readonly key: string }[];
}

/** A CA bundle, certificate or key is small; anything larger is not one. */
const MAX_PEM_BYTES = 1024 * 1024;

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readRegularFile(path, MAX_PEM_BYTES);
  } catch (error) {
    throw new PolyarchError('CONFIG_INVALID', `cannot read ${what} "${path}": ${(error as Error).message}`, { cause: error });
  }
}

export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * A request body handed over piece by piece by `read` (a blob moving without a stream): each
 * piece's take settles once the connection has taken it, so its memory can be read into again.
 * Sent once: never replayed nor redirected, like a Readable.
 */
export class PieceBody {
  readonly read: (take: PieceTaker) => Promise<void>;
  constructor(read: (take: PieceTaker) => Promise<void>) {
    this.read = read;
  }
}

export type HttpBody = string | Buffer | Uint8Array | Readable | PieceBody;

/** A body read as it is sent, so a request carrying it cannot be sent again. */
export function isStreamedBody(body: HttpBody | undefined): body is Readable | PieceBody {
  return body instanceof Readable || body instanceof PieceBody;
}

export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly body?: HttpBody | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Redirects to follow (default 10); a redirect is never followed with a streamed body. */
  readonly maxRedirects?: number | undefined;
  /** false: never send this request twice (an upload chunk). */
  readonly retry?: boolean | undefined;
  /** The body holds credentials (a token request's form): never follow a redirect off its origin. */
  readonly secretBody?: boolean | undefined;
  /** The answer's body is a blob: a plain-HTTP GET reads it in large pieces (bulk-get.ts). */
  readonly bulk?: boolean | undefined;
}

export type HttpHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface HttpResponse {
  readonly status: number;
  /** The URL that answered, after redirects. */
  readonly url: string;
  readonly headers: HttpHeaders;
  /** Must be consumed or discarded, or the connection stays busy. */
  readonly body: Readable;
}

export interface Fetcher {
  fetch(request: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

interface Agents {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
  readonly timeout: number;
}

/** A response as both readers give it. */
type Answer = Omit<HttpResponse, 'url'>;

/** A blob GET over plain HTTP through bulk-get.ts, or through node:http when it does not take the answer. */
async function sendBulk(agents: Agents, url: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Answer> {
  const answer = await bulkGet(new URL(url), headers, agents.timeout, signal);
  return answer === ASK_AGAIN ? send(agents, url, 'GET', headers, undefined, signal) : answer;
}

/** Methods that carry a body: without one they still say `content-length: 0`, as registries expect. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * One request and its response headers. The socket's silence timer runs from connecting to the
 * body's last byte, so a server that stalls mid-body cuts the body with ETIMEDOUT.
 */
function send(agents: Agents, url: string, method: string, headers: Record<string, string>, body: HttpBody | undefined, signal: AbortSignal | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const sent: Record<string, string> = { ...headers };
    const hasLength = Object.keys(sent).some((name) => name.toLowerCase() === 'content-length');
    if (!hasLength && !isStreamedBody(body)) {
      const length = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      if (body !== undefined || BODY_METHODS.has(method)) sent['content-length'] = String(length);
    }
    const req = (secure ? httpsRequest : httpRequest)(target, {
      method,
      headers: sent,
      agent: secure ? agents.https : agents.http,
      timeout: agents.timeout,
      ...(signal ? { signal } : {}),
    });
    req.on('timeout', () => req.destroy(silenceError(agents.timeout)));
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }));
    if (body instanceof Readable) {
      // A body that fails (a digest mismatch upstream) fails the request with its own error.
      body.once('error', (error) => req.destroy(error));
      body.pipe(req);
    } else if (body instanceof PieceBody) {
      let sent = false;
      const write: PieceTaker = (piece) => new Promise((resolveWrite, rejectWrite) => req.write(piece, (error) => (error ? rejectWrite(error) : resolveWrite())));
      body.read(write).then(
        () => {
          sent = true;
          req.end();
        },
        (error: unknown) => req.destroy(asError(error)),
      );
      // An answer before the whole body (a refusal): once it is read, the rest is not sent, and
      // the failed writes stop the source.
      req.once('response', (res: IncomingMessage) => res.once('close', () => void (sent ? undefined : req.destroy())));
    } else {
      req.end(body);
    }
  });
}

export function createFetcher(options: FetcherOptions = {}): Fetcher {
  let agents: Promise<Agents> | undefined;
  const agentsFor = (): Promise<Agents> =>
    (agents ??= (async () => {
      const tls = options.tls ? await options.tls() : {};
      const caFiles = [...(options.caFile !== undefined ? [options.caFile] : []), ...(tls.caFiles ?? [])];
      const ca = caFiles.length > 0 ? [...rootCertificates, ...(await Promise.all(caFiles.map((file) => readPem(file, 'CA file'))))] : undefined;
      const keypairs = tls.keypairs ?? [];
      const cert = await Promise.all(keypairs.map((pair) => readPem(pair.cert, 'client certificate')));
      const key = await Promise.all(keypairs.map((pair) => readPem(pair.key, 'client key')));
      const insecure = options.insecure === true || tls.insecure === true;
      const timeout = options.timeoutMs !== undefined && options.timeoutMs > 0 ? options.timeoutMs : DEFAULT_TIMEOUT_MS;
      // Idle connections are kept for reuse and closed after the same silence as a request's.
      return {
        http: new HttpAgent({ keepAlive: true, timeout }),
        https: new HttpsAgent({ keepAlive: true, timeout, rejectUnauthorized: !insecure, ...(ca ? { ca } : {}), ...(cert.length > 0 ? { cert, key } : {}) }),
        timeout,
      };
    })());
  const userAgent = options.userAgent ?? 'polyarch';

  return {
    async fetch(req) {
      const d = await agentsFor();
      // Credentials in the caller's headers belong to the origin the request was sent to.
      const owner = originOf(req.url);
      let url = req.url;
      let method = req.method;
      let body = req.body;
      let headers: Record<string, string> = { 'user-agent': userAgent, ...req.headers };
      let left = req.maxRedirects ?? 10;
      for (;;) {
        let res: Answer;
        try {
          const sent = mayCarryCredentials(owner, url) ? headers : withoutCredentials(headers);
          const bulk = req.bulk === true && method === 'GET' && body === undefined && url.startsWith('http:');
          res = await (bulk ? sendBulk(d, url, sent, req.signal) : send(d, url, method, sent, body, req.signal));
        } catch (error) {
          throw translateError(error, method, url, req.signal);
        }
        const status = res.status;
        const location = headerValue(res.headers, 'location');
        let next: URL | undefined;
        try {
          next = location === undefined ? undefined : new URL(location, url);
        } catch {
          next = undefined; // an unparsable Location is not followed
        }
        const stop =
          !REDIRECT_STATUSES.has(status) ||
          next === undefined ||
          (next.protocol !== 'http:' && next.protocol !== 'https:') ||
          left <= 0 ||
          isStreamedBody(body) ||
          (req.secretBody === true && !mayCarryCredentials(owner, next));
        if (stop || next === undefined) {
          return { status, url, headers: res.headers, body: res.body };
        }
        await discardBody(res.body);
        left--;
        // User info in a Location would become credentials of its own: dropped.
        next.username = '';
        next.password = '';
        if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
          if (method !== 'HEAD') method = 'GET';
          body = undefined;
          headers = Object.fromEntries(Object.entries(headers).filter(([name]) => !/^content-(type|length|range)$/i.test(name)));
        }
        url = next.toString();
      }
    },
    async close() {
      // Called when the work is done: what is left are idle keep-alive connections.
      const opened = agents && (await agents.catch(() => undefined));
      opened?.http.destroy();
      opened?.https.destroy();
    },
  };
}

/** A response header as one string (repeated headers joined with ", "). */
export function headerValue(headers: HttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Reads and drops a body so the connection can be reused (up to 64 KiB; a longer one is cut instead); never throws. */
export function discardBody(body: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (body.readableEnded || body.destroyed) return resolve();
    let left = 64 * 1024;
    const done = (): void => {
      body.off('data', count);
      resolve();
    };
    const count = (chunk: Buffer): void => {
      left -= chunk.length;
      if (left < 0) {
        body.destroy();
        done();
      }
    };
    body.on('data', count);
    body.once('end', done);
    body.once('close', done);
    body.once('error', done);
  });
}

/** Every `code` along an error's cause chain, outermost first. */
export function causeCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let e = error, depth = 0; e !== null && typeof e === 'object' && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

const CUT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** A response body that ended early: the connection was cut, went silent, or closed short of its length. */
export function isCutError(error: unknown): boolean {
  return causeCodes(error).some((c) => CUT_CODES.has(c)) || (error instanceof Error && /terminated|aborted|other side closed/i.test(error.message));
}

const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The certificate could not be verified (as opposed to the server not speaking TLS). */
export function isTlsVerifyError(error: unknown): boolean {
  return causeCodes(error).some((c) => TLS_VERIFY_CODES.has(c));
}

/** TLS alerts a server sends about the client's certificate: it wants one, or refuses the one given. */
const CLIENT_CERTIFICATE_ALERTS = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

/** The server ended the handshake over the client certificate (mutual TLS): none given, or one it does not accept. */
export function isClientCertificateRefusal(error: unknown): boolean {
  return causeCodes(error).some((c) => CLIENT_CERTIFICATE_ALERTS.has(c));
}

/** The TLS handshake got something that is not TLS: typically a plain-HTTP server. */
export function isTlsProtocolError(error: unknown): boolean {
  return !isClientCertificateRefusal(error) && causeCodes(error).some((c) => c === 'EPROTO' || c.startsWith('ERR_SSL_'));
}

const NETWORK_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed while sending',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNABORTED: 'connection aborted',
};

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}

/** Turns a socket or TLS failure into a one-line NETWORK or TLS error naming the request. */
export function translateError(error: unknown, method: string, url: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason ?? error;
  if (error instanceof PolyarchError) return error; // a request body's own failure (e.g. a digest mismatch upstream)
  const where = `${method} ${redactUrl(url)}`;
  const codes = causeCodes(error);
  const message = error instanceof Error ? firstLine(error.message) : String(error);
  if (isTlsVerifyError(error)) {
    return new PolyarchError('TLS', `${where}: TLS certificate not trusted (${message})`, { cause: error });
  }
  if (isClientCertificateRefusal(error)) {
    return new PolyarchError('TLS', `${where}: the registry refused the TLS client certificate, or wants one (${codes[0] ?? 'alert'})`, { cause: error });
  }
  if (isTlsProtocolError(error)) {
    return new PolyarchError('TLS', `${where}: TLS handshake failed, the server may speak plain HTTP (${codes[0] ?? 'EPROTO'})`, { cause: error });
  }
  const known = codes.map((c) => NETWORK_TEXT[c]).find((t) => t !== undefined);
  const code = codes.find((c) => NETWORK_TEXT[c] !== undefined) ?? codes[0];
  return new PolyarchError('NETWORK', `${where}: ${known ?? message}${code ? ` (${code})` : ''}`, { cause: error });
}
