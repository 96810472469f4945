import type { ErrorCode } from './codes.js';

export interface PolyarchErrorOptions {
  readonly status?: number;
  readonly detail?: unknown;
  readonly cause?: unknown;
  /** Marks a failure caused by what the user named (exit 2), e.g. a source image that does not exist. */
  readonly badInput?: boolean;
}

const BAD_INPUT: ReadonlySet<ErrorCode> = new Set(['USAGE', 'INVALID_REFERENCE', 'INVALID_PLATFORM', 'INVALID_LOCATION']);

/** Every failure polyarch reports: a one-line message, a stable code, and the cause chain. */
export class PolyarchError extends Error {
  override name = 'PolyarchError';
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly detail: unknown;
  readonly badInput: boolean;

  constructor(code: ErrorCode, message: string, options: PolyarchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.detail = options.detail;
    this.badInput = options.badInput ?? BAD_INPUT.has(code);
  }
}

export function isPolyarchError(error: unknown): error is PolyarchError {
  return error instanceof PolyarchError;
}

/** Bad input (usage, reference, platform, location) as opposed to a failure while working. */
export function isBadInput(error: unknown): boolean {
  return isPolyarchError(error) && error.badInput;
}

/** At most one line of advice for a code; undefined when there is nothing useful to add. */
export function hintFor(code: ErrorCode): string | undefined {
  switch (code) {
    case 'TLS':
      return 'use --insecure for a plain-HTTP or self-signed registry, or --ca-file for a private CA';
    case 'NETWORK':
      return 'check that the registry is running and reachable; use --insecure for a plain-HTTP registry';
    default:
      return undefined;
  }
}

/** Network failures and throttling are worth another try; answers about content are not. */
export function isRetryable(error: unknown): boolean {
  if (!isPolyarchError(error)) return false;
  if (error.code === 'NETWORK' || error.code === 'TOOMANYREQUESTS') return true;
  return error.status !== undefined && (error.status === 429 || (error.status >= 500 && error.status !== 501 && error.status !== 505));
}
