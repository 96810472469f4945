// A stage's filesystem on disk, two ways. Copied: its layers applied into a scratch directory of
// the build, made the first time something needs it (a RUN, a COPY --from=<stage>, a bind mount of
// the stage) and brought up to date with the layers added since before each later use; RUN steps
// change it in place, and the layer a step writes is not applied again; a stage that starts from
// an earlier one starts from a copy of that stage's root when there is one. Mounted (RUN steps,
// where overlayfs works): each layer unpacked once into the build cache (unpacked-store.ts) and
// stacked under a fresh upper directory for the step, which then becomes the step's layer's
// directory; COPY --from and RUN --mount from= read a read-only overlay of the stage's unpacked
// layers when the stage has no copied root.
import { execFile } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { link, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { asError, PolyarchError } from '../errors/polyarch-error.js';
import { tempPathIn } from '../internal/temp-path.js';
import { materializeLayersInWorker } from '../layer/unpack-in-worker.js';
import { mountOverlay, overlayWorks, type OverlayMount } from '../layer/overlay-mount.js';
import { UnpackedLayers, chainKey } from '../layer/unpacked-store.js';
import type { BottomLayerUnpacker } from './base-image.js';
import { diffUpper, type UpperChanges } from '../layer/upper-diff.js';
import type { RecordedFacts } from '../layer/extract.js';
import { layerOpener, layerPathsKeeper } from './layer-scan.js';
import type { PlatformContext, StageState } from './stage.js';
import { makeDirectories } from '../internal/make-directories.js';

/** The stage's root directory and the modes and owners its layers give each path (relative to it). */
export interface StageFilesystem {
  readonly dir: string;
  readonly recorded: RecordedFacts;
}

const execFileAsync = promisify(execFile);

/** One update at a time per stage: a second caller waits for the first and then finds nothing left to apply. */
const updating = new WeakMap<StageState, Promise<unknown>>();

/** Runs `work` once the stage's update before it has ended, and makes it the one the next waits for. */
function inTurn<T>(state: StageState, work: () => Promise<T>): Promise<T> {
  const next = (updating.get(state) ?? Promise.resolve()).catch(() => undefined).then(work);
  updating.set(state, next);
  return next;
}

/**
 * The stage's filesystem with every layer it has so far applied, to read (COPY --from, RUN --mount
 * from=): where overlay mounts work and the stage has no copied root, a read-only overlay of its
 * unpacked layers (kept until the build ends), else its copied root.
 */
export function stageFilesystem(state: StageState, ctx: PlatformContext): Promise<StageFilesystem> {
  return inTurn(state, async () => (!state.root && (await mountedView(state, ctx))) || bringUpToDate(state, ctx));
}

/** The stage's root directory, up to date, to read. */
export async function stageRoot(state: StageState, ctx: PlatformContext): Promise<string> {
  return (await stageFilesystem(state, ctx)).dir;
}

/** The stage's copied root, up to date: what a RUN step changes in place when stage roots are not mounted. */
export async function copiedStageRoot(state: StageState, ctx: PlatformContext): Promise<string> {
  return (await inTurn(state, () => bringUpToDate(state, ctx))).dir;
}

/** Modes and owners as a mounted view has them on disk (root unpacked the layers, so they are the headers'). */
class DiskFacts extends Map<string, { readonly mode: number; readonly uid: number; readonly gid: number }> {
  constructor(private readonly root: string) {
    super();
  }
  override get(path: string) {
    const facts = lstatSync(join(this.root, path), { throwIfNoEntry: false });
    return facts && { mode: facts.mode & 0o7777, uid: facts.uid, gid: facts.gid };
  }
}

/** Whether the stage's layers are unpacked into the store and mounted: roots are not copied, it has layers, and overlay mounts work here. */
async function layersMounted(state: StageState, ctx: PlatformContext): Promise<boolean> {
  return ctx.stageRoots.mode !== 'copy' && state.layers.length > 0 && (await overlayWorks(ctx.layout.dir));
}

/** Read-only views of stages' layers made in this process, by stage and chain. */
const views = new WeakMap<StageState, { readonly key: string; readonly fs: StageFilesystem }>();

/**
 * A read-only overlay of the stage's unpacked layers (its one layer's directory, for one), or
 * undefined where stage roots are copied. Reading it needs no copy of the stage at all.
 */
async function mountedView(state: StageState, ctx: PlatformContext): Promise<StageFilesystem | undefined> {
  if (!(await layersMounted(state, ctx))) return undefined;
  const key = chainKey(state.layers.map((l) => l.digest));
  const known = views.get(state);
  if (known?.key === key) return known.fs;
  const store = unpackedLayers(ctx.layout.dir);
  const lowers = await unpackedLowers(store, state, ctx);
  if (lowers instanceof Error) return undefined;
  let dir = lowers[0]!;
  if (lowers.length > 1) {
    const ws = await store.workspace();
    ctx.addScratch(ws.root); // unmounted and removed when the build ends
    try {
      await mountOverlay({ base: store.dir, lowers, merged: ws.merged, signal: ctx.io.signal });
    } catch (error) {
      await store.discard(ws);
      if (ctx.io.signal.aborted) throw error;
      return undefined;
    }
    dir = ws.merged;
  }
  const real = await realpath(dir);
  const fs = { dir: real, recorded: new DiskFacts(real) as unknown as RecordedFacts };
  views.set(state, { key, fs });
  return fs;
}

/**
 * A copy of the root of the stage `state` starts from, when that stage made one: copying a tree
 * (cp -a: links, hard links, pipes, modes, owners and attributes kept, nothing followed; reflinks
 * where the file system has them) is many times faster than applying its layers again.
 */
async function copyOrigin(state: StageState, ctx: PlatformContext): Promise<StageState['root']> {
  const origin = state.derivedFrom;
  if (!origin?.root || !origin.layers.every((layer, i) => state.layers[i]?.digest === layer.digest)) return undefined;
  const from = await stageFilesystem(origin, ctx);
  const made = tempPathIn(ctx.layout.dir, 'stage');
  ctx.addScratch(made);
  try {
    await execFileAsync('cp', ['-a', '--reflink=auto', '--', from.dir, made], { signal: ctx.io.signal });
  } catch {
    await rm(made, { recursive: true, force: true });
    return undefined; // made from the layers instead
  }
  return { dir: await realpath(made), recorded: new Map(from.recorded), applied: origin.layers.length };
}

async function bringUpToDate(state: StageState, ctx: PlatformContext): Promise<StageFilesystem> {
  if (!state.root) {
    const copied = await copyOrigin(state, ctx);
    if (copied) state.root = copied;
  }
  if (!state.root) {
    const made = tempPathIn(ctx.layout.dir, 'stage');
    ctx.addScratch(made);
    await makeDirectories(made);
    // The real path: recorded facts and COPY --from sources are named relative to it.
    state.root = { dir: await realpath(made), recorded: new Map(), applied: 0 };
  }
  const root = state.root;
  const missing = state.layers.slice(root.applied);
  if (missing.length > 0) {
    // Steps may have given files owners the caller cannot write over (a fresh root has none).
    if (root.applied > 0) await ctx.executor.releaseRoot?.(root.dir);
    await materializeLayersInWorker(root.dir, missing, layerOpener(ctx.layout), { recorded: root.recorded, onLayerPaths: layerPathsKeeper(ctx.layout), ...ctx.io });
    root.applied += missing.length;
  }
  return { dir: root.dir, recorded: root.recorded };
}

/** How RUN steps get their root: an overlay mount of the unpacked layers, a copied tree, or overlay where it works. */
export type StageRootMode = 'auto' | 'overlay' | 'copy';

/** The build's choice, shared by its platforms: `fellBack` is set once auto mode has said it copies instead. */
export interface StageRootsChoice {
  readonly mode: StageRootMode;
  fellBack?: boolean;
}

/** A stage root mounted for one RUN step (overlay mode). */
export interface MountedStageRoot {
  /** The merged tree the step runs in. */
  readonly dir: string;
  /** What the step changed (read from the upper directory); hard links copy-up broke are made again in the tree. */
  changes(): Promise<UpperChanges>;
  /** Unmounts and keeps the upper directory as the unpacked form of the step's layer (`digest`). */
  adopt(digest: string): Promise<void>;
  /** Unmounts and drops the step's directories, unless adopted. Safe to call twice. */
  release(): Promise<void>;
}

const stores = new Map<string, UnpackedLayers>();

/**
 * The unpacked directories of the stage's layers, bottom first (an empty one for a stage with
 * none). Bad content and Ctrl-C are thrown; any other failure is returned, for the caller to fall
 * back to a copied root.
 */
async function unpackedLowers(store: UnpackedLayers, state: StageState, ctx: PlatformContext): Promise<string[] | Error> {
  try {
    return state.layers.length > 0 ? await store.lowers(state.layers, layerOpener(ctx.layout), { signal: ctx.io.signal, onLayerPaths: layerPathsKeeper(ctx.layout) }) : [await store.emptyLayer()];
  } catch (error) {
    if (error instanceof PolyarchError || ctx.io.signal.aborted) throw error;
    return asError(error);
  }
}

function unpackedLayers(cacheDir: string): UnpackedLayers {
  let store = stores.get(cacheDir);
  if (!store) {
    store = new UnpackedLayers(cacheDir);
    stores.set(cacheDir, store);
  }
  return store;
}

/**
 * Unpacks the stage's layers into the store now, where stage roots are mounted, for a RUN still to
 * come: their path lists are kept as they are read, so a COPY before that RUN reads those instead of
 * scanning layers the RUN unpacks anyway. Where roots are copied, or unpacking fails for a reason of
 * this machine, nothing happens here (the RUN says why); a hostile layer fails here.
 */
export async function unpackAhead(state: StageState, ctx: PlatformContext): Promise<void> {
  if (!(await layersMounted(state, ctx))) return;
  await unpackedLowers(unpackedLayers(ctx.layout.dir), state, ctx);
}

/**
 * Where stage roots are mounted, what unpacks a base's bottom layer into the store while a pull
 * copies it into the cache (for a stage with a RUN to come): the pull's tap for that layer, or
 * undefined when nothing is to be tapped. Where roots are copied, undefined.
 */
export async function unpackerWhilePulled(ctx: PlatformContext): Promise<BottomLayerUnpacker | undefined> {
  if (ctx.stageRoots.mode === 'copy' || !(await overlayWorks(ctx.layout.dir))) return undefined;
  const store = unpackedLayers(ctx.layout.dir);
  return (layer, copied) => store.unpackWhileCopied(layer, layerOpener(ctx.layout), { signal: ctx.io.signal, onLayerPaths: layerPathsKeeper(ctx.layout) }, copied);
}

/** `rel` below `root` when every directory on the way is a real directory (no link can lead the path elsewhere). */
function directPath(root: string, rel: string): string | undefined {
  let at = root;
  const parts = rel.split('/');
  for (const part of parts.slice(0, -1)) {
    at = join(at, part);
    if (!lstatSync(at, { throwIfNoEntry: false })?.isDirectory()) return undefined;
  }
  return join(at, parts.at(-1)!);
}

/**
 * The stage's root as an overlay of its unpacked layers with a fresh upper directory, for one RUN
 * step; undefined when stage roots are copied (mode `copy`, or `auto` where overlay mounts do not
 * work here: said once per build as a notice). Mode `overlay` where they do not work is an error.
 */
export async function mountStageRoot(state: StageState, ctx: PlatformContext): Promise<MountedStageRoot | undefined> {
  const choice = ctx.stageRoots;
  if (choice.mode === 'copy') return undefined;
  const fallBack = (why: string): undefined => {
    if (choice.mode === 'overlay') throw new PolyarchError('UNSUPPORTED', `cannot mount the stage root with overlayfs: ${why}`);
    if (!choice.fellBack) ctx.progress.notice(`stage roots are copied, not mounted with overlayfs: ${why}`);
    choice.fellBack = true;
    return undefined;
  };
  if (!(await overlayWorks(ctx.layout.dir))) return fallBack('overlay mounts need root and a kernel and file system that allow them');
  const store = unpackedLayers(ctx.layout.dir);
  const digests = state.layers.map((l) => l.digest);
  const lowers = await unpackedLowers(store, state, ctx);
  if (lowers instanceof Error) return fallBack(`unpacking the layers failed (${lowers.message.split('\n')[0]})`);
  const ws = await store.workspace();
  ctx.addScratch(ws.root);
  const mounts: OverlayMount[] = [];
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    for (const mount of mounts.reverse()) await mount.unmount();
    await store.discard(ws);
  };
  try {
    mounts.push(await mountOverlay({ base: store.dir, lowers, upper: ws.upper, work: ws.work, merged: ws.merged, signal: ctx.io.signal }));
    // The tree as it was, for the diff: the one lower itself, or the lowers merged read-only.
    if (lowers.length > 1) mounts.push(await mountOverlay({ base: store.dir, lowers, merged: ws.before, signal: ctx.io.signal }));
  } catch (error) {
    await release();
    if (ctx.io.signal.aborted) throw error;
    return fallBack(`the mount failed (${(error as Error).message.split('\n')[0]})`);
  }
  const before = lowers.length > 1 ? ws.before : lowers[0]!;
  const merged = await realpath(ws.merged);
  return {
    dir: merged,
    release,
    changes: async () => {
      const changes = await diffUpper({ upper: await realpath(ws.upper), before, merged, lowers, signal: ctx.io.signal });
      for (const fix of changes.linkFixups) {
        const path = directPath(merged, fix.path);
        const target = directPath(merged, fix.target);
        if (path === undefined || target === undefined) continue;
        await rm(path, { force: true });
        await link(target, path);
      }
      return changes;
    },
    adopt: async (digest) => {
      for (const mount of mounts.reverse()) await mount.unmount();
      mounts.length = 0;
      await store.adopt(ws, [...digests, digest]);
      released = true;
    },
  };
}
