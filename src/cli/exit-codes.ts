import type { ErrorCode } from '../index.js';
import { isPolyarchError } from '../index.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;
/** 128 + SIGINT, as shells report a command stopped by Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** Thrown by a command whose exit code is another program's (`run`): main exits with it and prints nothing. */
export class CommandExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

export type ExitCode = typeof EXIT_OK | typeof EXIT_FAILURE | typeof EXIT_BAD_INPUT | typeof EXIT_INTERRUPTED;

/**
 * The exit code of every error code, and nothing else decides it: the same failure exits the
 * same way whether it happened in a registry, a layout or an archive. 2 is input the user can
 * fix before running again (arguments, flags, configuration files); 1 is a failure while
 * working, including anything that was asked for and does not exist. README "Exit codes".
 */
export const EXIT_CODES: Readonly<Record<ErrorCode, ExitCode>> = {
  // Bad input
  USAGE: EXIT_BAD_INPUT,
  INVALID_REFERENCE: EXIT_BAD_INPUT,
  INVALID_PLATFORM: EXIT_BAD_INPUT,
  INVALID_LOCATION: EXIT_BAD_INPUT,
  CONFIG_INVALID: EXIT_BAD_INPUT,
  // Not found, wherever it is missing
  NOT_FOUND: EXIT_FAILURE,
  MANIFEST_UNKNOWN: EXIT_FAILURE,
  BLOB_UNKNOWN: EXIT_FAILURE,
  NAME_UNKNOWN: EXIT_FAILURE,
  BLOB_UPLOAD_UNKNOWN: EXIT_FAILURE,
  PLATFORM_NOT_IN_INDEX: EXIT_FAILURE,
  // Content that is wrong, and registry answers
  DIGEST_MISMATCH: EXIT_FAILURE,
  SIZE_MISMATCH: EXIT_FAILURE,
  UNSUPPORTED_MEDIA_TYPE: EXIT_FAILURE,
  LAYOUT_INVALID: EXIT_FAILURE,
  ARCH_MISMATCH: EXIT_FAILURE,
  BLOB_UPLOAD_INVALID: EXIT_FAILURE,
  DIGEST_INVALID: EXIT_FAILURE,
  MANIFEST_BLOB_UNKNOWN: EXIT_FAILURE,
  MANIFEST_INVALID: EXIT_FAILURE,
  NAME_INVALID: EXIT_FAILURE,
  SIZE_INVALID: EXIT_FAILURE,
  UNAUTHORIZED: EXIT_FAILURE,
  DENIED: EXIT_FAILURE,
  UNSUPPORTED: EXIT_FAILURE,
  TOOMANYREQUESTS: EXIT_FAILURE,
  SERVER_ERROR: EXIT_FAILURE,
  // The machine and the network
  NETWORK: EXIT_FAILURE,
  TLS: EXIT_FAILURE,
  ADDRESS_IN_USE: EXIT_FAILURE,
  EMULATION_MISSING: EXIT_FAILURE,
  STEP_FAILED: EXIT_FAILURE,
  LIMIT_EXCEEDED: EXIT_FAILURE,
  BUSY: EXIT_FAILURE,
  UNKNOWN: EXIT_FAILURE,
  // Not failures of the command
  INTERRUPTED: EXIT_INTERRUPTED,
  OUTPUT_CLOSED: EXIT_OK,
};

/** The exit code for a thrown value: its code's row in EXIT_CODES; anything uncoded is a failure. */
export function exitCodeFor(error: unknown): ExitCode {
  return isPolyarchError(error) ? (EXIT_CODES[error.code] ?? EXIT_FAILURE) : EXIT_FAILURE;
}
