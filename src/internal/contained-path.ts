// Paths inside a root that hostile content controls (an image's filesystem, a build context):
// every component is resolved with lstat and every symlink is followed *relative to the root*, as
// a chroot would see it, so neither `..` nor an absolute or relative link target can leave it
// (the rule of BuildKit's and umoci's securejoin). Callers then act on the returned host path.
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/** Symlinks followed in one resolution before it counts as a loop (Linux allows 40). */
const MAX_LINKS = 40;

/** Thrown when resolving meets more links than MAX_LINKS; `code` mirrors the kernel's ELOOP. */
export class LinkLoopError extends Error {
  readonly code = 'ELOOP';
  constructor(readonly path: string) {
    super(`too many levels of symbolic links resolving ${JSON.stringify(path)}`);
    this.name = 'LinkLoopError';
  }
}

export interface ResolveInRootOptions {
  /** Follow a symlink in the last component too (reading a file); false for acting on the link itself (writing, deleting). */
  readonly followFinal?: boolean;
}

function componentsOf(path: string): string[] {
  return path.split('/').filter((part) => part !== '' && part !== '.');
}

/** What a resolution asks of the file system: facts about a path (undefined when there is none), or a link's target. */
type Ask = { readonly lstat: string } | { readonly readlink: string };

/** The resolution itself, asking for each lstat and readlink it needs: one walk for the async and sync callers. */
function* resolution(root: string, path: string, options: ResolveInRootOptions): Generator<Ask, string, Stats | string | undefined> {
  const base = resolve(root);
  const done: string[] = [];
  const pending = componentsOf(path);
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      done.pop(); // `..` at the root stays at the root, as in a chroot
      continue;
    }
    const candidate = join(base, ...done, part);
    const isLast = pending.length === 0;
    const facts = (yield { lstat: candidate }) as Stats | undefined;
    if (facts?.isSymbolicLink() && (!isLast || options.followFinal)) {
      if (++links > MAX_LINKS) throw new LinkLoopError(path);
      const target = (yield { readlink: candidate }) as string;
      if (isAbsolute(target)) done.length = 0;
      pending.unshift(...componentsOf(target));
      continue;
    }
    done.push(part);
  }
  return join(base, ...done);
}

/**
 * The host path of `path` (slash-separated, absolute or relative: both mean "from the root")
 * inside `root`, every symlink on the way resolved within `root`. Components that do not exist
 * are joined as they are, so the result may name something still to be created; it is always
 * `root` or below it. `root` itself must be a trusted, absolute, symlink-free path.
 */
export async function resolveInRoot(root: string, path: string, options: ResolveInRootOptions = {}): Promise<string> {
  const walk = resolution(root, path, options);
  for (let step = walk.next(); ; ) {
    if (step.done) return step.value;
    const ask = step.value;
    step = walk.next('lstat' in ask ? await lstat(ask.lstat).catch(() => undefined) : await readlink(ask.readlink));
  }
}

/** lstat as a resolution takes it: any failure (ENOENT, ENOTDIR below a file…) means nothing is there. */
export function lstatOrNone(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * resolveInRoot with synchronous calls, for a caller that resolves thousands of paths in a row
 * (unpacking a layer): a trip through the thread pool for each component cost more than the lstat.
 */
export function resolveInRootSync(root: string, path: string, options: ResolveInRootOptions = {}): string {
  const walk = resolution(root, path, options);
  for (let step = walk.next(); ; ) {
    if (step.done) return step.value;
    const ask = step.value;
    step = walk.next('lstat' in ask ? lstatOrNone(ask.lstat) : readlinkSync(ask.readlink));
  }
}

/** True when `path` is `root` or lies below it, judged on the text alone (both absolute). */
export function isWithin(root: string, path: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}
