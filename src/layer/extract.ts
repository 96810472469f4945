// Applying a layer (or an ADD archive) onto a directory, where hostile input is the norm: a base
// image or archive from anywhere may hold symlinks to `/etc`, hard links through them, whiteouts
// and opaque markers below them, and names with `..`. Every path an entry names (its own, a hard
// link's target, a whiteout's victim, an opaque directory) is resolved inside the root with each
// symlink evaluated relative to it (resolveInRoot: BuildKit's and umoci's rule), and the last
// component is never followed when writing or deleting: a link there is replaced or removed, never
// written through. This is the one place that turns tar entries into files.
import { lstat, readdir, realpath, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { chmodSync, closeSync, fchmodSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, realpathSync, symlinkSync, writeSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Header } from 'tar-stream';
import { lazyModule } from '../internal/lazy-module.js';

import { PolyarchError } from '../errors/polyarch-error.js';
import { LinkLoopError, lstatOrNone, resolveInRootSync } from '../internal/contained-path.js';
import { decompressor } from './compression.js';
import { XattrObserver, type Xattrs } from './pax.js';
import { entryName, pathEntry, type LayerPathEntry } from './scan.js';
import { isKeptXattr, writeXattrs } from './xattrs.js';
import { makeDirectories, makeDirectoriesSync } from '../internal/make-directories.js';

// Loaded when a layer is unpacked: a warm build that reuses every layer unpacks none.
const tarStream = lazyModule<typeof import('tar-stream')>('tar-stream');

/**
 * Mode and owner of each path a layer wrote (relative to the root), as its tar header gave them:
 * the disk may not keep them. Also the extended attributes the layer gave a file or directory
 * (the kinds xattrs.ts keeps), set with the owners: a chown clears a file capability.
 */
export type RecordedFacts = Map<string, RecordedFact>;

/** What a layer's header said of one path. */
export interface RecordedFact {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly xattrs?: Xattrs;
}

export interface ApplyLayerOptions {
  /** The layer's media type, which says how it is compressed (a plain tar: MediaType.OciLayer). */
  readonly mediaType: string;
  /** Names the layer in messages: its digest, or the archive's file name. */
  readonly source?: string;
  /** Gathers each written path's header facts. */
  readonly record?: RecordedFacts;
  /** Gathers the layer's path list from the same headers (scan.ts's pathsOfLayer gives the same), so nothing reads the layer again for it. */
  readonly paths?: [string, LayerPathEntry][];
  /**
   * Keeps the layer's modification times (an exported filesystem, as buildx's local exporter
   * does): files and links get theirs as written; directories, which later entries touch, are
   * gathered here (absolute path → time) for applyDirectoryTimes once every layer is on disk.
   */
  readonly times?: Map<string, Date>;
  readonly signal?: AbortSignal;
}

const execFileAsync = promisify(execFile);
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
/** File-system errors that mean the layer's entries contradict each other or the tree (a file used as a directory, a loop). */
const LAYOUT_ERRNOS = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'ELOOP', 'ENAMETOOLONG', 'EINVAL', 'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_TYPE']);

interface Apply {
  /** The root as a real, symlink-free path. */
  readonly root: string;
  readonly what: string;
  readonly record: RecordedFacts | undefined;
  readonly times: Map<string, Date> | undefined;
  /** Paths this layer made: its whiteouts and opaque markers hide lower layers' files only (OCI image-spec layer.md). */
  readonly made: Set<string>;
  /**
   * Resolved directories by entry path, and those known to exist. Only making a symlink or removing
   * something can change where a path resolves, so both are cleared then (a base image's thousands
   * of files in a few directories are not each resolved component by component).
   */
  readonly dirs: Map<string, string>;
  readonly knownDirs: Set<string>;
}

/** The directory `relDir` names, every link on the way (its own last component too) resolved inside the root. */
function resolveDir(state: Apply, relDir: string): string {
  let resolved = state.dirs.get(relDir);
  if (resolved === undefined) {
    resolved = resolveInRootSync(state.root, relDir, { followFinal: true });
    state.dirs.set(relDir, resolved);
  }
  return resolved;
}

/** Every change that can move where a path resolves goes through here or `symlink` below. */
async function remove(state: Apply, path: string, recursive: boolean): Promise<void> {
  state.dirs.clear();
  state.knownDirs.clear();
  await rm(path, { recursive, force: true });
}

class RefusedEntry extends PolyarchError {
  constructor(state: Apply, name: string, why: string) {
    super('LAYOUT_INVALID', `${state.what}: entry ${JSON.stringify(name)} ${why}`);
  }
}

/**
 * An entry's path relative to the root: leading `/` and `./` dropped, `.` and `..` folded as text.
 * Undefined when it climbs above the top; '' for the root itself.
 */
function entryPath(name: string): string | undefined {
  const rel = posix.normalize(name.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (rel === '..' || rel.startsWith('../')) return undefined;
  return rel === '.' ? '' : rel;
}

/**
 * Makes a name that is usually not there yet (O_CREAT|O_EXCL, mkdir, symlink, link: none follows
 * a link at the name, a dangling one included): false when something already is, for the caller
 * to look at and replace. Most entries of a layer name nothing yet; trying first saves them the
 * lstat (10,000 of a Debian root's were an eighth of its unpacking).
 */
function madeFresh(make: () => void): boolean {
  try {
    make();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Synchronous, as the writes are: one call per entry, not one trip through the thread pool. */
function lstatOrUndefined(path: string) {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** Removes what lower layers put below `dir`, keeping what this layer made. Never follows a link. */
async function emptyLower(state: Apply, dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    if (!state.made.has(path)) await remove(state, path, true);
    else if ((await lstat(path)).isDirectory()) await emptyLower(state, path);
  }
}

async function applyWhiteout(state: Apply, name: string, rel: string): Promise<void> {
  const base = posix.basename(rel);
  // The directory the marker sits in, every link on the way resolved inside the root.
  const parent = resolveDir(state, posix.dirname(rel));
  if (base === OPAQUE) {
    const facts = lstatOrUndefined(parent);
    if (facts && !facts.isDirectory()) await remove(state, parent, false);
    if (!facts?.isDirectory()) await makeDirectories(parent);
    else await emptyLower(state, parent);
    return;
  }
  if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return; // other AUFS metadata (.wh..wh.plnk, …): not a whiteout
  const victim = base.slice(WHITEOUT.length);
  if (victim === '' || victim === '.' || victim === '..') throw new RefusedEntry(state, name, 'is a whiteout that names no file');
  const target = join(parent, victim);
  // rm removes a symlink itself, never what it points to; a file this layer made stays. A victim
  // below a file is simply not there.
  if (state.made.has(target)) return;
  await remove(state, target, true).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOTDIR') throw error;
  });
}

/**
 * Writes one file's bytes into `fd`, the new file (closed after), with synchronous calls: an
 * image holds thousands of small files, and a trip through the thread pool for each open, write
 * and close made extraction many times slower than tar's on a busy machine. The stream is still
 * consumed chunk by chunk, never held whole.
 */
async function writeEntryFile(fd: number, mode: number, stream: Readable): Promise<void> {
  try {
    fchmodSync(fd, mode); // the umask does not decide a layer's modes
    for await (const chunk of stream) {
      const bytes = chunk as Buffer;
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * A named pipe at `target` (Node has no mkfifo call; pipes are rare in images, so one short-lived
 * process each). mkfifo fails on anything already there, a dangling link included: it never
 * makes the pipe where a link points.
 */
async function makeFifo(state: Apply, name: string, target: string, mode: number): Promise<void> {
  await execFileAsync('mkfifo', ['-m', mode.toString(8), '--', target]).catch((error: NodeJS.ErrnoException) => {
    throw new RefusedEntry(state, name, `is a named pipe that could not be made (${error.code === 'ENOENT' ? 'mkfifo, from coreutils, is not installed' : 'mkfifo failed'})`);
  });
}

/** The attributes of an entry that layers carry, or none. */
function keptXattrs(all: Xattrs): Xattrs | undefined {
  const kept = new Map([...all].filter(([name]) => isKeptXattr(name)));
  return kept.size > 0 ? kept : undefined;
}

async function applyEntry(state: Apply, header: Header, stream: Readable, paxXattrs: Xattrs): Promise<void> {
  const name = header.name;
  const rel = entryPath(name);
  if (rel === undefined) throw new RefusedEntry(state, name, 'points outside the filesystem');
  if (posix.basename(rel).startsWith(WHITEOUT)) {
    stream.resume();
    return applyWhiteout(state, name, rel);
  }
  const type = header.type ?? 'file';
  const xattrs = type === 'file' || type === 'contiguous-file' || type === 'directory' ? keptXattrs(paxXattrs) : undefined;
  const facts = { mode: (header.mode ?? 0o644) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0, ...(xattrs ? { xattrs } : {}) };
  if (rel === '') {
    stream.resume();
    if (type !== 'directory') throw new RefusedEntry(state, name, 'would replace the root of the filesystem');
    state.record?.set('', facts);
    return;
  }
  // Parents resolved inside the root; the entry's own name is not followed (it is what gets replaced).
  const parent = resolveDir(state, posix.dirname(rel));
  const target = join(parent, posix.basename(rel));
  let source: string | undefined;
  if (type === 'link') {
    // A hard link names an earlier entry of this filesystem: it must resolve, inside the root, to a regular file.
    const linked = entryPath(header.linkname ?? '');
    if (linked === undefined) {
      stream.resume();
      throw new RefusedEntry(state, name, `is a hard link to ${JSON.stringify(header.linkname)}, outside the filesystem`);
    }
    source = resolveInRootSync(state.root, linked, { followFinal: false });
    if (!lstatOrUndefined(source)?.isFile()) {
      stream.resume();
      throw new RefusedEntry(state, name, `is a hard link to ${JSON.stringify(header.linkname ?? '')}, which is not a file in the layer's filesystem`);
    }
    if (source === target) return void stream.resume();
  } else if (!['directory', 'file', 'contiguous-file', 'symlink', 'fifo'].includes(type) || (type === 'symlink' && !header.linkname)) {
    return void stream.resume(); // devices: the runtime makes its own /dev, and only root could make them
  }
  if (!state.knownDirs.has(parent)) {
    makeDirectoriesSync(parent);
    state.knownDirs.add(parent);
  }
  state.record?.set(relative(state.root, target), facts);
  state.made.add(target);
  if (type === 'directory') {
    stream.resume();
    if (header.mtime) state.times?.set(target, header.mtime);
    if (madeFresh(() => mkdirSync(target))) return;
    if (lstatOrUndefined(target)?.isDirectory()) return;
    await remove(state, target, false);
    mkdirSync(target);
    return;
  }
  // Anything else replaces what is there (a directory with its contents, a link but not its target).
  const replacing = async (make: () => void): Promise<void> => {
    if (madeFresh(make)) return;
    await remove(state, target, true);
    make();
  };
  if (type === 'symlink') {
    stream.resume();
    state.dirs.clear();
    state.knownDirs.clear();
    await replacing(() => symlinkSync(header.linkname as string, target));
  } else if (type === 'link') {
    stream.resume();
    await replacing(() => linkSync(source as string, target));
  } else if (type === 'fifo') {
    stream.resume();
    if (lstatOrUndefined(target)) await remove(state, target, true);
    await makeFifo(state, name, target, facts.mode & 0o777);
  } else {
    const mode = facts.mode & 0o777;
    let fd = -1;
    await replacing(() => (fd = openSync(target, 'wx', mode)));
    await writeEntryFile(fd, mode, stream);
  }
  // The name was just made by this entry (never a link followed): lutimes sets the link's own time.
  if (state.times && header.mtime) lutimesSync(target, header.mtime, header.mtime);
}

/**
 * Gives the directories applyLayer gathered in `times` their layers' times, deepest first (setting
 * a child's time leaves its parent's alone). A later layer may have made a parent a link (to the
 * host's /etc, say): a path whose parents are no longer real directories is skipped, so no time
 * outside the root is ever touched.
 */
export function applyDirectoryTimes(times: ReadonlyMap<string, Date>): void {
  for (const [path, time] of [...times].sort(([a], [b]) => b.length - a.length)) {
    const parent = dirname(path);
    if (realpathOrUndefined(parent) !== parent) continue;
    if (lstatOrUndefined(path)?.isDirectory()) lutimesSync(path, time, time);
  }
}

function realpathOrUndefined(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** What went wrong on one entry, as one coded line when the layer itself is at fault. */
function entryError(state: Apply, name: string, error: unknown): unknown {
  if (error instanceof PolyarchError) return error;
  if (error instanceof LinkLoopError) return new RefusedEntry(state, name, 'goes through too many levels of symbolic links');
  const code = (error as NodeJS.ErrnoException).code;
  if (code && LAYOUT_ERRNOS.has(code)) return new PolyarchError('LAYOUT_INVALID', `${state.what}: entry ${JSON.stringify(name)} cannot be written: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  return error;
}

/**
 * Applies one layer (a verified stream from a store, or an archive file) onto `root`, which must
 * exist. OCI whiteouts and opaque directories remove what earlier layers wrote; `record` gathers
 * each path's mode and owner. A hostile entry fails the whole layer with LAYOUT_INVALID; nothing
 * outside `root` is ever created, changed or removed.
 */
export async function applyLayer(root: string, content: Readable, options: ApplyLayerOptions): Promise<void> {
  const state: Apply = { root: await realpath(root), what: options.source ? `layer ${options.source}` : 'layer', record: options.record, times: options.times, made: new Set(), dirs: new Map(), knownDirs: new Set() };
  const tar = tarStream().extract();
  // Extended attributes come from the raw pax records, read on the way to tar-stream.
  const pax = new XattrObserver();
  tar.on('entry', (header, stream, next) => {
    const said = options.paths ? pathEntry(entryName(header.name), header) : undefined;
    if (said) options.paths!.push(said);
    applyEntry(state, header, stream as unknown as Readable, pax.next()).then(
      () => next(),
      (error: unknown) => tar.destroy(entryError(state, header.name, error) as Error),
    );
  });
  await pipeline(content, decompressor(options.source ? { mediaType: options.mediaType, digest: options.source } : options), pax, tar, ...(options.signal ? [{ signal: options.signal }] : []));
}

/**
 * Sets on disk the modes and owners the layers' headers gave (applyLayer writes neither owners nor
 * setuid/setgid/sticky bits), so programs run in the root see the image as it was built. Each path
 * is resolved inside the root again: a later layer may have turned one of its parents into a link.
 * Owners need root; otherwise only modes are set. `owners: false` sets modes alone (an exported
 * filesystem belongs to whoever exports it, as buildx's local exporter leaves it);
 * `ownerKeepsDirectories` keeps u+rwx on directories.
 */
export async function applyRecordedFacts(root: string, record: RecordedFacts, options: { readonly signal?: AbortSignal; readonly owners?: boolean; readonly ownerKeepsDirectories?: boolean } = {}): Promise<void> {
  // Owners are set only as root, and only when asked for.
  const setOwners = process.getuid?.() === 0 && options.owners !== false;
  const xattrs = new Map<string, Xattrs>();
  // Only modes and owners change below, never where a path leads: each directory is resolved once.
  // Synchronous calls, as in applyLayer: one per path, not a trip through the thread pool each.
  const parents = new Map<string, string | undefined>();
  const parentOf = (dir: string): string | undefined => {
    if (!parents.has(dir)) {
      let resolved: string | undefined;
      try {
        resolved = resolveInRootSync(root, dir, { followFinal: true });
      } catch {
        resolved = undefined; // a loop: nothing below it is touched
      }
      parents.set(dir, resolved);
    }
    return parents.get(dir);
  };
  for (const [path, facts] of record) {
    if (path === '') continue;
    const parent = parentOf(posix.dirname(path));
    const host = parent === undefined ? undefined : join(parent, posix.basename(path));
    const s = host === undefined ? undefined : lstatOrNone(host);
    if (host === undefined || !s) continue;
    const owned = !setOwners || (s.uid === facts.uid && s.gid === facts.gid);
    if (!owned) lchownSync(host, facts.uid, facts.gid);
    // After chown, which clears setuid; a link has no mode of its own.
    // `ownerKeepsDirectories`: a directory stays the caller's to enter, list and write (u+rwx), so the
    // tree can be exported into again or removed by whoever exported it without root.
    const mode = options.ownerKeepsDirectories && s.isDirectory() ? facts.mode | 0o700 : facts.mode;
    if (!s.isSymbolicLink() && (!owned || (s.mode & 0o7777) !== mode)) chmodSync(host, mode);
    if (facts.xattrs && (s.isFile() || s.isDirectory())) xattrs.set(host, facts.xattrs);
  }
  // After the owners: a chown clears a file capability. One process for the whole layer.
  if (xattrs.size > 0) await writeXattrs(xattrs, options);
}
