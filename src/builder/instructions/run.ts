// RUN: the step runs in the stage's filesystem (an overlay mount of its unpacked layers, or a
// copied tree made at the stage's first RUN; stage-root.ts), and what it changed there becomes one
// layer. Shell and exec forms, here-documents,
// SHELL, ENV/ARG, WORKDIR and USER apply; --mount (run-mounts.ts), --network and --security
// (run-flags.ts) are read; an unchanged step reuses its layer (run-cache.ts) without running.
import { lstat, rm } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { resolveInRoot } from '../../internal/contained-path.js';
import { ensureWorkdir, withDefaultEnv } from '../executor/executor.js';
import { TextCapture } from '../../internal/text-capture.js';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { tempPathIn } from '../../internal/temp-path.js';
import { snapshotTree } from '../../layer/snapshot.js';
import { diffTree } from '../../layer/diff.js';
import { writeLayer, type LayerEntry } from '../../layer/writer.js';
import { compressReported } from '../progress.js';
import { formatPlatform, type Platform } from '../../platform/platform.js';
import { badDockerfile, execForm, heredocWord, type Instruction } from '../dockerfile.js';
import { PLATFORM_ARGS } from './metadata.js';
import { resolveUser } from '../passwd.js';
import { runStepProcess } from '../step-process.js';
import type { PlatformContext, StageState } from '../stage.js';
import type { Mount, NetworkMode, RunResult } from '../executor/executor.js';
import { cachedLayerByKey, type CachedLayer } from '../cache/layer-cache.js';
import { runCacheKey } from '../cache/run-cache.js';
import { parseRunFlags } from './run-flags.js';
import { planRunMounts, type MountPlan } from './run-mounts.js';
import { copiedStageRoot, mountStageRoot } from '../stage-root.js';

/** Lines of a failed step's output the error shows. */
const TAIL_LINES = 5;

/** The last lines of a step's output, for its error. */
function lastLines(output: TextCapture): string[] {
  return output.text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '').slice(-TAIL_LINES);
}

/**
 * BuildKit's predefined proxy args: given with --build-arg, a RUN sees them without an ARG line,
 * and they stay out of its cache key (and the history) unless an ARG declares them.
 */
const PROXY_ARGS: readonly string[] = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

/** The proxy args given with --build-arg that the stage has not declared (those are in its variables already). */
function proxyEnv(state: StageState, ctx: PlatformContext): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PROXY_ARGS) {
    const value = ctx.args.given?.[name];
    if (value !== undefined && !state.vars.has(name)) env[name] = value;
  }
  return env;
}

/** The step's environment: the stage's ENV and ARGs, the automatic platform args, PATH if unset (HOME if unset comes from the user, in the executor). */
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

/** What a RUN runs: its argv, and a `#!` here-document mounted as the program (BuildKit's rule). */
interface StepCommand {
  readonly args: readonly string[];
  readonly mounts: readonly Mount[];
  /** The contents of documents mounted as files, for the cache key. */
  readonly documents: readonly string[];
}

/**
 * The argv of a RUN. Here-documents as BuildKit runs them: a command that is just one document
 * runs that document, as a program when it starts with `#!` (mounted read-only at
 * /dev/pipes/NAME), else as the shell's script; any other command is handed to the shell whole,
 * with its documents after it, for the shell to read as here-documents.
 */
function stepCommand(i: Instruction, state: StageState, ctx: PlatformContext): StepCommand {
  if (i.heredocs?.length) {
    // A whole command that is one here-document word (`<<EOF`, `<<-"EOF"`, `3<<EOF`).
    const lone = heredocWord(i.text);
    const first = i.heredocs[0]!;
    if (lone && i.heredocs.length === 1) {
      if (first.content.startsWith('#!')) {
        const target = `/dev/pipes/${first.name}`;
        return { args: [target], mounts: [{ type: 'data', target, content: first.content, mode: 0o755 }], documents: [first.content] };
      }
      return { args: [...state.shell, first.content], mounts: [], documents: [] };
    }
    const script = i.text + i.heredocs.map((doc) => `\n${doc.content}${doc.name}`).join('');
    return { args: [...state.shell, script], mounts: [], documents: [] };
  }
  const exec = i.json ?? execForm(i.text);
  const args = exec ?? [...state.shell, i.text];
  if (args.length === 0) throw badDockerfile(ctx.file, i.line, 'RUN needs a command');
  // A JSON form may say \u0000, which no program's argument can hold.
  const withNul = args.findIndex((word) => word.includes('\0'));
  if (withNul >= 0) throw badDockerfile(ctx.file, i.line, `RUN: word ${withNul + 1} of the command holds a NUL byte`);
  return { args, mounts: [], documents: [] };
}

/** Shorter lines of a multi-line secret are not masked on their own: `}` or `--` would garble every line. */
const MIN_MASKED_LINE = 4;

/**
 * `text` with every secret value replaced by `****`: a step's output may print one. Output is
 * shown a line at a time, so a multi-line secret (a PEM key, a .netrc) is masked line by line too.
 */
function maskSecrets(text: string, secrets: readonly Uint8Array[]): string {
  const pieces = new Set<string>();
  for (const secret of secrets) {
    const value = Buffer.from(secret).toString('utf8').trim();
    if (value.length >= 1) pieces.add(value);
    for (const line of value.split(/\r?\n/)) if (line.trim().length >= MIN_MASKED_LINE) pieces.add(line.trim());
  }
  let masked = text;
  // Longest first: a whole value goes before the lines it holds.
  for (const piece of [...pieces].sort((a, b) => b.length - a.length)) masked = masked.split(piece).join('****');
  return masked;
}

export async function runInstruction(i: Instruction, state: StageState, ctx: PlatformContext): Promise<void> {
  const sub = (text: string) => ctx.substitute(text, state.vars, i.line);
  const flags = parseRunFlags(i, state.workdir, sub, ctx.file);
  const command = stepCommand(i, state, ctx);
  const platform = stagePlatform(state);
  const plan = await planRunMounts(flags.mounts, state, platform, ctx, i.line);
  const env = stepEnv(state, ctx);
  const user = state.user ?? '';
  // BuildKit: a step's --network=default is the build's network (buildx --network), as is no flag.
  const network = flags.network === 'default' ? ctx.network : flags.network;
  const key = runCacheKey({
    parent: state.diffIds,
    args: command.args,
    documents: command.documents,
    env,
    user,
    workdir: state.workdir,
    platform,
    network,
    ...(ctx.extraHosts.length > 0 ? { extraHosts: ctx.extraHosts } : {}),
    mounts: plan.keyParts,
    created: ctx.created,
    compression: ctx.compression,
  });
  let entries: readonly LayerEntry[] | undefined;
  let inCopiedRoot = false;
  const layer = await cachedLayerByKey(ctx.layout, key, async () => {
    const ran = await runStep(i, state, ctx, { command, plan, platform, env: { ...proxyEnv(state, ctx), ...env }, user, network, workdir: state.workdir });
    entries = ran.entries;
    inCopiedRoot = !ran.mounted;
    return ran.layer;
  }, { reuse: !ctx.noCache });
  ctx.underway();
  // A hit ran nothing and made no root: the root, when a later step needs it, applies the layer.
  if (entries === undefined) ctx.progress.cached();
  state.addLayer(layer, `RUN ${i.text}`, ctx.created, entries ?? []);
  // A copied root already holds what the layer does; a mounted step left any copied root as it was.
  if (inCopiedRoot) state.root!.applied = state.layers.length;
}

interface StepInput {
  readonly command: StepCommand;
  readonly plan: MountPlan;
  readonly platform: Platform;
  readonly env: Readonly<Record<string, string>>;
  readonly user: string;
  readonly network: NetworkMode;
  readonly workdir: string;
}

/** Runs the step in the stage's root and writes what it changed as a layer (a blob in the cache). */
async function runStep(i: Instruction, state: StageState, ctx: PlatformContext, input: StepInput): Promise<{ layer: CachedLayer; entries: readonly LayerEntry[]; mounted: boolean }> {
  const mounted = await mountStageRoot(state, ctx);
  try {
    const root = mounted?.dir ?? (await copiedStageRoot(state, ctx));
    ctx.underway();
    // USER is checked against the image here, so a value that names no identity is an error on this line.
    await resolveUser(root, state.user ?? '').catch((error: unknown) => {
      throw error instanceof PolyarchError && (error.code === 'NOT_FOUND' || error.code === 'USAGE') ? badDockerfile(ctx.file, i.line, error.message) : error;
    });
    const madeWorkdir = await missingWorkdir(root, state.workdir);
    await ensureWorkdir(root, state.workdir);
    // Copied root: the whole tree is snapshotted before and compared after. Mounted: the step's
    // upper directory holds what it changed.
    // Before the snapshot: owners given now are the root's own state, not the step's changes.
    if (!mounted) await ctx.executor.prepareRoot?.(root, state.root!.recorded);
    // Without root, a base's 0000 directory is opened to the caller first, and what the step shut is opened after it.
    const before = mounted ? undefined : await snapshotTree(root, { ...ctx.io, openToOwner: 'opened' });
    const result = await runInRoot(i, ctx, input, root);
    const changes = mounted
      ? withoutWorkdir(await mounted.changes(), madeWorkdir)
      : await diffTree(before!, { recorded: state.root!.recorded, openToOwner: true, ...(result.mapOwner ? { mapOwner: result.mapOwner } : {}), ...(result.keptOwners ? { keptOwners: result.keptOwners } : {}), ...ctx.io });
    for (const notice of changes.notices) ctx.progress.notice(notice.message);
    const temp = tempPathIn(ctx.layout.dir, 'layer');
    try {
      const written = await compressReported(ctx.onTransfer, ctx.platform, temp, (onBytes) =>
        writeLayer(changes.entries, { file: temp, mtime: ctx.created, compression: ctx.compression, ...(onBytes ? { onBytes } : {}) }),
      );
      await ctx.layout.adoptBlobFile(written.descriptor, temp);
      await mounted?.adopt(written.descriptor.digest);
      return { layer: written, entries: changes.entries, mounted: mounted !== undefined };
    } finally {
      await rm(temp, { force: true });
    }
  } finally {
    await mounted?.release();
  }
}

/**
 * The directories ensureWorkdir will make below the root for `workdir` (relative to the root),
 * topmost first. A copied root has them before its snapshot, so its layer holds them only as the
 * parents of something the step wrote; a mounted root must leave them out the same way.
 */
async function missingWorkdir(root: string, workdir: string): Promise<string[]> {
  const target = await resolveInRoot(root, posix.resolve('/', workdir), { followFinal: true }).catch(() => undefined);
  if (target === undefined) return [];
  const parts = relative(root, target).split(sep).filter((p) => p !== '');
  const missing: string[] = [];
  for (let n = 1; n <= parts.length; n++) {
    const rel = parts.slice(0, n).join('/');
    if (missing.length > 0 || !(await lstat(join(root, rel)).catch(() => undefined))) missing.push(rel);
  }
  return missing;
}

function withoutWorkdir<T extends { readonly entries: readonly LayerEntry[] }>(changes: T, made: readonly string[]): T {
  if (made.length === 0) return changes;
  const dropped = new Set<string>();
  for (const dir of [...made].reverse()) {
    const below = changes.entries.some((e) => e.path.startsWith(`${dir}/`) && !dropped.has(e.path));
    if (!below && changes.entries.some((e) => e.path === dir && e.type === 'directory')) dropped.add(dir);
  }
  return dropped.size === 0 ? changes : { ...changes, entries: changes.entries.filter((e) => !(e.type === 'directory' && dropped.has(e.path))) };
}

/** Runs the step's process in `root` with its mounts; a non-zero exit is the build's error. */
async function runInRoot(i: Instruction, ctx: PlatformContext, input: StepInput, root: string): Promise<Pick<RunResult, 'mapOwner' | 'keptOwners'>> {
  const { command, plan, platform } = input;
  const cwd = input.workdir;
  const prepared = await plan.prepare();
  const output = new TextCapture('last', 8192);
  try {
    const env = { ...input.env, ...prepared.env };
    const mounts = [...command.mounts, ...prepared.mounts];
    // Output lines are shown live; a secret a step prints is masked there as in the error.
    const progress = { ...ctx.progress, output: (stream: 'stdout' | 'stderr', line: string) => ctx.progress.output(stream, maskSecrets(line, plan.secretValues)) };
    const result = await runStepProcess({ ...ctx, progress }, output, (io) =>
      ctx.executor.run({ args: command.args }, { rootfs: root, platform, env, cwd, user: input.user, mounts, network: input.network, extraHosts: ctx.extraHosts, ...io, signal: ctx.io.signal }),
    );
    if (result.exitCode !== 0) {
      const tail = maskSecrets(lastLines(output).join(' | '), plan.secretValues);
      const shown = tail.length > 0 ? `: ${tail}` : '';
      throw new PolyarchError('STEP_FAILED', `${ctx.file}:${i.line}: [${formatPlatform(platform)}] RUN ${i.text} exited with code ${result.exitCode}${shown}`);
    }
    return result;
  } finally {
    await prepared.release();
  }
}
