import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** Suffix every temp file polyarch creates carries, so a crash leaves files that gc can recognise. */
export const TEMP_SUFFIX = '.polyarch-tmp';

/** A unique path inside `dir` (same filesystem as the final file, so rename is atomic). */
export function tempPathIn(dir: string, prefix = 'tmp'): string {
  return join(dir, `.${prefix}-${process.pid}-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
}

export function isTempName(name: string): boolean {
  return name.endsWith(TEMP_SUFFIX);
}
