// One table of error codes, read by the client (to parse registry answers) and by the
// server (to write them), so the two cannot drift apart.
// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#error-codes (code-1 … code-14)
export const OCI_ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, text: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, text: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, text: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, text: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, text: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, text: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, text: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, text: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, text: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, text: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, text: 'authentication required' },
  DENIED: { status: 403, text: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, text: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, text: 'too many requests' },
} as const;

export type OciErrorCode = keyof typeof OCI_ERROR_CODES;

/** Codes polyarch raises itself, for failures that are not a registry's answer. */
export const LOCAL_ERROR_CODES = [
  'INVALID_REFERENCE',
  'INVALID_PLATFORM',
  'INVALID_LOCATION',
  'USAGE',
  'DIGEST_MISMATCH',
  'SIZE_MISMATCH',
  'UNSUPPORTED_MEDIA_TYPE',
  'PLATFORM_NOT_IN_INDEX',
  'LAYOUT_INVALID',
  'ARCH_MISMATCH',
  'NETWORK',
  'TLS',
  'NOT_FOUND',
  /** A configuration file (docker config, htpasswd, CA file, push spec) cannot be read or parsed. */
  'CONFIG_INVALID',
  /** The address `serve` was asked to listen on is taken. */
  'ADDRESS_IN_USE',
  /** The work was stopped: its AbortSignal fired (the CLI's Ctrl-C or SIGTERM, or a library caller's abort). */
  'INTERRUPTED',
  /** A registry failed on its side (HTTP 5xx with no code from the table). */
  'SERVER_ERROR',
  /** Whoever read our standard output went away (`| head -1`): not a failure. */
  'OUTPUT_CLOSED',
  /** A platform's programs cannot run on this machine: no binfmt_misc handler (qemu-user), or no qemu binary. */
  'EMULATION_MISSING',
  /** A build step (RUN) exited with a non-zero code. */
  'STEP_FAILED',
  /** A source asked for more work than polyarch bounds it to (referrers beyond the count or depth limit). */
  'LIMIT_EXCEEDED',
  /** Other polyarch processes hold what this one must change, past the time it waits (a prune of a cache builds are using). */
  'BUSY',
  'UNKNOWN',
] as const;

export type LocalErrorCode = (typeof LOCAL_ERROR_CODES)[number];
export type ErrorCode = OciErrorCode | LocalErrorCode;

export function isOciErrorCode(code: string): code is OciErrorCode {
  return Object.hasOwn(OCI_ERROR_CODES, code);
}

/** The code a registry answer most likely means when its body carries no OCI error. */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'DENIED';
    case 404:
      return 'NOT_FOUND';
    case 405:
      return 'UNSUPPORTED';
    case 413:
      return 'SIZE_INVALID';
    case 416:
      return 'BLOB_UPLOAD_INVALID';
    case 429:
      return 'TOOMANYREQUESTS';
    default:
      return status >= 500 && status <= 599 ? 'SERVER_ERROR' : 'UNKNOWN';
  }
}
