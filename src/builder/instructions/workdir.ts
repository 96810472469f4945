// WORKDIR as BuildKit runs it: the config's working directory, and the directory itself (with any
// missing parents) made in a layer of its own when the stage lacks it, mode 755, owned by the
// stage's USER when one is set (parents too, as BuildKit's MkdirAllAndChownNew makes them).
// Before, only the config changed: `COPY --from=<stage> /app` of a WORKDIR nothing wrote into was
// "not found", and the image had no such directory.
import { posix } from 'node:path';
import { PolyarchError } from '../../errors/polyarch-error.js';
import type { LayerEntry } from '../../layer/writer.js';
import { badDockerfile, type Instruction } from '../dockerfile.js';
import type { PlatformContext, StageState } from '../stage.js';
import { addEntriesLayer, namedOwner, parentDirectories, resolveDestination, stagePaths } from './copy.js';

export async function workdirInstruction(i: Instruction, state: StageState, ctx: PlatformContext): Promise<void> {
  const workdir = posix.resolve(state.workdir, ctx.substitute(i.text, state.vars, i.line));
  state.config.config.WorkingDir = workdir;
  const createdBy = `WORKDIR ${workdir}`;
  const made = workdir === '/' ? undefined : await missingDirectories(workdir, i, state, ctx);
  if (!made) {
    state.note(createdBy, ctx.created, true);
    return;
  }
  await addEntriesLayer(made, createdBy, state, ctx);
}

/** The entries that make `workdir` (through the links the stage has on the way); undefined when the stage has it. */
async function missingDirectories(workdir: string, i: Instruction, state: StageState, ctx: PlatformContext): Promise<LayerEntry[] | undefined> {
  // A loop of links in the base is the image's fault, as when a RUN makes the directory.
  const loop = () => new PolyarchError('NOT_FOUND', `${ctx.file}:${i.line}: cannot make working directory ${JSON.stringify(workdir)}: its path in the image is a loop of symbolic links`);
  const target = (await resolveDestination(workdir, true, state, ctx, i.line, loop)).slice(1);
  if (target === '') return undefined;
  const found = state.layers.length === 0 ? undefined : (await stagePaths(state, ctx)).get(target);
  if (found?.type === 'directory') return undefined;
  if (found) throw badDockerfile(ctx.file, i.line, `WORKDIR ${workdir}: the stage has a file there, not a directory`);
  const owner = state.user ? await namedOwner(state.user, i.line, state, ctx, `WORKDIR ${workdir} as USER ${state.user}`) : { uid: 0, gid: 0 };
  const directory: LayerEntry = { path: target, type: 'directory', mode: 0o755, ...owner };
  return [...(await parentDirectories([directory], owner, state, ctx)), directory];
}
