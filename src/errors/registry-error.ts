import { codeForStatus, isOciErrorCode, type ErrorCode } from './codes.js';
import { PolyarchError } from './polyarch-error.js';
import { redactUrl } from '../internal/redact.js';

/** One entry of a registry's `{"errors":[…]}` body; unknown codes are kept as they came. */
export interface OciErrorEntry {
  readonly code: string;
  readonly message?: string;
  readonly detail?: unknown;
}

/** The standard phrases of the statuses registries answer with (RFC 9110), for an answer with no error body. */
const STATUS_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A registry answered with an error status. */
export class RegistryError extends PolyarchError {
  override name = 'RegistryError';
  readonly errors: readonly OciErrorEntry[];
  readonly method: string;
  readonly url: string;

  constructor(init: { method: string; url: string; status: number; errors: readonly OciErrorEntry[]; what?: string; cause?: unknown }) {
    const first = init.errors[0];
    const code: ErrorCode = first && isOciErrorCode(first.code) ? first.code : codeForStatus(init.status);
    const url = redactUrl(init.url);
    const said = init.errors.map((e) => e.message ?? e.code).filter(Boolean).join('; ');
    const subject = init.what ?? `${init.method} ${url}`;
    // A HEAD (or a bare error) says nothing of its own: the status's standard phrase does (401 Unauthorized).
    const reason = said || `HTTP ${init.status}${STATUS_PHRASES[init.status] ? ` ${STATUS_PHRASES[init.status]}` : ''}`;
    super(code, `${subject}: ${reason}`, { status: init.status, detail: first?.detail, cause: init.cause });
    this.errors = init.errors;
    this.method = init.method;
    this.url = url;
  }
}

/** Parses an OCI error body; anything else yields no entries (the status then decides the code). */
export function parseOciErrorBody(text: string): OciErrorEntry[] {
  try {
    const body = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(body.errors)) return [];
    return body.errors
      .filter((e): e is { code: string; message?: unknown; detail?: unknown } => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string')
      .map((e) => ({
        code: e.code,
        ...(typeof e.message === 'string' ? { message: e.message } : {}),
        ...(e.detail !== undefined ? { detail: e.detail } : {}),
      }));
  } catch {
    return [];
  }
}
