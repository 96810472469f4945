// Raw HTTP for attack tests: exact headers, bodies sent in timed pieces, and an honest account of
// how the exchange ended (answered, or the connection dropped) instead of a fetch-level guess.
import { request } from 'node:http';

export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /** True when the connection closed before the whole body arrived. */
  readonly aborted: boolean;
}

export interface RawRequest {
  readonly method?: string;
  readonly headers?: Record<string, string | number>;
  /** Sent in order; a number is a pause in milliseconds between pieces. */
  readonly body?: Buffer | string | readonly (Buffer | string | number)[];
}

/** One request on its own connection; rejects only when no answer arrived at all. */
export function rawRequest(url: string, options: RawRequest = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let settled = false;
      const finish = (aborted: boolean): void => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), aborted });
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish(false));
      res.on('error', () => finish(true));
      res.on('aborted', () => finish(true));
      res.on('close', () => finish(!res.complete));
    });
    req.on('error', reject);
    const pieces = options.body === undefined ? [] : Array.isArray(options.body) ? options.body : [options.body as Buffer | string];
    void (async () => {
      for (const piece of pieces) {
        if (typeof piece === 'number') await new Promise((r) => setTimeout(r, piece));
        else if (!req.destroyed) req.write(piece);
      }
      if (!req.destroyed) req.end();
    })();
  });
}

/** The first OCI error code of an answer body, or undefined when the body is not one. */
export function ociCode(answer: { body: Buffer }): string | undefined {
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = parsed.errors?.[0];
    return typeof first?.code === 'string' && typeof first.message === 'string' ? first.code : undefined;
  } catch {
    return undefined;
  }
}
