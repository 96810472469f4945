// RUN: the step runs in the stage's filesystem (made on disk at the stage's first RUN, from its
// layers), and what it changed there becomes one layer. Shell and exec forms, SHELL, ENV/ARG,
// WORKDIR and USER apply; mounts, network and security flags are not supported yet.
import { mkdir, rm } from 'node:fs/promises';
import { ensureWorkdir, withDefaultEnv } from '../executor/executor.js';
import { Writable } from 'node:stream';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { tempPathIn } from '../../internal/temp-path.js';
import { applyLayer, applyRecordedFacts, type RecordedFacts } from '../../layer/extract.js';
import { snapshotTree } from '../../layer/snapshot.js';
import { diffTree } from '../../layer/diff.js';
import { writeLayer } from '../../layer/writer.js';
import { formatPlatform, type Platform } from '../../platform/platform.js';
import { badDockerfile, execForm, type Instruction } from '../dockerfile.js';
import { PLATFORM_ARGS } from './metadata.js';
import { runStepProcess } from '../step-process.js';
import type { PlatformContext, StageState } from '../stage.js';

/** Lines of a failed step's output the error shows. */
const TAIL_LINES = 5;
const UNSUPPORTED_FLAGS = ['mount', 'network', 'security'];

/**
 * The stage's filesystem on disk, with every layer the stage has so far applied: made at its first
 * RUN, then brought up to date with the layers added since (COPY) before each later one.
 */
async function stageRoot(state: StageState, ctx: PlatformContext): Promise<string> {
  if (!state.root) {
    const dir = tempPathIn(ctx.layout.dir, 'stage');
    ctx.addScratch(dir);
    await mkdir(dir, { recursive: true });
    state.root = { dir, recorded: new Map(), applied: 0 };
  }
  const root = state.root;
  for (; root.applied < state.layers.length; root.applied++) {
    const layer = state.layers[root.applied]!;
    const record: RecordedFacts = new Map();
    await applyLayer(root.dir, await ctx.layout.openBlob(layer), { mediaType: layer.mediaType, source: layer.digest, record, ...ctx.io });
    await applyRecordedFacts(root.dir, record);
    for (const [k, v] of record) root.recorded.set(k, v);
  }
  return root.dir;
}

/** Keeps the last lines written to it. */
class Tail extends Writable {
  #text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.#text = (this.#text + chunk.toString('utf8')).slice(-8192);
    done();
  }
  lines(): string[] {
    return this.#text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '').slice(-TAIL_LINES);
  }
}

/** The step's environment: the stage's ENV and ARGs, the automatic platform args, PATH and HOME if unset. */
function stepEnv(state: StageState, ctx: PlatformContext): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PLATFORM_ARGS) {
    const value = ctx.args.automatic.get(name);
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of state.vars) env[name] = value;
  return withDefaultEnv(env);
}

function stagePlatform(state: StageState): Platform {
  const { os, architecture, variant } = state.config as { os: string; architecture: string; variant?: string };
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export async function runInstruction(i: Instruction, state: StageState, ctx: PlatformContext): Promise<void> {
  for (const flag of UNSUPPORTED_FLAGS) {
    if (i.flags.has(flag)) throw badDockerfile(ctx.file, i.line, `RUN --${flag} is not supported yet`);
  }
  if (i.heredocs?.length) throw badDockerfile(ctx.file, i.line, 'RUN with a here-document is not supported yet');
  const exec = i.json ?? execForm(i.text);
  const args = exec ?? [...state.shell, i.text];
  if (args.length === 0) throw badDockerfile(ctx.file, i.line, 'RUN needs a command');
  const root = await stageRoot(state, ctx);
  const cwd = state.workdir;
  await ensureWorkdir(root, cwd);
  const before = await snapshotTree(root, ctx.io);
  const platform = stagePlatform(state);
  const output = new Tail();
  const result = await runStepProcess(ctx, output, (io) =>
    ctx.executor.run({ args }, { rootfs: root, platform, env: stepEnv(state, ctx), cwd, user: state.user ?? '', mounts: [], network: 'default', ...io, signal: ctx.io.signal }),
  );
  if (result.exitCode !== 0) {
    const tail = output.lines();
    const shown = tail.length > 0 ? `: ${tail.join(' | ')}` : '';
    throw new PolyarchError('STEP_FAILED', `${ctx.file}:${i.line}: [${formatPlatform(platform)}] RUN ${i.text} exited with code ${result.exitCode}${shown}`);
  }
  const changes = await diffTree(before, { recorded: state.root!.recorded, ...ctx.io });
  for (const notice of changes.notices) ctx.progress.notice(notice.message);
  const temp = tempPathIn(ctx.layout.dir, 'layer');
  try {
    const written = await writeLayer(changes.entries, { file: temp, mtime: ctx.created, compression: ctx.compression });
    await ctx.layout.adoptBlobFile(written.descriptor, temp);
    state.addLayer(written, `RUN ${i.text}`, ctx.created, changes.entries);
  } finally {
    await rm(temp, { force: true });
  }
  // The root already holds what the new layer does.
  state.root!.applied = state.layers.length;
}
