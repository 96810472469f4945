// `build`: a Dockerfile → one image per platform → one index, in an OCI layout, with no daemon.
// Instructions edit the image config or write a layer; RUN runs its step in the stage's filesystem
// through the executor (instructions/run.ts). This file is the orchestration: stages (stage.ts) start from their base (base-image.ts), and the
// instructions/ files carry out each instruction family.
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { availableParallelism } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { ConnectionOptions } from '../ops/session.js';
import type { Descriptor } from '../image/descriptor.js';
import type { Platform } from '../platform/platform.js';
import type { RawManifest } from '../image/raw-manifest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { MAX_SMALL_FILE_BYTES, RegularFileError, readProblem, readRegularFile } from '../internal/regular-file.js';
import { buildIndex } from '../image/index.js';
import { rawFromJson } from '../image/raw-manifest.js';
import { resolveInRoot } from '../internal/contained-path.js';
import { mapConcurrent } from '../internal/streams.js';
import { MediaType } from '../mediatype/mediatype.js';
import { formatPlatform, unknownPlatformReason } from '../platform/platform.js';
import { normalizePlatform } from '../platform/normalize.js';
import { uniquePlatforms } from '../platform/match.js';
import { connectionOf, withOpener } from '../ops/session.js';
import { openLayout, type OciLayout } from '../store/oci-layout.js';
import { DEFAULT_COMPRESSION, type CompressionOptions } from '../layer/compression.js';
import { badDockerfile, flagValue, parseDockerfile, type Instruction } from './dockerfile.js';
import { defaultBuildCache, leaseBuildCache, pruneBuildCache, resultTag } from './cache/build-cache.js';
import { requireEmulationRecorded } from './cache/emulation-record.js';
import { loadDockerignore } from './context-filter.js';
import { NamedContexts, type NamedContext } from './named-contexts.js';
import { SubstitutionError, processWord, substitute } from './substitute.js';
import { annotationsFor, type Annotation } from './annotations.js';
import { BaseImages, onbuildTriggers, stageBase, stageSource } from './base-image.js';
import type { PlatformContext, Stage, StageState } from './stage.js';
import type { StageRootMode, StageRootsChoice } from './stage-root.js';
import { unmountAllUnder } from '../layer/overlay-mount.js';
import { applyMetadata, checkMetadata } from './instructions/metadata.js';
import { checkCopy, copyInstruction, directoryBaseLayer, fromStage } from './instructions/copy.js';
import { workdirInstruction } from './instructions/workdir.js';
import { runInstruction as runStep } from './instructions/run.js';
import { checkRunFlags } from './instructions/run-flags.js';
import { checkExtraHosts, type Executor, type ExtraHost, type NetworkMode } from './executor/executor.js';
import { createBubblewrapExecutor } from './executor/bubblewrap.js';
import { SlotPool } from '../internal/slot-pool.js';
import { EmulatedFirst } from './emulated-first.js';
import { SILENT_PROGRESS, describeInstruction, stepProgress, type BuildStep, type ProgressListener } from './progress.js';
import type { TransferListener } from '../progress/transfer.js';
import { interruptible } from '../errors/interrupted.js';
import { checkOutputs, checkStdoutGiven, exportBuild, outputCompression, type ExportTargets } from './outputs.js';
import { makeDirectories } from '../internal/make-directories.js';

export interface BuildOptions extends ConnectionOptions, ExportTargets {
  /** The build context directory. */
  readonly context: string;
  /** The Dockerfile; default `CONTEXT/Dockerfile`. */
  readonly dockerfile?: string;
  /** The Dockerfile's text itself, in place of `dockerfile` (buildx's `-f -`); messages call it `Dockerfile`. */
  readonly dockerfileText?: string;
  readonly platforms: readonly Platform[];
  /** The machine the build runs on (BUILDPLATFORM); the caller fills in the host. */
  readonly buildPlatform: Platform;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly target?: string;
  /** Seconds since the epoch for every timestamp (SOURCE_DATE_EPOCH); default 0. */
  readonly sourceDateEpoch?: number;
  readonly labels?: Readonly<Record<string, string>>;
  /** Layer compression; default the first output's `compression`, else gzip at level 6. */
  readonly compression?: CompressionOptions;
  /** `--annotation`s for the index, the image manifests and their descriptors. */
  readonly annotations?: readonly Annotation[];
  /** OCI layout that holds build results and base layers (a cache); default under ~/.cache. */
  readonly cacheDir?: string;
  /** After the build, prune the cache's least recently used entries down to this many bytes (skipped while other builds run). */
  readonly cacheMax?: number;
  readonly signal?: AbortSignal;
  /** Runs RUN steps; default bubblewrap (createBubblewrapExecutor). */
  readonly executor?: Executor;
  /**
   * Secret values by id for `RUN --mount=type=secret` (readSecrets reads buildx's `--secret`
   * specs). They reach the steps that ask for them and nothing else: no layer, config, history,
   * cache key or message holds them.
   */
  readonly secrets?: Readonly<Record<string, Uint8Array>>;
  /**
   * How many RUN steps may run at once, all platforms together; default the machine's cores
   * (availableParallelism). Emulated steps are CPU-bound: more only makes each one slower.
   */
  readonly runSlots?: number;
  /** Called with each step as it starts, each line a RUN step prints, and notices (progress.ts). */
  readonly onProgress?: ProgressListener;
  /**
   * Hears bytes on the move: base images' blobs as they are pulled (phase `pull`), each layer as it
   * is compressed (`compress`), and the result as it is written to `outputs` (`copy`) or pushed (`push`).
   */
  readonly onTransfer?: TransferListener;
  /**
   * How RUN steps get their stage's root: `overlay` mounts the stage's layers (each unpacked once
   * into the cache) with overlayfs, `copy` applies them into one directory, `auto` (the default)
   * mounts where the kernel allows it (root) and copies elsewhere, saying so once as a notice.
   */
  readonly stageRoots?: StageRootMode;
  /**
   * Runs every RUN step again, as buildx's --no-cache, instead of reusing a layer the cache holds
   * for the same step (a step that fetches, such as `apt-get update`, then sees today's packages).
   * COPY and ADD layers are keyed by the bytes they hold, so a reused one is the same layer. What
   * the steps make is still cached for later builds.
   */
  readonly noCache?: boolean;
  /**
   * The network of every RUN step that names none, or `--network=default` (buildx's --network):
   * `default` (the host's, the default), `none` (only `lo`) or `host`. A step's own `none` or `host` wins.
   */
  readonly network?: NetworkMode;
  /**
   * More contexts by name (buildx's --build-context): a directory, read as the build context is
   * (with its own .dockerignore), for `COPY --from=NAME`, `RUN --mount=from=NAME` and `FROM NAME`
   * (its files the stage's first layer, owned by root); or an image
   * at any location, which stands for the image or stage of that name in FROM, COPY --from and
   * RUN --mount (a stage it replaces is not built).
   */
  readonly buildContexts?: Readonly<Record<string, NamedContext>>;
  /** Names RUN steps find in /etc/hosts before the host's own (buildx's --add-host); part of each step's cache key. */
  readonly extraHosts?: readonly ExtraHost[];
}

export interface BuildResult {
  /** The build cache (an OCI layout) that holds the index and every blob. */
  readonly layout: string;
  /**
   * The tag in `layout` that names the index, until exportBuild (or releaseBuildResult) drops it; a
   * build given `outputs` or `push` (even none) returns it exported, its tag already gone.
   */
  readonly tag: string;
  readonly index: RawManifest;
  /** One image manifest per platform, in the order the platforms were asked for. */
  readonly images: readonly Descriptor[];
  /**
   * The locations written when the build was given `outputs` or `push` (`repo@digest` when pushed
   * by digest); absent when the result only stayed in the cache.
   */
  readonly outputs?: readonly string[];
}

function platformArgs(target: Platform, build: Platform): Map<string, string> {
  const t = normalizePlatform(target);
  const b = normalizePlatform(build);
  return new Map([
    ['TARGETPLATFORM', formatPlatform(t)],
    ['TARGETOS', t.os],
    ['TARGETARCH', t.architecture],
    ['TARGETVARIANT', t.variant ?? ''],
    ['BUILDPLATFORM', formatPlatform(b)],
    ['BUILDOS', b.os],
    ['BUILDARCH', b.architecture],
    ['BUILDVARIANT', b.variant ?? ''],
  ]);
}

export { defaultBuildCache };

function splitStages(instructions: readonly Instruction[]): { globals: Instruction[]; stages: Stage[] } {
  const globals: Instruction[] = [];
  const stages: { name?: string; from: Instruction; body: Instruction[] }[] = [];
  for (const i of instructions) {
    if (i.keyword === 'FROM') {
      const as = i.args.findIndex((a) => a.toUpperCase() === 'AS');
      stages.push({ from: i, body: [], ...(as >= 0 && i.args[as + 1] ? { name: i.args[as + 1]!.toLowerCase() } : {}) });
    } else if (stages.length === 0) globals.push(i);
    else stages[stages.length - 1]!.body.push(i);
  }
  return { globals, stages };
}

/** The `from=` of a RUN's --mount flags (stages or images it mounts). */
function mountSources(i: Instruction): string[] {
  return (i.flags.get('mount') ?? []).flatMap((m) => /(?:^|,)\s*from=([^,]*)/i.exec(m)?.[1] ?? []);
}

/**
 * The stages building `target` takes: it, the stages its FROM names, and those its COPY --from names, as far as names can be told without substitution.
 * A name with a variable counts as every earlier stage (`mayBe`, for what the build must be able to run) or as none (`known`, for what it surely needs).
 */
function stagesBuilt(stages: readonly Stage[], target: number, unresolved: 'mayBe' | 'known' = 'mayBe'): Stage[] {
  const seen = new Set<number>();
  const visit = (index: number): void => {
    if (seen.has(index)) return;
    seen.add(index);
    const stage = stages[index]!;
    const names = [stage.from.args[0] ?? '', ...stage.body.flatMap((i) => [...(i.flags.get('from') ?? []), ...mountSources(i)])];
    for (const name of names) {
      const byName = stages.findIndex((s, i) => i < index && s.name === name.toLowerCase());
      const byNumber = /^\d+$/.test(name) ? Number(name) : -1;
      if (byName >= 0) visit(byName);
      else if (byNumber >= 0 && byNumber < index) visit(byNumber);
      else if (name.includes('$') && unresolved === 'mayBe') stages.forEach((_, i) => i < index && visit(i));
    }
  };
  visit(target);
  return [...seen].map((i) => stages[i]!);
}

/**
 * The platforms RUN steps of `built` run on: the build machine alone for a stage
 * `FROM --platform=$BUILDPLATFORM` (a cross-compiling builder needs no emulation of the targets),
 * every target for any other stage with a RUN (its platform may only be known after substitution).
 */
function runPlatforms(built: readonly Stage[], options: Pick<BuildOptions, 'platforms' | 'buildPlatform'>): Platform[] {
  const platforms = new Map<string, Platform>();
  for (const stage of built) {
    if (!stage.body.some((i) => i.keyword === 'RUN')) continue;
    const flag = flagValue(stage.from, 'platform');
    const onBuildMachine = flag === '$BUILDPLATFORM' || flag === '${BUILDPLATFORM}';
    for (const p of onBuildMachine ? [options.buildPlatform] : options.platforms) platforms.set(formatPlatform(normalizePlatform(p)), p);
  }
  return [...platforms.values()];
}

/**
 * What the stages built hold that is wrong whatever the variables say, found before anything runs:
 * an unknown mount type or option, `type=ssh`, a bad `--network`, `--chmod`, EXPOSE, STOPSIGNAL or
 * HEALTHCHECK, a SHELL not in JSON form, ADD --checksum beside a file. The build stops at once, as
 * BuildKit's Dockerfile frontend stops it, rather than after the steps before (minutes of
 * compiling, maybe). What holds a variable is read when its step runs, with the stage's values
 * (substitution changes nothing in a value without `$`).
 */
function checkBeforeSteps(built: readonly Stage[], file: string): void {
  for (const i of built.flatMap((stage) => stage.body)) {
    if (i.keyword === 'RUN') checkRunFlags(i, file);
    else if (i.keyword === 'COPY' || i.keyword === 'ADD') checkCopy(i, file);
    else checkMetadata(i, file);
  }
}

/**
 * The Dockerfile's text. One the user named is read as given; the context's own is resolved
 * inside the context, as docker does, so a link out of it reads nothing from the host.
 */
async function readDockerfile(context: string, path: string, named: boolean): Promise<string> {
  try {
    // A regular file, read to a bound: a FIFO or a device in a build context must not hang or fill memory.
    return await readRegularFile(named ? path : await resolveInRoot(context, 'Dockerfile', { followFinal: true }), MAX_SMALL_FILE_BYTES);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = named ? 'no such file' : 'no such file in the build context';
    const gone = code === 'ENOENT' || code === 'ENOTDIR' || (error instanceof RegularFileError && error.problem === 'missing');
    const why = gone ? missing : code === 'ELOOP' ? 'too many levels of symbolic links' : readProblem(error);
    throw new PolyarchError('USAGE', `cannot read ${path}: ${why}`);
  }
}

/**
 * Refuses a platform no engine runs, before any work: `arm64/v8` reads as OS arm64 (containerd's
 * os/arch rule), and an image for it would be pulled by nothing. `explain` and `manifest annotate`
 * refuse the same names.
 */
function checkBuildablePlatform(platform: Platform): void {
  const why = unknownPlatformReason(platform);
  if (why === undefined) return;
  const asArch = unknownPlatformReason({ os: 'linux', architecture: platform.os });
  const hint = asArch === undefined ? `; OS/ARCH comes first: did you mean ${formatPlatform({ os: 'linux', architecture: platform.os, ...(platform.architecture ? { variant: platform.architecture } : {}) })}?` : '';
  throw new PolyarchError('INVALID_PLATFORM', `platform ${formatPlatform(platform)}: ${why}${hint}`);
}

function exportTargetsOf(options: ExportTargets): ExportTargets {
  const { outputs, tags, push, pushByDigest, stdout } = options;
  return { ...(outputs ? { outputs } : {}), ...(tags ? { tags } : {}), ...(push ? { push } : {}), ...(pushByDigest ? { pushByDigest } : {}), ...(stdout ? { stdout } : {}) };
}

/**
 * Builds the Dockerfile of `context` for every platform into one index, with no daemon (RUN steps
 * run in bubblewrap, foreign platforms under qemu-user), then writes it to `outputs` and pushes it
 * to `tags` with `push`. Aborting `signal` stops every step and transfer and writes no output.
 *
 * {@includeCode ../../examples/api/buildImages.ts#example}
 */
export async function buildImages(options: BuildOptions): Promise<BuildResult> {
  return interruptible(options.signal, async () => {
    // A platform named twice (`linux/amd64,x86_64`) is built once, as buildx does: an index with two entries for it would pull either.
    options = { ...options, platforms: uniquePlatforms(options.platforms) };
    for (const platform of [...options.platforms, options.buildPlatform]) checkBuildablePlatform(platform);
    // Outputs that cannot hold the build are refused before any work is done.
    checkOutputs(options.outputs ?? [], options.platforms.length);
    checkStdoutGiven(options);
    // As buildx ("tag is needed when pushing to registry"): a push with nowhere to go is a mistake, not a quiet success.
    if (options.push && (options.tags ?? []).length === 0) throw new PolyarchError('USAGE', 'push needs at least one tag to push to (-t NAME)');
    const epoch = options.sourceDateEpoch ?? 0;
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new PolyarchError('USAGE', `sourceDateEpoch ${String(epoch)} is not a whole number of seconds since 1970`);
    const compression = options.compression ?? outputCompression(options.outputs ?? []);
    // Outputs given, but none (the CLI with no -o and no --push): the result's tag would be written
    // to the cache's index.json and dropped again at once, two synced writes on a warm build.
    const exportedNowhere = options.outputs !== undefined && options.outputs.length === 0 && !options.push;
    const result = await build({ ...options, ...(compression ? { compression } : {}) }, { tagResult: !exportedNowhere });
    if (exportedNowhere) return { ...result, outputs: [] };
    if (options.outputs === undefined && !options.push) return result;
    // Exported now, the result's tag leaves the cache (exportBuild drops it whatever happens).
    const { onTransfer } = options;
    const written = await exportBuild({ ...connectionOf(options), ...exportTargetsOf(options), result, ...(options.signal ? { signal: options.signal } : {}), ...(onTransfer ? { onProgress: onTransfer } : {}) });
    return { ...result, outputs: written };
  });
}

async function build(options: BuildOptions, how: { readonly tagResult: boolean }): Promise<BuildResult> {
  const context = resolve(options.context);
  if (options.dockerfile !== undefined && options.dockerfileText !== undefined) throw new PolyarchError('USAGE', 'give the Dockerfile as a path or as text, not both');
  const dockerfilePath = options.dockerfile ? resolve(options.dockerfile) : join(context, 'Dockerfile');
  const text = options.dockerfileText ?? (await readDockerfile(context, dockerfilePath, options.dockerfile !== undefined));
  const file = options.dockerfileText !== undefined ? 'Dockerfile' : relative(process.cwd(), dockerfilePath) || 'Dockerfile';
  const parsed = parseDockerfile(text, file);
  const split = splitStages(parsed.instructions);
  const { globals } = split;
  // Substitution with the Dockerfile's escape character; a bad one is reported on its line.
  const reported =
    (read: typeof substitute) =>
    (text: string, vars: ReadonlyMap<string, string>, line: number): string => {
      try {
        return read(text, vars, parsed.escape);
      } catch (error) {
        if (error instanceof SubstitutionError) throw badDockerfile(file, line, error.message);
        throw error;
      }
    };
  const subAt = reported(substitute);
  const wordAt = reported(processWord);
  const targetIndex = options.target === undefined ? split.stages.length - 1 : split.stages.findIndex((s) => s.name === options.target!.toLowerCase());
  if (targetIndex < 0) throw new PolyarchError('USAGE', `${file}: no stage named ${JSON.stringify(options.target)}`);
  checkExtraHosts(options.extraHosts ?? []);
  const named = await NamedContexts.open(options.buildContexts);
  // A stage a context replaces goes by number only: its name now means the context (BuildKit's rule).
  const stages: Stage[] = split.stages.map((s, index) => (index !== targetIndex && s.name !== undefined && named.has(s.name) ? { from: s.from, body: s.body } : s));
  if (options.platforms.length === 0) throw new PolyarchError('USAGE', 'build needs at least one platform');
  if (options.runSlots !== undefined && !(Number.isSafeInteger(options.runSlots) && options.runSlots >= 1)) {
    throw new PolyarchError('USAGE', `runSlots must be a whole number of at least 1, not ${options.runSlots}`);
  }
  if (options.stageRoots !== undefined && !['auto', 'overlay', 'copy'].includes(options.stageRoots)) {
    throw new PolyarchError('USAGE', `stageRoots must be auto, overlay or copy, not ${JSON.stringify(options.stageRoots)}`);
  }
  const cacheDir = options.cacheDir ?? defaultBuildCache();
  // Steps for a platform this machine cannot run stop the build before anything is pulled. The
  // check runs a probe per platform, so a platform seen running on this machine as it is now
  // (the same boot, handlers and interpreters) is not probed again.
  const built = stagesBuilt(stages, targetIndex);
  checkBeforeSteps(built, file);
  const runOn = runPlatforms(built, options);
  if (runOn.length > 0) await requireEmulationRecorded(runOn, cacheDir);
  const executor = options.executor ?? createBubblewrapExecutor();
  const runSlots = new SlotPool(options.runSlots ?? availableParallelism());
  const created = new Date((options.sourceDateEpoch ?? 0) * 1000);
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  const keep = await loadDockerignore(context, dockerfilePath);
  const layout = await openLayout(cacheDir, { create: true });
  await makeDirectories(layout.dir); // layer temp files are written there before the first blob
  // Held until the result is tagged: a prune waits rather than delete a blob this build reuses.
  const releaseLease = await leaseBuildCache(layout.dir);

  // Scratch files and trees (unpacked images and archives, here-documents, downloads) stay until the
  // build ends: a later COPY --from a stage reads its files from them.
  const scratch: string[] = [];
  const addScratch = (path: string) => void scratch.push(path);
  // Work a step started and nothing awaits any more (a base layer unpacked while it was pulled,
  // when the pull or its platform failed): the build ends only once it has.
  const running: Promise<void>[] = [];
  const keepRunning = (work: Promise<void>) => void running.push(work);
  const stageRoots: StageRootsChoice = { mode: options.stageRoots ?? 'auto' };
  try {
    return await withOpener(options, async (opener) => {
      // Each base name is resolved once for all platforms.
      const resolvedBases = new Map<string, Promise<RawManifest>>();
      // Platforms build side by side (their base pulls and layer compression overlap), emulated
      // ones starting first (emulated-first.ts); the index keeps the order they were asked in.
      // Compression runs on libuv's pool, so every platform may be in flight at once.
      const order = new EmulatedFirst(options.platforms, runOn, options.buildPlatform);
      const images = await mapConcurrent(options.platforms, Math.max(availableParallelism(), options.platforms.length), async (platform, _index, siblingFailed) => {
        // Work for this platform stops when the caller aborts, another platform fails, or one of its stages does.
        const stageFailed = new AbortController();
        const io = { signal: AbortSignal.any([...(options.signal ? [options.signal] : []), siblingFailed, stageFailed.signal]) };
        await order.turn(platform);
        io.signal.throwIfAborted();
        const automatic = platformArgs(platform, options.buildPlatform);
        const global = new Map<string, string>(automatic);
        for (const arg of globals.filter((g) => g.keyword === 'ARG')) {
          for (const [name, value] of arg.properties) {
            const given = options.buildArgs?.[name] ?? (value === undefined ? undefined : wordAt(value, global, arg.line));
            if (given !== undefined) global.set(name, given);
          }
        }
        // Each stage built once, however many stages and steps wait for it.
        const building = new Map<number, Promise<StageState>>();
        // The first stage failure that is not a stop: the build's error, whatever the others say once stopped by it.
        let failure: { readonly error: unknown } | undefined;
        // What the stage's layers hold, read once per set of layers however many COPYs ask.
        const stageReads = new Map<string, Promise<unknown>>();
        const ctx: PlatformContext = {
          file,
          context,
          keep,
          layout,
          noCache: options.noCache === true,
          network: options.network ?? 'default',
          extraHosts: options.extraHosts ?? [],
          created,
          compression,
          platform,
          args: { ...(options.buildArgs ? { given: options.buildArgs } : {}), automatic, global },
          io,
          stages,
          substitute: subAt,
          word: wordAt,
          addScratch,
          executor,
          stageRoots,
          secrets: options.secrets ?? {},
          runSlots,
          underway: () => order.underway(platform),
          progress: SILENT_PROGRESS,
          ...(options.onTransfer ? { onTransfer: options.onTransfer } : {}),
          named,
          bases: new BaseImages({ opener, layout, file, io, addScratch, keepRunning, resolved: resolvedBases, named, ...(options.onTransfer ? { onTransfer: options.onTransfer } : {}) }),
          buildStage: (index) => {
            let stage = building.get(index);
            if (!stage) {
              stage = buildStage(ctx, index, options.onProgress);
              stage.catch((error: unknown) => {
                if (failure !== undefined || io.signal.aborted) return;
                failure = { error };
                stageFailed.abort(error);
              });
              building.set(index, stage);
            }
            return stage;
          },
          readOnce: <T>(layers: readonly Descriptor[], what: string, read: () => Promise<T>): Promise<T> => {
            const key = `${layers.map((l) => l.digest).join(',')} ${what}`;
            if (!stageReads.has(key)) stageReads.set(key, read());
            return stageReads.get(key) as Promise<T>;
          },
        };
        // The stages the target surely needs start together, as BuildKit starts them: independent
        // builder stages run side by side (RUN steps still take slots from the one pool).
        const ahead = stagesBuilt(stages, targetIndex, 'known')
          .map((s) => stages.indexOf(s))
          .filter((i) => i !== targetIndex)
          .map((i) => ctx.buildStage(i));
        try {
          const result = await ctx.buildStage(targetIndex);
          return await writeImage(layout, result, platform, created, options);
        } catch (error) {
          throw failure !== undefined ? failure.error : error;
        } finally {
          await Promise.allSettled(ahead); // nothing of this platform runs on after it has ended
          order.underway(platform); // a platform that ended, failed or ran no step holds none of the others back
        }
      });
      const indexAnnotations = annotationsFor(options.annotations, 'index');
      const index = buildIndex(images, { mediaType: MediaType.OciIndex, ...(indexAnnotations ? { annotations: indexAnnotations } : {}) });
      const tag = resultTag();
      if (how.tagResult) await layout.putManifest(index, { tag });
      // Exported nowhere: a blob nothing names, as the result is once its tag is dropped.
      else await layout.putBlob({ mediaType: index.mediaType, digest: index.digest, size: index.size }, Readable.from([index.bytes]));
      return { layout: layout.dir, tag, index, images };
    });
  } finally {
    await Promise.all(running);
    // A mount a step left (it was stopped mid-way) is detached first: rm must never reach through
    // one. Removal goes through the executor: steps may have left files of owners the caller
    // cannot remove itself.
    for (const path of scratch) {
      await unmountAllUnder(path);
      await (executor.removeTree?.(path) ?? rm(path, { recursive: true, force: true }));
    }
    await releaseLease();
    // The size cap is best effort: a busy or odd cache must not fail a build that succeeded.
    if (options.cacheMax !== undefined) await pruneBuildCache({ cacheDir: layout.dir, keepStorage: options.cacheMax, waitMs: 0 }).catch(() => undefined);
  }
}

/** Instructions buildx numbers in a stage (`[2/5]`); the FROM of an image counts too. The rest only edit the config. */
const NUMBERED = new Set(['RUN', 'COPY', 'ADD', 'WORKDIR']);

/**
 * Stage `index` on the context's platform: its base, then the base's ONBUILD triggers, then its
 * own instructions; each numbered one reported to `listener` as it starts, and given a progress
 * reporter of its own.
 */
async function buildStage(ctx: PlatformContext, index: number, listener: ProgressListener | undefined): Promise<StageState> {
  const stage = ctx.stages[index]!;
  const source = stageSource(ctx, index);
  const state = await stageBase(ctx, index);
  state.index = index;
  const body = [...onbuildTriggers(state, stage, ctx.file), ...stage.body];
  const fromImage = source.kind === 'image' || source.kind === 'directory' ? 1 : 0;
  const total = fromImage + body.filter((i) => NUMBERED.has(i.keyword)).length;
  // As buildx: a lone stage goes unnamed, an unnamed one of several is `stage-N`.
  const name = ctx.stages.length > 1 ? (stage.name ?? `stage-${index}`) : undefined;
  let number = 0;
  const start = (instruction: string): BuildStep => {
    const step: BuildStep = { platform: ctx.platform, ...(name !== undefined ? { stage: name } : {}), number: ++number, total, instruction };
    listener?.({ kind: 'step', step });
    return step;
  };
  if (source.kind === 'image' || source.kind === 'directory') start(`FROM ${source.name}`);
  // A directory given with --build-context: its files are the stage's first layer.
  if (source.kind === 'directory') await directoryBaseLayer(source.directory, source.name, state, ctx);
  for (const [at, i] of body.entries()) {
    state.runAhead = body.slice(at + 1).some((later) => later.keyword === 'RUN');
    // A stage COPY --from reads is built first, so its steps show before the COPY that waits for it.
    if (i.keyword === 'COPY' || i.keyword === 'ADD') {
      const from = fromStage(i, state, ctx);
      // As buildx: a stage cannot read itself or a later one (building it here would never end).
      if (from >= index) {
        const which = from === index ? 'this stage itself' : 'a later stage';
        throw badDockerfile(ctx.file, i.line, `${i.keyword} --from=${flagValue(i, 'from')} names ${which}: a stage can copy only from the stages before it`);
      }
      if (from >= 0) await ctx.buildStage(from);
    }
    const stepCtx = NUMBERED.has(i.keyword) ? { ...ctx, progress: stepProgress(listener, start(describeInstruction(i.keyword, i.flags, i.text))) } : ctx;
    await runInstruction(i, state, stepCtx);
  }
  return state;
}

async function runInstruction(i: Instruction, state: StageState, ctx: PlatformContext): Promise<void> {
  if (applyMetadata(i, state, ctx)) return;
  switch (i.keyword) {
    case 'COPY':
    case 'ADD':
      return copyInstruction(i, state, ctx);
    case 'RUN':
      return runStep(i, state, ctx);
    case 'WORKDIR':
      return workdirInstruction(i, state, ctx);
    default:
      throw badDockerfile(ctx.file, i.line, `${i.keyword} is not supported here`);
  }
}

async function writeImage(layout: OciLayout, result: StageState, platform: Platform, created: Date, options: Pick<BuildOptions, 'labels' | 'annotations'>): Promise<Descriptor> {
  const p = normalizePlatform(platform);
  const labels = options.labels;
  const annotations = annotationsFor(options.annotations, 'manifest', p);
  const descriptorAnnotations = annotationsFor(options.annotations, 'manifest-descriptor', p);
  const cfg = { ...result.config.config, ...(labels ? { Labels: { ...((result.config.config.Labels as object) ?? {}), ...labels } } : {}) };
  const config = rawFromJson(
    {
      ...result.config,
      architecture: p.architecture,
      os: p.os,
      ...(p.variant ? { variant: p.variant } : {}),
      created: created.toISOString(),
      config: cfg,
      rootfs: { type: 'layers', diff_ids: result.diffIds },
      history: result.history,
    },
    MediaType.OciConfig,
  );
  await layout.putBlob({ mediaType: config.mediaType, digest: config.digest, size: config.size }, Readable.from([config.bytes]));
  const manifest = rawFromJson(
    { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size }, layers: result.layers, ...(annotations ? { annotations } : {}) },
    MediaType.OciManifest,
  );
  // A blob, not an index.json entry: the build's index (its one root in the cache) reaches it.
  await layout.putBlob({ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size }, Readable.from([manifest.bytes]));
  return { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, platform: p, ...(descriptorAnnotations ? { annotations: descriptorAnnotations } : {}) };
}
