// The V8 flags some commands set for themselves (young-garbage.ts says why each helps). V8 refuses
// a code cache made under other flags, and a flag set after the command code was compiled left
// that run's cache unusable: the next run compiles before it sets them. So the command's flags
// are set before its code loads (load-command-code.ts), and the run that makes the cache and the
// runs that use it compile under the same flags; setting them again later changes nothing.
import { setFlagsFromString } from 'node:v8';

/** Exposes `gc` to contexts made from now on (young-garbage.ts's collector). */
export const EXPOSE_GC = '--expose-gc';

/** V8's optimizing compilers off, for a server that must stay flat (young-garbage.ts). */
export const NO_OPTIMIZING_COMPILERS: readonly string[] = ['--no-turbofan', '--no-maglev'];

/**
 * How far V8 lets the old generation grow past what a full collection left (its default is
 * chosen per heap, about 1.5–4× for ours). V8 counts the buffers made since the last full
 * collection against that limit, so a command reading blobs over HTTP, with an 8 MB heap, ran a
 * full collection every 40–100 ms: about 45 in a 630 MB `verify`, and 15% of its time. At 5×,
 * 14 (measured: `verify` 2.37 → 1.94 s with young collections, peak RSS the same; `copy` into a
 * layout 2.08 → 1.96 s, 4 MB more).
 */
export const FEWER_FULL_COLLECTIONS = '--heap-growing-percent=400';

/** What each command that sets flags sets: the servers, and the commands that move blobs from start to end. */
const BY_COMMAND = new Map<string, readonly string[]>([
  ['serve', [EXPOSE_GC, ...NO_OPTIMIZING_COMPILERS]],
  ['copy', [EXPOSE_GC, FEWER_FULL_COLLECTIONS]],
  ['verify', [EXPOSE_GC, FEWER_FULL_COLLECTIONS]],
  ['bundle', [EXPOSE_GC, FEWER_FULL_COLLECTIONS]],
]);

/** The flags `command` sets while it runs (none for most). */
export function flagsOfCommand(command: string | undefined): readonly string[] {
  return (command === undefined ? undefined : BY_COMMAND.get(command)) ?? [];
}

/** Sets `flags`; one the runtime does not know is skipped, and the command runs on the engine's own behaviour. */
export function setV8Flags(flags: readonly string[]): void {
  for (const flag of flags) {
    try {
      setFlagsFromString(flag);
    } catch {
      // Unknown to this runtime.
    }
  }
}
