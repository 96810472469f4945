import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** Suffix every temp file polyarch creates carries, so a crash leaves files that gc can recognise. */
export const TEMP_SUFFIX = '.polyarch-tmp';

/** A unique path inside `dir` (same filesystem as the final file, so rename is atomic). */
export function tempPathIn(dir: string, prefix = 'tmp'): string {
  return join(dir, `.${prefix}-${process.pid}-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
}

/**
 * Whether `name` is one tempPathIn makes (`.prefix-PID-hex.polyarch-tmp`), in full: a tag or a
 * user's file that merely ends in the suffix (`app:v1.polyarch-tmp` is a valid tag) is no temp.
 */
export function isTempName(name: string): boolean {
  return /^\.[A-Za-z0-9._-]+-\d+-[0-9a-f]+\.polyarch-tmp$/.test(name);
}
