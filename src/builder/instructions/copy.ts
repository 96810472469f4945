// COPY and ADD: files from the build context (or one given by name), another stage, an image, a URL,
// a local archive or a here-document, written as one layer on top of the stage.
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { lstat, readdir, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, posix, relative, resolve } from 'node:path';
import type { Platform } from '../../platform/platform.js';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { LinkLoopError, resolveInRoot } from '../../internal/contained-path.js';
import { tempPathIn } from '../../internal/temp-path.js';
import { MediaType } from '../../mediatype/mediatype.js';
import { applyLayer, type RecordedFacts } from '../../layer/extract.js';
import { comparePaths, missingParents, writeLayer, type LayerEntry } from '../../layer/writer.js';
import { compressReported, flagWords } from '../progress.js';
import { readXattrs } from '../../layer/xattrs.js';
import type { Xattrs } from '../../layer/pax.js';
import { badDockerfile, flagValue, flagValues, type Instruction } from '../dockerfile.js';
import { excludeFilter, type ContextFilter } from '../context-filter.js';
import { cachedLayer, cachedLayerByKey, type CachedLayer } from '../cache/layer-cache.js';
import { effectiveLevel } from '../../layer/compression.js';
import { isPattern, patternSource } from '../glob.js';
import { downloadSource, isRemoteSource, remoteFileName } from '../remote-source.js';
import { lookupOwner, type Owner } from '../passwd.js';
import { fileFromLayers, layerPathsKept, pathsOf, type KnownPaths, type PathFacts } from '../layer-scan.js';
import { stageNamed, type PlatformContext, type StageState } from '../stage.js';
import { stageFilesystem, unpackAhead } from '../stage-root.js';
import { makeDirectories } from '../../internal/make-directories.js';
import { openAddArchive } from '../add-archive.js';
import { KEEP_MODE, parseChmod, type ModeChange } from '../chmod.js';
import type { DirectoryContext } from '../named-contexts.js';

/** Mode and owner an entry gets, from its source path, the mode on disk and whether it is a directory. */
type EntryFacts = (source: string, diskMode: number, isDirectory: boolean) => { mode: number; uid: number; gid: number };

/** Context files: owned by root (or --chown), with their own mode (changed by --chmod). */
function contextFacts(owner: Owner, chmod: ModeChange): EntryFacts {
  return (_source, diskMode, isDirectory) => ({ mode: chmod(diskMode, isDirectory), ...owner });
}

/**
 * Files of an unpacked image or archive keep the mode and owner their tar headers gave, which the
 * disk copy may have lost; --chown and --chmod still win.
 */
function recordedFacts(root: string, recorded: RecordedFacts, chown: Owner | undefined, chmod: ModeChange): EntryFacts {
  return (source, diskMode, isDirectory) => {
    const facts = recorded.get(relative(root, source));
    return { mode: chmod(facts?.mode ?? diskMode, isDirectory), ...(chown ?? { uid: facts?.uid ?? 0, gid: facts?.gid ?? 0 }) };
  };
}

/**
 * Files under a source path (a file, or a directory's contents), as image-relative entries.
 * The path itself comes resolved (followInRoot); links inside a directory stay links, never
 * followed or read, as in docker.
 */
function contextEntries(source: string, dest: string, facts: EntryFacts, keep: ContextFilter): LayerEntry[] {
  const out: LayerEntry[] = [];
  walkEntries(source, dest, facts, keep, false, out);
  return out;
}

/**
 * contextEntries' walk, with the file system's synchronous calls: a context of 20,000 files is
 * 40,000 lstat and readdir calls, and a promise's trip through the thread pool for each made a
 * warm build of such a context wait about a second on nothing but the round trips.
 */
function walkEntries(source: string, dest: string, facts: EntryFacts, keep: ContextFilter, nested: boolean, out: LayerEntry[]): void {
  const info = lstatSync(source);
  const own = facts(source, info.mode & 0o7777, info.isDirectory());
  if (info.isSymbolicLink()) return void out.push({ path: dest, type: 'symlink', linkname: readlinkSync(source), mode: 0o777, uid: own.uid, gid: own.gid });
  // A named pipe is copied as one, never opened (that would wait for a writer); sockets and devices are not copied.
  if (info.isFIFO()) return void out.push({ path: dest, type: 'fifo', ...own });
  if (info.isSocket() || info.isCharacterDevice() || info.isBlockDevice()) return;
  if (!info.isDirectory()) {
    const entry: LayerEntry = { path: dest, type: 'file', source, size: info.size, ...own, mtimeMs: info.mtimeMs };
    if (info.nlink > 1) inodeOf.set(entry, `${info.dev}:${info.ino}`);
    return void out.push(entry);
  }
  // A directory inside the source is copied with its mode; the source directory itself is not.
  if (nested) out.push({ path: dest, type: 'directory', ...own });
  for (const name of readdirSync(source).sort()) {
    // The walk's paths are already normal: joined as strings, not normalized again per entry.
    const child = source.endsWith('/') ? `${source}${name}` : `${source}/${name}`;
    if (keep(child)) walkEntries(child, posix.join(dest, name), facts, keep, true, out);
  }
}

/**
 * Appends `items` one by one. A spread (`push(...items)`) passes each item as an argument, and
 * about 150,000 of them overflow V8's stack: a COPY of a directory of 200,000 files stopped with
 * "Maximum call stack size exceeded".
 */
function append<T>(to: T[], items: readonly T[]): void {
  for (const item of items) to.push(item);
}

/** The file a copied entry is, when it has other names: for joinHardLinks. */
const inodeOf = new WeakMap<LayerEntry, string>();

/**
 * Names of one file copied by one instruction stay one file, as BuildKit's copy keeps them: the
 * name that sorts first (in tar order) carries the bytes, the others are hard links to it.
 */
function joinHardLinks(entries: LayerEntry[]): void {
  const names = new Map<string, number[]>();
  entries.forEach((entry, at) => {
    const inode = inodeOf.get(entry);
    if (inode === undefined) return;
    // Added to in place: a copy of the list for each name made 50,000 names of one file 1.25 billion copies.
    const group = names.get(inode);
    if (group) group.push(at);
    else names.set(inode, [at]);
  });
  for (const group of names.values()) {
    if (group.length < 2) continue;
    const [first, ...others] = [...group].sort((a, b) => comparePaths(entries[a]!.path, entries[b]!.path));
    const target = entries[first!]!;
    for (const at of others) {
      const { path, mode, uid, gid } = entries[at]!;
      entries[at] = { path, type: 'link', linkname: target.path, mode, uid, gid };
    }
  }
}

/** Files from a stage or an image keep their extended attributes (a capability, user.*), as in BuildKit. */
async function withXattrs(entries: LayerEntry[], io: { signal?: AbortSignal }): Promise<LayerEntry[]> {
  const files = entries.filter((e) => e.type === 'file' && e.source !== undefined).map((e) => e.source!);
  const found = files.length > 0 ? await readXattrs(files, io) : new Map<string, Xattrs>();
  return found.size === 0 ? entries : entries.map((e) => (e.type === 'file' && found.has(e.source!) ? { ...e, xattrs: found.get(e.source!)! } : e));
}

/**
 * Where `named` (a path under `root`, a build context or an image's filesystem) really is: every
 * symlink on the way, the last one too, resolved inside `root` as if it were `/` (BuildKit's rule),
 * so a link that leaves it leads to a path that is not there.
 */
async function followInRoot(root: string, named: string, file: string, line: number, source: string): Promise<string> {
  return resolveInRoot(root, relative(root, named), { followFinal: true }).catch((error: unknown) => {
    throw error instanceof LinkLoopError ? badDockerfile(file, line, `COPY source ${JSON.stringify(source)}: too many levels of symbolic links`) : error;
  });
}

/** A context source: `path` is what is copied (links resolved in the context), `named` the path as written (it names the destination). */
interface ContextSource {
  readonly path: string;
  readonly named: string;
}

/**
 * Paths a COPY source names (globs in any segment) in a build context or a filesystem (`where` says
 * which, for messages), resolved inside it: never outside it.
 */
async function expandSource(context: string, source: string, file: string, line: number, keep: ContextFilter, where = 'the build context'): Promise<ContextSource[]> {
  const full = resolve(context, source.replace(/^\/+/, ''));
  if (relative(context, full).startsWith('..')) throw badDockerfile(file, line, `COPY source ${JSON.stringify(source)} is outside ${where}`);
  // What .dockerignore drops was never sent to the build: neither the name nor what it resolves to may be excluded.
  const present = async (path: string) => keep(path) && (await lstat(path).then(() => true, () => false));
  if (!isPattern(source)) {
    if (!keep(full)) throw badDockerfile(file, line, `COPY source ${JSON.stringify(source)} is excluded by .dockerignore`);
    const path = await followInRoot(context, full, file, line, source);
    if (!(await present(path))) throw badDockerfile(file, line, `COPY source ${JSON.stringify(source)} not found in ${where}`);
    return [{ path, named: full }];
  }
  let names = [context];
  for (const segment of relative(context, full).split(/[\\/]/)) {
    if (!isPattern(segment)) {
      names = names.map((p) => join(p, segment));
      continue;
    }
    const pattern = new RegExp(`^${patternSource(segment, { crossSlash: false })}$`);
    const next: string[] = [];
    for (const named of names) {
      // The directory listed is the one the name resolves to inside the context.
      const dir = await followInRoot(context, named, file, line, source);
      append(next, (await readdir(dir).catch(() => [] as string[])).filter((n) => pattern.test(n)).map((n) => join(named, n)));
    }
    names = next;
  }
  const found: ContextSource[] = [];
  for (const named of names.sort()) {
    if (!keep(named)) continue;
    const path = await followInRoot(context, named, file, line, source);
    if (await present(path)) found.push({ path, named });
  }
  if (found.length === 0) throw badDockerfile(file, line, `COPY source ${JSON.stringify(source)} matches no file in ${where}`);
  return found;
}

/** `--parents`: the part of a context path kept under the destination (after a `/./` pivot, if any). */
function keptParents(context: string, source: string, path: string): string {
  const pivot = source.indexOf('/./');
  const from = pivot >= 0 ? resolve(context, source.slice(0, pivot).replace(/^\/+/, '')) : context;
  return relative(from, path).split('\\').join('/');
}


/** The owner --chown names (root without it), with user and group names read from the stage as built so far. */
async function ownerOf(i: Instruction, state: StageState, ctx: PlatformContext, sub: (t: string) => string): Promise<Owner> {
  const chown = flagValue(i, 'chown');
  if (chown === undefined) return { uid: 0, gid: 0 };
  return namedOwner(sub(chown), i.line, state, ctx);
}

/** The owner `user[:group]` names, by number or by name as the stage's own /etc/passwd and /etc/group give it. */
export async function namedOwner(text: string, line: number, state: StageState, ctx: PlatformContext, label?: string): Promise<Owner> {
  // Names come from the stage as built so far: its layers.
  const readStageFile = (absolute: '/etc/passwd' | '/etc/group') => ctx.readOnce(state.layers, `file ${absolute}`, () => fileFromLayers(ctx.layout, state.layers, absolute.slice(1)));
  const owner = await lookupOwner(text, readStageFile, label);
  if (typeof owner === 'string') throw badDockerfile(ctx.file, line, owner);
  return owner;
}

/**
 * The directories a COPY's entries sit in that it does not copy itself: ones the stage has
 * keep their mode and owner; new ones are 755 and owned as --chown says, as in BuildKit.
 * `destinations`: where directory sources were copied to, made even when a source was empty
 * (BuildKit makes the destination of an empty directory).
 */
export async function parentDirectories(entries: readonly LayerEntry[], owner: Owner, state: StageState, ctx: PlatformContext, destinations: readonly string[] = []): Promise<LayerEntry[]> {
  const listed = new Set(entries.map((e) => e.path));
  const unlisted = [...new Set(destinations)].filter((d) => d !== '' && !listed.has(d));
  const missing = [...new Set([...missingParents([...entries, ...unlisted.map((path): LayerEntry => ({ path, type: 'directory', mode: 0o755, uid: 0, gid: 0 }))]), ...unlisted])];
  if (missing.length === 0) return [];
  const known = await stagePaths(state, ctx);
  return missing.map((path): LayerEntry => {
    const facts = known.get(path);
    return { path, type: 'directory', ...(facts?.type === 'directory' ? { mode: facts.mode, uid: facts.uid, gid: facts.gid } : { mode: 0o755, ...owner }) };
  });
}

/**
 * The directories and links the stage's layers make, read once per set of layers. Before a RUN,
 * layers whose lists are not kept yet are unpacked first (they will be for the RUN), which keeps
 * their lists: a scan of a Debian base is a read of 385 MB.
 */
export async function stagePaths(state: StageState, ctx: PlatformContext): Promise<ReadonlyMap<string, PathFacts>> {
  const read = async (layers: typeof state.layers, below?: KnownPaths): Promise<KnownPaths> => {
    if (state.runAhead && !(await layerPathsKept(ctx.layout, layers))) await unpackAhead(state, ctx);
    return pathsOf(ctx.layout, layers, below);
  };
  // The stage's start (a Debian base: thousands of paths) is read once; each later set of layers
  // adds its own to a copy of it (a WORKDIR's layer and then a COPY read the base once, not twice).
  const start = state.layers.slice(0, state.startLayers);
  const fromStart = ctx.readOnce(start, 'paths', () => read(start));
  const all = state.layers.length === start.length ? fromStart : ctx.readOnce(state.layers, 'paths', async () => read(state.layers.slice(start.length), await fromStart));
  return (await all).facts;
}

/** How many links one destination may pass through, as the kernel's limit (ELOOP). */
const MAX_LINKS = 40;

/**
 * `dest` (absolute, inside the image) with every directory on its way resolved through the links
 * the stage's layers make there, inside the image's root, as BuildKit copies through them: on a
 * base whose /bin links to usr/bin, `COPY x /bin/` writes /usr/bin/x and leaves the link alone.
 * With `last`, the final component is resolved too (a directory destination).
 */
export async function resolveDestination(dest: string, last: boolean, state: StageState, ctx: PlatformContext, line: number, loop: () => Error = () => badDockerfile(ctx.file, line, `COPY destination ${JSON.stringify(dest)}: too many levels of symbolic links`)): Promise<string> {
  const pending = dest.split('/').filter((c) => c !== '' && c !== '.');
  const kept = last ? [] : pending.splice(-1, 1);
  // Nothing to pass through (`COPY x /x`), or nothing to pass through yet (scratch).
  if (pending.length === 0 || state.layers.length === 0) return dest;
  const paths = await stagePaths(state, ctx);
  let at: string[] = [];
  for (let hops = 0; pending.length > 0; ) {
    const name = pending.shift()!;
    if (name === '..') {
      at.pop();
      continue;
    }
    const facts = paths.get([...at, name].join('/'));
    if (facts?.type !== 'symlink') {
      at.push(name);
      continue;
    }
    if (++hops > MAX_LINKS) throw loop();
    // The link's target, read inside the root: absolute from /, relative from the link's folder.
    if (facts.target.startsWith('/')) at = [];
    pending.unshift(...facts.target.split('/').filter((c) => c !== '' && c !== '.'));
  }
  return `/${[...at, ...kept].join('/')}`;
}

/** The stage `--from` names (by name or number), or -1: none, or an image. */
export function fromStage(i: Instruction, state: StageState, ctx: PlatformContext): number {
  const fromFlag = flagValue(i, 'from');
  if (fromFlag === undefined) return -1;
  return stageNamed(ctx.stages, ctx.substitute(fromFlag, state.vars, i.line));
}

/** What COPY or ADD `i` takes from its sources (substituted): URLs only for ADD, and ADD --checksum only with one URL. */
function checkSources(i: Instruction, sources: readonly string[], file: string): void {
  if (i.keyword === 'COPY' && sources.some(isRemoteSource)) throw badDockerfile(file, i.line, 'COPY does not take URLs; ADD does');
  // As in BuildKit: the checksum is of one download. Taken for files of the build context (which
  // it never checked), it read as a check that was not made.
  if (flagValue(i, 'checksum') !== undefined && (sources.length !== 1 || !isRemoteSource(sources[0]!))) {
    throw badDockerfile(file, i.line, `ADD --checksum: takes one source, an http(s) URL, not ${sources.map((s) => JSON.stringify(s)).join(', ')}`);
  }
}

/**
 * `--chmod` (never substituted, as in BuildKit; an empty one is none), and how the cache key holds
 * it: an octal mode as its number (as keys had it before symbolic modes), a symbolic one as written.
 */
function modeChange(i: Instruction, file: string): { readonly change: ModeChange; readonly key: number | string | null } {
  const text = flagValue(i, 'chmod') || undefined;
  if (text === undefined) return { change: KEEP_MODE, key: null };
  try {
    return { change: parseChmod(text), key: /^[0-7]+$/.test(text) ? Number.parseInt(text, 8) : text };
  } catch (error) {
    throw badDockerfile(file, i.line, (error as Error).message);
  }
}

/** What copyInstruction would refuse in `i` that no variable can change, for a check before any step runs. */
export function checkCopy(i: Instruction, file: string): void {
  modeChange(i, file);
  const parts = i.json ?? i.args;
  if (parts.length >= 2 && !parts.some((part) => part.includes('$'))) checkSources(i, parts.slice(0, -1), file);
}

/** COPY or ADD `i`: its entries become one layer (reused from the layer cache when the same entries were written before). */
export async function copyInstruction(i: Instruction, state: StageState, ctx: PlatformContext): Promise<void> {
  const { file, layout, created, compression, io } = ctx;
  // Where sources are read: the build context, or a directory context COPY --from names.
  let { context, keep } = ctx;
  const sub = (t: string) => ctx.substitute(t, state.vars, i.line);
  const parts = (i.json ?? i.args).map(sub);
  if (parts.length < 2) throw badDockerfile(file, i.line, `${i.keyword} needs a source and a destination`);
  const dest = parts[parts.length - 1]!;
  const sources = parts.slice(0, -1);
  checkSources(i, sources, file);
  const owner = await ownerOf(i, state, ctx, sub);
  // Only an explicit --chown replaces the owners files from a stage, an image or an archive had.
  const chown = flagValue(i, 'chown') !== undefined ? owner : undefined;
  const { change: mode, key: modeKey } = modeChange(i, file);
  // --parents keeps each source's directories under the destination (BuildKit's flag).
  const parentsFlag = flagValue(i, 'parents');
  const parents = parentsFlag !== undefined && parentsFlag !== 'false';
  // As in BuildKit, `.` and a path ending in `/` or `/.` name a directory: `COPY a .` is WORKDIR/a.
  let destIsDir = dest === '.' || dest.endsWith('/') || dest.endsWith('/.') || sources.length > 1 || parents;
  const destNamed = posix.resolve(state.workdir, dest);
  let destAbs = await resolveDestination(destNamed, destIsDir, state, ctx, i.line);
  if (!destIsDir && destAbs !== '/') {
    // A destination the stage already has as a directory (or a link to one) is copied into, as in BuildKit: `COPY a /etc` is /etc/a.
    const whole = await resolveDestination(destNamed, true, state, ctx, i.line);
    if ((await stagePaths(state, ctx)).get(whole.slice(1))?.type === 'directory') {
      destIsDir = true;
      destAbs = whole;
    }
  }
  const entries: LayerEntry[] = [];
  // Where directory sources go: made even when a source holds nothing.
  const dirDestinations: string[] = [];
  const excludes = flagValues(i, 'exclude');
  const fromFlag = flagValue(i, 'from');
  const fromName = fromFlag === undefined ? undefined : sub(fromFlag);
  // With its flags, as BuildKit records it (`COPY --chmod=644 a /a`).
  const createdBy = [i.keyword, ...flagWords(i.flags), i.text].join(' ');
  const directory = fromName === undefined ? undefined : ctx.named.directory(fromName);
  if (directory) ({ dir: context, keep } = directory);
  else if (fromName !== undefined) {
    // buildStage has refused a stage naming itself or a later one before this COPY started.
    const index = stageNamed(ctx.stages, fromName);
    const fromState = index >= 0 ? await ctx.buildStage(index) : undefined;
    // What is copied follows from the source's layers and this instruction alone: an unchanged COPY
    // --from is found by that key without making the source's filesystem (a warm build unpacks nothing).
    const sourceLayers = fromState ? fromState.diffIds : (await ctx.bases.pull(fromName, state.config as Platform, i.line)).diffIds;
    const key = createHash('sha256')
      .update(JSON.stringify(['copy-from', 2, sourceLayers, state.diffIds, i.keyword, parts, state.workdir, chown ?? null, modeKey, parents, excludes, created.toISOString(), compression.kind, effectiveLevel(compression)]))
      .digest('hex');
    let made: LayerEntry[] = [];
    let wrote = false;
    const layer = await cachedLayerByKey(layout, key, async () => {
      wrote = true;
      // A stage: its whole filesystem, base files included, as its steps left it. Else an image,
      // unpacked once per build and platform.
      const from = fromState ? await stageFilesystem(fromState, ctx) : await ctx.bases.unpack(fromName, state.config as Platform, i.line).then(({ root, recorded }) => ({ dir: root, recorded }));
      const where = fromState ? `stage ${fromName}` : `the image ${fromName}`;
      for (const source of sources) {
        // `..` stops at the filesystem's root, as inside a container; links are resolved inside it too.
        const rooted = posix.resolve('/', source);
        for (const { path, named } of await expandSource(from.dir, rooted, file, i.line, () => true, where)) {
          const isDir = (await lstat(path)).isDirectory();
          const copied = excludeFilter(excludes, isDir ? path : dirname(path));
          if (!copied(path)) continue;
          const target = parents ? posix.join(destAbs, keptParents(from.dir, source.includes('/./') ? source : rooted, named)) : isDir ? destAbs : destIsDir ? posix.join(destAbs, posix.basename(named)) : destAbs;
          if (isDir) dirDestinations.push(target.slice(1));
          append(entries, await withXattrs(contextEntries(path, target.slice(1), recordedFacts(from.dir, from.recorded, chown, mode), copied), io));
        }
      }
      joinHardLinks(entries);
      append(entries, await parentDirectories(entries, owner, state, ctx, dirDestinations));
      made = entries;
      return writeEntries(entries, ctx);
    });
    if (!wrote) ctx.progress.cached();
    // A reused layer's facts reach the stage's root when the root applies it.
    state.addLayer(layer, createdBy, created, made);
    return;
  }
  const checksum = flagValue(i, 'checksum');
  for (const source of sources) {
    if (isRemoteSource(source)) {
      // ADD URL: downloaded, never unpacked; mode 600 unless --chmod, as in BuildKit.
      const name = remoteFileName(source);
      if (destIsDir && !name) throw badDockerfile(file, i.line, `ADD ${source}: the URL names no file; give a file destination`);
      const downloaded = tempPathIn(layout.dir, 'download');
      ctx.addScratch(downloaded);
      const got = await downloadSource(source, downloaded, { ...(checksum !== undefined ? { checksum: sub(checksum) } : {}), ...io }).catch((error: unknown) => {
        throw error instanceof PolyarchError ? new PolyarchError(error.code, `${file}:${i.line}: ${error.message}`, { cause: error }) : error;
      });
      const target = destIsDir ? posix.join(destAbs, name!) : destAbs;
      entries.push({ path: target.slice(1), type: 'file', source: downloaded, size: got.size, mode: mode(0o600, false), ...owner, contentKey: got.sha256 });
      continue;
    }
    const heredoc = i.heredocs?.find((h) => `<<${h.name}` === source);
    if (heredoc) {
      // A here-document becomes a file named after it (mode 644 unless --chmod).
      const content = heredoc.expand ? sub(heredoc.content) : heredoc.content;
      const written = tempPathIn(layout.dir, 'heredoc');
      ctx.addScratch(written);
      await writeFile(written, content, { flag: 'wx' });
      const target = destIsDir ? posix.join(destAbs, heredoc.name) : destAbs;
      const contentKey = createHash('sha256').update(content).digest('hex');
      entries.push({ path: target.slice(1), type: 'file', source: written, size: Buffer.byteLength(content), mode: mode(0o644, false), ...owner, contentKey });
      continue;
    }
    for (const { path, named } of await expandSource(context, source, file, i.line, keep, directory ? `the build context ${fromName}` : undefined)) {
      const isDir = (await lstat(path)).isDirectory();
      const copied = excludeFilter(excludes, isDir ? path : dirname(path));
      if (!copied(path)) continue;
      // ADD unpacks a local tar archive (plain, gzip, bzip2, xz or zstd) into the destination directory.
      const archive = i.keyword === 'ADD' && !isDir ? await openAddArchive(path) : undefined;
      if (archive) {
        const unpacked = tempPathIn(layout.dir, 'add');
        ctx.addScratch(unpacked);
        await makeDirectories(unpacked);
        const recorded: RecordedFacts = new Map();
        await applyLayer(unpacked, archive, { mediaType: MediaType.OciLayer, source: relative(context, path), record: recorded, ...io });
        append(entries, contextEntries(unpacked, destAbs.slice(1), recordedFacts(unpacked, recorded, chown, mode), () => true));
        continue;
      }
      const target = parents ? posix.join(destAbs, keptParents(context, source, named)) : isDir ? destAbs : destIsDir ? posix.join(destAbs, posix.basename(named)) : destAbs;
      if (isDir) dirDestinations.push(target.slice(1));
      append(entries, contextEntries(path, target.slice(1), contextFacts(owner, mode), (p) => keep(p) && copied(p)));
    }
  }
  joinHardLinks(entries);
  append(entries, await parentDirectories(entries, owner, state, ctx, dirDestinations));
  await addEntriesLayer(entries, createdBy, state, ctx);
}

/**
 * A stage `FROM NAME` of a directory given with --build-context starts as BuildKit starts it: the
 * directory's files (what its .dockerignore keeps) as the first layer over scratch, owned by root.
 */
export async function directoryBaseLayer(directory: DirectoryContext, name: string, state: StageState, ctx: PlatformContext): Promise<void> {
  const entries = contextEntries(directory.dir, '', contextFacts({ uid: 0, gid: 0 }, KEEP_MODE), directory.keep);
  joinHardLinks(entries);
  await addEntriesLayer(entries, `FROM ${name}`, state, ctx);
}

/** `entries` as the stage's next layer: the cached one for the same entries, else written now (the step then says CACHED or not). */
export async function addEntriesLayer(entries: readonly LayerEntry[], createdBy: string, state: StageState, ctx: PlatformContext): Promise<void> {
  let wrote = false;
  const layer = await cachedLayer(ctx.layout, entries, ctx.created, ctx.compression, async () => {
    wrote = true;
    return writeEntries(entries, ctx);
  });
  if (!wrote) ctx.progress.cached();
  state.addLayer(layer, createdBy, ctx.created, entries);
}

/** Writes `entries` as a layer blob of the build cache. */
async function writeEntries(entries: readonly LayerEntry[], ctx: PlatformContext): Promise<CachedLayer> {
  const temp = tempPathIn(ctx.layout.dir, 'layer');
  try {
    // writeLayer hashed the blob as it wrote it: the file becomes the blob as it is.
    const written = await compressReported(ctx.onTransfer, ctx.platform, temp, (onBytes) =>
      writeLayer(entries, { file: temp, mtime: ctx.created, compression: ctx.compression, ...(onBytes ? { onBytes } : {}) }),
    );
    await ctx.layout.adoptBlobFile(written.descriptor, temp);
    return written;
  } finally {
    await rm(temp, { force: true });
  }
}
