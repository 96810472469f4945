// overlayfs mounts for stage roots: a stack of unpacked layer directories (read-only lowers, top
// first) under one writable upper directory, shown merged at a mount point. Mounted with
// mount(8) as root in the host's mount namespace, with redirect_dir, metacopy and index off: then
// the upper directory alone says what changed (whole files copied up, renamed directories copied,
// whiteouts as 0/0 character devices, opaque directories as `trusted.overlay.opaque`), which is
// what upper-diff.ts reads. The mounts are made in the host's mount namespace, not a private one
// that would die with a process: this process itself unpacks layers onto them, reads the step's
// changes and serves COPY --from through them, and Node cannot enter another namespace. So every
// mount is undone by its owner (on success, failure and abort), the build's scratch cleanup
// detaches what is left before removing anything, and mountsUnder() lets prune find the leftovers
// of a build that was killed outright.
//
// Writable mounts are `volatile` (Linux 5.10+; without it where the kernel refuses it): unmounting
// an ordinary overlay syncs its upper file system whole, every dirty page on it, the layers just
// unpacked included (0.24–0.30 s per unmount after a 385 MB base here). Nothing needs an upper
// directory on disk before a crash: it is scratch, or becomes an unpacked layer that only the
// boot which wrote it trusts (unpacked-store.ts).
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { tempPathIn } from '../internal/temp-path.js';
import { makeDirectories } from '../internal/make-directories.js';

const execFileAsync = promisify(execFile);

/** The kernel reads mount options from one page; lower directories beyond that cannot be mounted this way. */
const OPTIONS_LIMIT = 4000;

export interface OverlayMount {
  /** The mount point: the merged tree. */
  readonly merged: string;
  /** Undoes the mount (lazily if something still holds it); safe to call twice. */
  unmount(): Promise<void>;
}

export interface OverlaySpec {
  /** Directory the option paths are given relative to (short options: the kernel reads at most a page). */
  readonly base: string;
  /** Lower directories, topmost first (absolute, below `base`). */
  readonly lowers: readonly string[];
  /** Without an upper (and work) directory the mount is read-only; it then needs two lowers at least. */
  readonly upper?: string;
  readonly work?: string;
  readonly merged: string;
  readonly signal?: AbortSignal;
}

/** A path mount(8) can take in its comma- and colon-separated option list. */
function optionPath(base: string, path: string): string | undefined {
  const rel = relative(base, path);
  return rel === '' || rel.startsWith('..') || /[,:\\\s=]/.test(rel) ? undefined : rel;
}

/** The option string for `spec`, or undefined when it cannot be written (odd names, too many layers); `volatile` applies to writable mounts. */
export function overlayOptions(spec: OverlaySpec, volatile = false): string | undefined {
  const lowers = spec.lowers.map((l) => optionPath(spec.base, l));
  if (lowers.length === 0 || lowers.some((l) => l === undefined)) return undefined;
  let writable = '';
  if (spec.upper !== undefined || spec.work !== undefined) {
    const upper = spec.upper === undefined ? undefined : optionPath(spec.base, spec.upper);
    const work = spec.work === undefined ? undefined : optionPath(spec.base, spec.work);
    if (upper === undefined || work === undefined) return undefined;
    writable = `,upperdir=${upper},workdir=${work}${volatile ? ',volatile' : ''}`;
  } else if (lowers.length < 2) return undefined;
  const options = `lowerdir=${lowers.join(':')}${writable},redirect_dir=off,metacopy=off,index=off`;
  return options.length > OPTIONS_LIMIT ? undefined : options;
}

/** Set once a kernel refused `volatile` where the same mount without it worked. */
let volatileRefused = false;

/**
 * Mounts the overlay `spec` describes (the merged directory must exist). Throws when the kernel or
 * the options refuse; the caller falls back to copying.
 */
export async function mountOverlay(spec: OverlaySpec): Promise<OverlayMount> {
  const options = overlayOptions(spec, !volatileRefused);
  if (options === undefined) throw new Error('the layer directories cannot be named in overlay mount options');
  // mount(8) runs in `base`: the kernel resolves the relative option paths from the caller's cwd.
  const mount = (text: string) => execFileAsync('mount', ['-t', 'overlay', '-o', text, 'polyarch', spec.merged], { cwd: spec.base, ...(spec.signal ? { signal: spec.signal } : {}) });
  try {
    await mount(options);
  } catch (error) {
    const plain = overlayOptions(spec);
    if (plain === options || spec.signal?.aborted === true) throw error;
    await mount(plain!); // an older kernel, without `volatile`
    volatileRefused = true;
  }
  let done: Promise<void> | undefined;
  return { merged: spec.merged, unmount: () => (done ??= unmountPath(spec.merged)) };
}

/** Unmounts `path`; a mount something still uses is detached lazily (it goes when released). */
export async function unmountPath(path: string): Promise<void> {
  try {
    await execFileAsync('umount', [path]);
  } catch {
    await execFileAsync('umount', ['-l', path]).catch(() => undefined);
  }
}

/** mountinfo escapes space, tab, newline and backslash in paths as octal. */
function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Mount points at or below `dir` in this process's mount namespace, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = text
    .split('\n')
    .map((line) => unescapeMountPath(line.split(' ')[4] ?? ''))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return points.sort((a, b) => b.length - a.length);
}

/** Detaches every mount at or below `dir` (leftovers of a killed build), so removing `dir` cannot reach through one. */
export async function unmountAllUnder(dir: string): Promise<number> {
  const points = await mountsUnder(dir);
  for (const point of points) await execFileAsync('umount', ['-l', point]).catch(() => undefined);
  return points.length;
}

const probes = new Map<string, Promise<boolean>>();

/**
 * Whether overlay mounts work for this process in `dir` (its file system as upper, the kernel's
 * overlay support, the right to mount): only root in the host's namespaces, checked once per
 * directory by mounting two tiny layers.
 */
export function overlayWorks(dir: string): Promise<boolean> {
  if (process.getuid?.() !== 0 || process.platform !== 'linux') return Promise.resolve(false);
  let probe = probes.get(dir);
  if (!probe) {
    probe = tryOverlay(dir);
    probes.set(dir, probe);
  }
  return probe;
}

async function tryOverlay(dir: string): Promise<boolean> {
  const scratch = tempPathIn(dir, 'overlay-probe');
  const [lower, upper, work, merged] = ['l', 'u', 'w', 'm'].map((name) => join(scratch, name)) as [string, string, string, string];
  try {
    for (const d of [lower, upper, work, merged]) await makeDirectories(d);
    const mount = await mountOverlay({ base: scratch, lowers: [lower], upper, work, merged });
    await mount.unmount();
    return true;
  } catch {
    return false;
  } finally {
    await unmountAllUnder(scratch);
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}
