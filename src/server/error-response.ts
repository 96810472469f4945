import type { ServerResponse } from 'node:http';
import { OCI_ERROR_CODES, type OciErrorCode } from '../errors/codes.js';

/** The codes the server answers with: the spec's table, plus UNKNOWN (500) for its own faults, as distribution does. */
export type ServerErrorCode = OciErrorCode | 'UNKNOWN';

const UNKNOWN_ENTRY = { status: 500, text: 'unknown error' } as const;

/**
 * An OCI error body; the status comes from the shared code table, so client and server agree.
 * When part of a response is already out, the only honest answer left is to cut the connection.
 */
export function sendOciError(res: ServerResponse, code: ServerErrorCode, message?: string, detail?: unknown, status?: number, headers: Record<string, string> = {}): void {
  const entry = code === 'UNKNOWN' ? UNKNOWN_ENTRY : OCI_ERROR_CODES[code];
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ errors: [{ code, message: message ?? entry.text, ...(detail !== undefined ? { detail } : {}) }] });
  res.writeHead(status ?? entry.status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Raised inside a handler to answer with an OCI error. */
export class HttpError extends Error {
  readonly code: ServerErrorCode;
  readonly status: number | undefined;
  readonly detail: unknown;
  /** Extra answer headers (Range, Connection). */
  readonly headers: Record<string, string>;
  constructor(code: ServerErrorCode, message?: string, options: { status?: number; detail?: unknown; headers?: Record<string, string> } = {}) {
    super(message ?? (code === 'UNKNOWN' ? UNKNOWN_ENTRY : OCI_ERROR_CODES[code]).text);
    this.code = code;
    this.status = options.status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}
