import type { ServerResponse } from 'node:http';
import { OCI_ERROR_CODES, type OciErrorCode } from '../errors/codes.js';

/** An OCI error body; the status comes from the shared code table, so client and server agree. */
export function sendOciError(res: ServerResponse, code: OciErrorCode, message?: string, detail?: unknown, status?: number): void {
  const entry = OCI_ERROR_CODES[code];
  const body = JSON.stringify({ errors: [{ code, message: message ?? entry.text, ...(detail !== undefined ? { detail } : {}) }] });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status ?? entry.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Raised inside a handler to answer with an OCI error. */
export class HttpError extends Error {
  readonly code: OciErrorCode;
  readonly status: number | undefined;
  readonly detail: unknown;
  constructor(code: OciErrorCode, message?: string, options: { status?: number; detail?: unknown } = {}) {
    super(message ?? OCI_ERROR_CODES[code].text);
    this.code = code;
    this.status = options.status;
    this.detail = options.detail;
  }
}
