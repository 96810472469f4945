// A stage's filesystem on disk: its layers applied into a scratch directory of the build, made the
// first time something needs it (a RUN, a COPY --from=<stage>, a bind mount of the stage) and
// brought up to date with the layers added since before each later use. RUN steps change it in
// place; the layer a step writes is not applied again. A stage that starts from an earlier one
// starts from a copy of that stage's root when there is one.
import { execFile } from 'node:child_process';
import { mkdir, realpath, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tempPathIn } from '../internal/temp-path.js';
import { materializeLayers } from '../layer/materialize.js';
import type { RecordedFacts } from '../layer/extract.js';
import type { PlatformContext, StageState } from './stage.js';

/** The stage's root directory and the modes and owners its layers give each path (relative to it). */
export interface StageFilesystem {
  readonly dir: string;
  readonly recorded: RecordedFacts;
}

const execFileAsync = promisify(execFile);

/** One update at a time per stage: a second caller waits for the first and then finds nothing left to apply. */
const updating = new WeakMap<StageState, Promise<unknown>>();

/** The stage's filesystem with every layer it has so far applied. */
export async function stageFilesystem(state: StageState, ctx: PlatformContext): Promise<StageFilesystem> {
  const previous = updating.get(state) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(() => bringUpToDate(state, ctx));
  updating.set(state, next);
  return next;
}

/** The stage's root directory, up to date (what RUN runs in). */
export async function stageRoot(state: StageState, ctx: PlatformContext): Promise<string> {
  return (await stageFilesystem(state, ctx)).dir;
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
    await mkdir(made, { recursive: true });
    // The real path: recorded facts and COPY --from sources are named relative to it.
    state.root = { dir: await realpath(made), recorded: new Map(), applied: 0 };
  }
  const root = state.root;
  const missing = state.layers.slice(root.applied);
  if (missing.length > 0) {
    // Steps may have given files owners the caller cannot write over (a fresh root has none).
    if (root.applied > 0) await ctx.executor.releaseRoot?.(root.dir);
    await materializeLayers(root.dir, missing, (layer) => ctx.layout.openBlob(layer), { recorded: root.recorded, ...ctx.io });
    root.applied += missing.length;
  }
  return { dir: root.dir, recorded: root.recorded };
}
