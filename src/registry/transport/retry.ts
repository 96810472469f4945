// Retries what is safe to repeat: throttling (429), server trouble (5xx) and dropped
// connections, with exponential back-off and the server's Retry-After.
import { PolyarchError } from '../../errors/polyarch-error.js';
import { causeCodes, discardBody, headerValue, isStreamedBody, type Fetcher, type HttpRequest } from './http.js';

export interface RetryOptions {
  /** Extra attempts after the first (default 3). */
  readonly retries?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the answer is returned as it is. */
  readonly maxRetryAfterMs?: number;
}

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
]);

/** A request can be sent again when its body is in memory and it was not marked otherwise. */
export function isReplayable(request: HttpRequest): boolean {
  return request.retry !== false && !isStreamedBody(request.body);
}

/** Milliseconds a Retry-After header asks for (delta-seconds or an HTTP date). */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function withRetry(fetcher: Fetcher, options: RetryOptions = {}): Fetcher {
  const retries = Math.max(0, options.retries ?? 3);
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 10_000;
  const maxRetryAfter = options.maxRetryAfterMs ?? 60_000;
  // A refused connection before any answer means "nothing listens there": fail fast. After a
  // success it means the registry is restarting: worth waiting for.
  const answered = new Set<string>();
  const backoff = (attempt: number): number => Math.min(max, base * 2 ** attempt) * (0.5 + Math.random() / 2);

  const transient = (error: unknown, origin: string): boolean => {
    if (!(error instanceof PolyarchError) || error.code !== 'NETWORK') return false;
    const codes = causeCodes(error);
    return codes.some((c) => TRANSIENT_CODES.has(c)) || (answered.has(origin) && codes.includes('ECONNREFUSED'));
  };

  return {
    async fetch(request) {
      const origin = new URL(request.url).origin;
      const replayable = isReplayable(request);
      for (let attempt = 0; ; attempt++) {
        const last = !replayable || attempt >= retries;
        let response;
        try {
          response = await fetcher.fetch(request);
        } catch (error) {
          if (last || request.signal?.aborted || !transient(error, origin)) throw error;
          await sleep(backoff(attempt), request.signal);
          continue;
        }
        answered.add(origin);
        if (last || !RETRY_STATUSES.has(response.status)) return response;
        const asked = retryAfterMs(headerValue(response.headers, 'retry-after'));
        if (asked !== undefined && asked > maxRetryAfter) return response;
        await discardBody(response.body);
        await sleep(asked ?? backoff(attempt), request.signal);
      }
    },
    close: () => fetcher.close(),
  };
}
