// A plain-HTTP GET whose body is a blob, read off the socket 256 KiB at a time. Node's HTTP client
// reads 64 KiB at a time and its parser copies each piece again: `perf` put that near half of a
// verify's main thread. Here a verify of the 630 MB bench index went 1.91 → 1.65 s.
// Only the simplest answer is taken: a status line, headers, and a Content-Length body (or a
// redirect, whose body is never read). Anything else (chunked or close-delimited bodies,
// informational answers, a head too long or malformed) is not an error but "ask again through
// node:http": the request is a bodiless GET, so sending it twice is safe. Each bulk GET has a
// connection of its own, closed when its body ends. HTTPS stays with node:http. A copy drains the
// body instead of streaming it: the socket reads into three buffers in turn, each lent to the
// taker until its piece is written, and reading pauses while none is free.
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { asError } from '../../errors/polyarch-error.js';
import type { PieceTaker } from '../../internal/streams.js';

/** A response head longer than this is not a registry's. */
const MAX_HEAD_BYTES = 64 * 1024;
/** One read of the socket takes at most this much (128 KiB and 1 MiB measured the same or slower). */
const READ_BYTES = 256 * 1024;
/**
 * Receive buffers of a body drained by a taker: one being read into while the others' pieces are
 * with the taker (written to a file). Two and four measured the same.
 */
const DRAIN_BUFFERS = 3;

/**
 * A body that can also be drained without a stream: `drainInto` hands each piece, as the socket
 * read it (no copy), to a taker. Used by copies (into a file, or an upload's connection), where
 * the stream's copy of every read and its garbage were most of the work after hashing.
 */
export class BulkBody extends Readable {
  readonly #drain: (take: PieceTaker) => Promise<void>;

  constructor(read: () => void, destroy: (error: Error | null, callback: (error?: Error | null) => void) => void, drain: (take: PieceTaker) => Promise<void>) {
    super({ highWaterMark: READ_BYTES, read, destroy });
    this.#drain = drain;
  }

  /**
   * Hands every byte of the body not yet read to `take`, in order, and settles once the last
   * take has: rejects with the connection's error (coded as a cut) or the taker's. Only for a
   * body nobody reads or pipes.
   */
  drainInto(take: PieceTaker): Promise<void> {
    return this.#drain(take);
  }
}

export interface BulkResponse {
  readonly status: number;
  /** Lower-case names; a repeated header's values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: BulkBody;
}

/** The answers http.ts follows to their Location. */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** The answer is not one this reader takes: send the request through the full client instead. */
export const ASK_AGAIN = Symbol('ask again through the full client');

/** A body being drained into a taker. */
interface Drain {
  readonly take: PieceTaker;
  /** Takes under way. */
  taking: number;
  /** Reads stopped: no buffer is spare (or the stream's bytes are still being taken). */
  paused: boolean;
  failure?: Error;
  settle: (failure?: Error) => void;
}

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
    let body: BulkBody | undefined;
    let left = 0;
    // The buffer the next read goes into; while a taker drains the body, the buffers of pieces it
    // has not finished with wait outside `spare` and reads pause when none is spare.
    let receive: Buffer = Buffer.allocUnsafe(READ_BYTES);
    let drain: Drain | undefined;
    const spare: Buffer[] = [];
    const onAbort = (): void => void socket.destroy(signal?.reason instanceof Error ? signal.reason : codedSocketError('aborted', 'ABORT_ERR'));
    const finish = (): void => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
    };
    /** Ends a drain once its last take has settled: with the first failure, if any. */
    const settleDrain = (): void => {
      if (drain && (drain.failure !== undefined || left === 0) && drain.taking === 0) drain.settle(drain.failure);
    };
    const failBody = (error: Error): void => {
      if (drain) {
        drain.failure ??= error;
        settleDrain();
      } else body?.destroy(error);
    };
    /** Hands a piece of the receive buffer to the drain's taker; false: no buffer is spare, pause. */
    const giveToTaker = (piece: Buffer): boolean => {
      const active = drain!;
      const lent = receive;
      receive = spare.pop()!;
      active.taking++;
      let taken: Promise<void>;
      try {
        taken = active.take(piece);
      } catch (error) {
        taken = Promise.reject(error); // a taker that throws fails the drain, never this callback
      }
      taken.then(
        () => {
          active.taking--;
          spare.push(lent);
          if (active.paused && active.failure === undefined) {
            active.paused = false;
            socket.resume();
          }
          settleDrain();
        },
        (error: unknown) => {
          active.taking--;
          socket.destroy();
          failBody(asError(error));
        },
      );
      active.paused = spare.length === 0;
      return !active.paused;
    };
    /** Body bytes as read; false: stop reading until the consumer asks for more. */
    const takeBody = (bytes: Buffer): boolean => {
      if (!body || bytes.length === 0) return true;
      const piece = bytes.length > left ? bytes.subarray(0, left) : bytes;
      left -= piece.length;
      const more = drain ? giveToTaker(piece) : body.push(Buffer.from(piece)); // the buffer is read into again: the stream gets a copy
      if (left === 0) {
        if (!drain) body.push(null);
        finish();
        settleDrain();
      }
      return more;
    };
    const startDrain = async (take: PieceTaker): Promise<void> => {
      if (drain || body!.readableFlowing !== null) throw new Error('bulk body drained twice or while streamed');
      // Reads stop while the bytes the stream already holds (copies) go first; a failure meanwhile waits here.
      socket.pause();
      const active: Drain = { take, taking: 0, paused: true, settle: () => undefined };
      drain = active;
      for (let chunk = body!.read() as Buffer | null; chunk !== null; chunk = body!.read() as Buffer | null) await take(chunk);
      if (body!.errored) throw body!.errored;
      return new Promise<void>((resolveDrain, rejectDrain) => {
        active.settle = (failure) => (failure ? rejectDrain(failure) : resolveDrain());
        for (let i = 1; i < DRAIN_BUFFERS; i++) spare.push(Buffer.allocUnsafe(READ_BYTES));
        active.paused = false;
        settleDrain();
        if (left > 0 && active.failure === undefined) socket.resume();
      });
    };
    const socket: Socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      onread: {
        // Asked after every read: a drain may have lent the last buffer to its taker.
        buffer: () => receive,
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          const read = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
          if (head === undefined) return takeBody(read);
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
          body = new BulkBody(
            () => void (drain ? undefined : socket.resume()),
            (error, callback) => {
              finish();
              callback(error);
            },
            startDrain,
          );
          resolve({ status: parsed.status, headers: parsed.headers, body });
          if (left === 0) {
            body.push(null);
            finish();
            return true;
          }
          return takeBody(rest);
        },
      },
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.setTimeout(timeoutMs, () => socket.destroy(silenceError(timeoutMs)));
    socket.once('connect', () => socket.write(request));
    socket.once('error', (error) => {
      if (body) failBody(error);
      else reject(error);
    });
    socket.once('close', () => {
      signal?.removeEventListener('abort', onAbort);
      if (head !== undefined) reject(codedSocketError('socket hang up', 'ECONNRESET'));
      else if (body && left > 0 && !body.destroyed) failBody(codedSocketError(`connection closed ${left} bytes short of the body's length`, 'ECONNRESET'));
    });
  });
}
