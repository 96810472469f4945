import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from './process-alive.js';

/** Suffix every temp file polyarch creates carries, so a crash leaves files that gc can recognise. */
export const TEMP_SUFFIX = '.polyarch-tmp';

let namespace: string | undefined;
/**
 * This process's PID namespace (the inode /proc/self/ns/pid names), or '' where there is none to
 * read. A pid means something only in its namespace: containers sharing a volume each have a 1.
 */
export function pidNamespace(): string {
  if (namespace === undefined) {
    try {
      namespace = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '';
    } catch {
      namespace = '';
    }
  }
  return namespace;
}

/**
 * A unique path inside `dir` (same filesystem as the final file, so rename is atomic), named
 * `.prefix-PID[nNAMESPACE]-hex.polyarch-tmp`: the writer's pid and PID namespace, so a cleanup
 * judges only the temps of processes it can see (tempOwner).
 */
export function tempPathIn(dir: string, prefix = 'tmp'): string {
  const ns = pidNamespace();
  return join(dir, `.${prefix}-${process.pid}${ns ? `n${ns}` : ''}-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
}

const TEMP_NAME = /^\.[A-Za-z0-9._-]+-(\d+)(?:n(\d+))?-[0-9a-f]+\.polyarch-tmp$/;

/** The writer of a temp name: its pid, and its PID namespace when the name gives one (older names do not). */
export function tempOwner(name: string): { readonly pid: number; readonly namespace: string | undefined } | undefined {
  const match = TEMP_NAME.exec(name);
  return match ? { pid: Number(match[1]), namespace: match[2] } : undefined;
}

/**
 * A temp name whose writer is gone. One made in another PID namespace (another container on a
 * shared volume) is never judged from here: its pid says nothing in this one, and removing it
 * deleted a live writer's staging.
 */
export function isOrphanTemp(name: string): boolean {
  const owner = tempOwner(name);
  if (!owner) return false;
  if (owner.namespace !== undefined && owner.namespace !== pidNamespace()) return false;
  return !isProcessAlive(owner.pid);
}

/**
 * Whether `name` is one tempPathIn makes (`.prefix-PID-hex.polyarch-tmp`), in full: a tag or a
 * user's file that merely ends in the suffix (`app:v1.polyarch-tmp` is a valid tag) is no temp.
 */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}
