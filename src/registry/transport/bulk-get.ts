// A plain-HTTP GET whose body is a blob, read off the socket 256 KiB at a time. Node's HTTP client
// reads 64 KiB at a time and its parser copies each piece again: `perf` put that near half of a
// verify's main thread. Here a verify of the 630 MB bench index went 1.91 → 1.65 s.
// Only the simplest answer is taken: a status line, headers, and a Content-Length body (or a
// redirect, whose body is never read). Anything else (chunked or close-delimited bodies,
// informational answers, a head too long or malformed) is not an error but "ask again through
// node:http": the request is a bodiless GET, so sending it twice is safe. Each bulk GET has a
// connection of its own, closed when its body ends. HTTPS stays with node:http.
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';

/** A response head longer than this is not a registry's. */
const MAX_HEAD_BYTES = 64 * 1024;
/** One read of the socket takes at most this much (128 KiB and 1 MiB measured the same or slower). */
const READ_BYTES = 256 * 1024;

export interface BulkResponse {
  readonly status: number;
  /** Lower-case names; a repeated header's values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readable;
}

/** The answers http.ts follows to their Location. */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** The answer is not one this reader takes: send the request through the full client instead. */
export const ASK_AGAIN = Symbol('ask again through the full client');

interface Head {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Body bytes, or undefined when the framing is not a plain length. */
  readonly length: number | undefined;
}

/** Status line and headers, or undefined when they are not well-formed HTTP/1.x. */
function parseHead(text: string): Head | undefined {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] ([1-5]\d\d)(?: [^\r\n]*)?$/.exec(lines[0] ?? '');
  if (!status) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    // Folded lines, names with spaces and empty names are not taken (RFC 9112 5.1, 5.2).
    if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    // Control characters (a bare LF, NUL, escape sequences) have no place in a value (RFC 9110 5.5).
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return undefined;
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const code = Number(status[1]);
  const lengthText = headers['content-length'];
  let length: number | undefined;
  // A redirect's body is never read (the connection closes after it), whatever its framing.
  if (code === 204 || code === 304 || REDIRECT_STATUSES.has(code)) length = 0;
  else if (code >= 200 && headers['transfer-encoding'] === undefined && lengthText !== undefined && /^\d{1,15}$/.test(lengthText)) length = Number(lengthText);
  return { status: code, headers, length };
}

/** A socket error with a code, as http.ts's translation expects (`ETIMEDOUT` for silence, `ECONNRESET` for a cut). */
function codedSocketError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** What a connection silent for `ms` is ended with: a cut (ETIMEDOUT), for the retry and resume layers. */
export function silenceError(ms: number): Error {
  return codedSocketError(`no answer for ${ms / 1000} s`, 'ETIMEDOUT');
}

/**
 * Sends `GET url` (plain HTTP) with `headers` and resolves with the answer once its head is read, or
 * with ASK_AGAIN when the answer is not a plain-length one. Rejects like node:http does on a
 * connection failure (with the socket's error code) and on `signal`.
 */
export function bulkGet(url: URL, headers: Readonly<Record<string, string>>, timeoutMs: number, signal: AbortSignal | undefined): Promise<BulkResponse | typeof ASK_AGAIN> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    let request = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: close\r\n`;
    try {
      for (const [name, value] of Object.entries(headers)) {
        validateHeaderName(name);
        validateHeaderValue(name, value);
        if (name.toLowerCase() !== 'host' && name.toLowerCase() !== 'connection') request += `${name}: ${value}\r\n`;
      }
    } catch (error) {
      return reject(error);
    }
    request += '\r\n';

    let head: Buffer | undefined = Buffer.alloc(0);
    let body: Readable | undefined;
    let left = 0;
    const receive = Buffer.allocUnsafe(READ_BYTES);
    const onAbort = (): void => void socket.destroy(signal?.reason instanceof Error ? signal.reason : codedSocketError('aborted', 'ABORT_ERR'));
    const finish = (): void => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
    };
    const takeBody = (bytes: Buffer): void => {
      if (!body || bytes.length === 0) return;
      const piece = bytes.length > left ? bytes.subarray(0, left) : bytes;
      left -= piece.length;
      // The receive buffer is read into again: the body gets a copy of what it is handed.
      if (!body.push(Buffer.from(piece))) socket.pause();
      if (left === 0) {
        body.push(null);
        finish();
      }
    };
    const socket: Socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      onread: {
        buffer: receive,
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          const read = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
          if (head === undefined) {
            takeBody(read);
            return true;
          }
          head = Buffer.concat([head, read]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) {
            if (head.length > MAX_HEAD_BYTES) {
              finish();
              resolve(ASK_AGAIN);
            }
            return true;
          }
          const parsed = end <= MAX_HEAD_BYTES ? parseHead(head.subarray(0, end).toString('latin1')) : undefined;
          const rest = head.subarray(end + 4);
          head = undefined;
          if (parsed === undefined || parsed.length === undefined) {
            finish();
            resolve(ASK_AGAIN);
            return true;
          }
          left = parsed.length;
          body = new Readable({
            highWaterMark: READ_BYTES,
            read: () => void socket.resume(),
            destroy: (error, callback) => {
              finish();
              callback(error);
            },
          });
          resolve({ status: parsed.status, headers: parsed.headers, body });
          if (left === 0) {
            body.push(null);
            finish();
          } else {
            takeBody(rest);
          }
          return true;
        },
      },
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.setTimeout(timeoutMs, () => socket.destroy(silenceError(timeoutMs)));
    socket.once('connect', () => socket.write(request));
    socket.once('error', (error) => {
      if (body) body.destroy(error);
      else reject(error);
    });
    socket.once('close', () => {
      signal?.removeEventListener('abort', onAbort);
      if (head !== undefined) reject(codedSocketError('socket hang up', 'ECONNRESET'));
      else if (body && left > 0 && !body.destroyed) body.destroy(codedSocketError(`connection closed ${left} bytes short of the body's length`, 'ECONNRESET'));
    });
  });
}
