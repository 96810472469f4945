import type { ErrorCode } from './codes.js';

export interface PolyarchErrorOptions {
  readonly status?: number;
  readonly detail?: unknown;
  readonly cause?: unknown;
  /** Advice for this error in place of its code's (hintFor): a refused login is not told to log in. */
  readonly hint?: string;
}

/** Codes that mean the user's input (arguments, flags, configuration) was wrong, as opposed to a failure while working. */
const BAD_INPUT: ReadonlySet<ErrorCode> = new Set(['USAGE', 'INVALID_REFERENCE', 'INVALID_PLATFORM', 'INVALID_LOCATION', 'CONFIG_INVALID']);

export function isBadInputCode(code: ErrorCode): boolean {
  return BAD_INPUT.has(code);
}

/** Every failure polyarch reports: a one-line message, a stable code, and the cause chain. */
export class PolyarchError extends Error {
  override name = 'PolyarchError';
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly detail: unknown;
  /** Advice of its own, shown in place of hintFor(code). */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: PolyarchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.detail = options.detail;
    this.hint = options.hint;
  }

  /** Derived from the code, never set per error: a missing image is a failure wherever it is missing. */
  get badInput(): boolean {
    return isBadInputCode(this.code);
  }
}

/** What was thrown, as an Error (a rejection may carry anything). */
export function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}

/** Whether `error` is a PolyarchError (it has a stable `code`). */
export function isPolyarchError(error: unknown): error is PolyarchError {
  return error instanceof PolyarchError;
}

/** Bad input (usage, reference, platform, location, configuration) as opposed to a failure while working. */
export function isBadInput(error: unknown): boolean {
  return isPolyarchError(error) && isBadInputCode(error.code);
}

/** At most one line of advice for a code; undefined when there is nothing useful to add. */
export function hintFor(code: ErrorCode): string | undefined {
  switch (code) {
    case 'TLS':
      return 'use --insecure (insecure) for a plain-HTTP or self-signed registry, or --ca-file (caFile) for a private CA';
    case 'NETWORK':
      // Nothing answered: --insecure changes how an answer is read (plain HTTP, any certificate), so it is no fix here.
      return 'check that the registry is running and reachable at that host and port';
    case 'ADDRESS_IN_USE':
      return 'another program listens there; choose another port with --listen HOST:PORT';
    case 'SERVER_ERROR':
      return 'the registry failed on its side; try again later, or ask its operator';
    case 'CONFIG_INVALID':
      return 'fix the file named above';
    case 'UNAUTHORIZED':
      return "log in with polyarch login HOST (or docker login: both keep credentials in docker's config.json)";
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
