// A stage's filesystem on disk: its layers applied into a scratch directory of the build, made the
// first time something needs it (a RUN, a COPY --from=<stage>, a bind mount of the stage) and
// brought up to date with the layers added since before each later use. RUN steps change it in
// place; the layer a step writes is not applied again.
import { mkdir, realpath } from 'node:fs/promises';
import { tempPathIn } from '../internal/temp-path.js';
import { materializeLayers } from '../layer/materialize.js';
import type { RecordedFacts } from '../layer/extract.js';
import type { PlatformContext, StageState } from './stage.js';

/** The stage's root directory and the modes and owners its layers give each path (relative to it). */
export interface StageFilesystem {
  readonly dir: string;
  readonly recorded: RecordedFacts;
}

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

async function bringUpToDate(state: StageState, ctx: PlatformContext): Promise<StageFilesystem> {
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
    await materializeLayers(root.dir, missing, (layer) => ctx.layout.openBlob(layer), { recorded: root.recorded, ...ctx.io });
    root.applied += missing.length;
  }
  return { dir: root.dir, recorded: root.recorded };
}
