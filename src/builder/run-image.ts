// `polyarch run`: an image from any location unpacked into a temporary root, its command run there
// through an Executor (bubblewrap by default, foreign platforms under binfmt_misc emulation), and
// the root removed again whatever happens (`docker run --rm`, always). With allPlatforms, once per
// image of an index, each output captured to report its first line.
import { chmod, lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { availableParallelism, hostname as osHostname, tmpdir } from 'node:os';
import { isAbsolute, join, posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { TextCapture } from '../internal/text-capture.js';
import { isOrphanTemp, tempPathIn } from '../internal/temp-path.js';
import type { Descriptor } from '../image/descriptor.js';
import type { RawManifest } from '../image/raw-manifest.js';
import { PolyarchError, isPolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { parseImageIndex } from '../image/index.js';
import { parseImageConfig, platformOfConfig, type ImageConfig } from '../image/config.js';
import { parseImageManifest } from '../image/manifest.js';
import { readAllLimited } from '../internal/streams.js';
import { isIndex } from '../mediatype/mediatype.js';
import { detectHostPlatform } from '../platform/host.js';
import { selectEntry } from '../platform/match.js';
import { normalizePlatform } from '../platform/normalize.js';
import { formatPlatform, type Platform } from '../platform/platform.js';
import { materializeLayersInWorker } from '../layer/unpack-in-worker.js';
import { imageEntries } from '../ops/select-platforms.js';
import { referenceOrLatest, toLocation, withOpener, type ConnectionOptions, type LocationInput } from '../ops/session.js';
import { requireEmulation, type BinfmtOptions } from './executor/binfmt.js';
import { createBubblewrapExecutor } from './executor/bubblewrap.js';
import { checkExtraHosts, ensureWorkdir, withDefaultEnv, type BindMount, type Executor, type ExtraHost, type NetworkMode, type SignalPassing } from './executor/executor.js';
import type { Opener } from './base-image.js';
import { meterTransfer, type TransferListener } from '../progress/transfer.js';

/** An opened location (builder reaches endpoints only through ops' opener). */
type Endpoint = Awaited<ReturnType<Opener['open']>>['endpoint'];

export interface RunImageOptions extends ConnectionOptions {
  /** The image: any location (`host/repo:tag`, `oci:DIR:TAG`, `oci-archive:FILE`, …). */
  readonly location: LocationInput;
  /** The image an index has for this platform (default: the host's). Ignored with allPlatforms. */
  readonly platform?: Platform;
  /** Runs once per image of an index (attestation entries skipped), each output captured. */
  readonly allPlatforms?: boolean;
  /** Replaces the image's Cmd; its Entrypoint stays (as `docker run IMAGE ARGS`). */
  readonly command?: readonly string[];
  /** Replaces the image's Entrypoint and drops its Cmd (as `docker run --entrypoint`); an empty list runs `command` alone. */
  readonly entrypoint?: readonly string[];
  /** Variables set over the image's Env (as `docker run -e`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Replaces the image's User: `name`, `uid`, `name:group` or `uid:gid` (as `docker run -u`). */
  readonly user?: string;
  /** Replaces the image's WorkingDir: an absolute path, made when missing (as `docker run -w`). */
  readonly workdir?: string;
  /** Host files and directories shown inside the image (as `docker run -v`); with allPlatforms, in each platform's run. */
  readonly volumes?: readonly RunVolume[];
  /** Names the command finds in /etc/hosts before the host's own (as `docker run --add-host`). */
  readonly extraHosts?: readonly ExtraHost[];
  /** Default: bubblewrap. */
  readonly executor?: Executor;
  /** Default: `default` (the host's network). */
  readonly network?: NetworkMode;
  /** Where the temporary root is made (default: the system's temporary directory). */
  readonly tempDir?: string;
  /** Where binfmt_misc lives, for the emulation check. */
  readonly binfmt?: BinfmtOptions;
  /** One platform only: the command's standard streams (stdin reads end-of-file when omitted). */
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  /** Hears each layer's bytes as they are pulled and unpacked (phase `pull`). */
  readonly onProgress?: TransferListener;
  readonly signal?: AbortSignal;
  /** One platform only: signals the caller gets while the command runs, passed on to it (docker run's sig-proxy). */
  readonly passSignals?: SignalPassing;
}

/** A host path shown inside the image, as `docker run -v SOURCE:TARGET[:ro]` binds it. */
export interface RunVolume {
  /** An absolute host path that exists (a missing one is refused: docker run -v would make a directory there as root). */
  readonly source: string;
  /** An absolute path inside the image, other than `/`; links in the image resolve inside its root. */
  readonly target: string;
  /** Default false: the command writes through to the host path, as with docker's `rw`. */
  readonly readOnly?: boolean;
}

export interface RunImageResult {
  readonly platform: Platform;
  readonly exitCode: number;
  /** With allPlatforms: the first line the command wrote (standard output, else standard error). */
  readonly firstLine?: string;
  /**
   * With allPlatforms: why this platform's command never ran (its image could not be read or
   * unpacked, or names no command); `exitCode` is then 125, as for docker run's own failures.
   * The other platforms still run.
   */
  readonly error?: string;
}

/** The exit code of a platform whose command never ran (docker run's, for its own failures). */
const SETUP_FAILED_EXIT = 125;

/** Most a config may be (they are a few kilobytes). */
const MAX_CONFIG = 4 << 20;
/** What a captured run keeps of its output. */
const MAX_CAPTURE = 64 << 10;

interface Target {
  readonly platform: Platform;
  readonly manifest: Descriptor;
  /** The manifest itself when the location named the image directly (not every location serves it again by digest). */
  readonly raw?: RawManifest;
}

/**
 * Runs the image's command (or `command` after its entrypoint) on one platform or, with
 * allPlatforms, on each, in a temporary root removed afterwards. Aborting `signal` kills the command.
 *
 * {@includeCode ../../examples/api/runImage.ts#example}
 */
export async function runImage(options: RunImageOptions): Promise<RunImageResult[]> {
  return interruptible(options.signal, () => runImageAt(options.location, options));
}

async function runImageAt(location: LocationInput, options: RunImageOptions): Promise<RunImageResult[]> {
  if (options.workdir !== undefined && !posix.isAbsolute(options.workdir)) {
    throw new PolyarchError('USAGE', `--workdir (workdir) ${JSON.stringify(options.workdir)} must be an absolute path, as docker run -w takes it`);
  }
  const mounts = await volumeMounts(options.volumes ?? []);
  checkExtraHosts(options.extraHosts ?? []);
  const io = options.signal ? { signal: options.signal } : {};
  const what = typeof location === 'string' ? location : 'the image';
  return withOpener(options, async (opener) => {
    const { endpoint, reference } = await opener.open(toLocation(location), 'read');
    const raw = await endpoint.getManifest(referenceOrLatest(reference), io);
    let targets: Target[];
    if (isIndex(raw.mediaType)) {
      const entries = imageEntries(parseImageIndex(raw)).filter((d) => d.platform && d.platform.os !== 'unknown');
      if (options.allPlatforms) {
        targets = entries.map((d) => ({ platform: normalizePlatform(d.platform!), manifest: d }));
        if (targets.length === 0) throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${what} has no image with a platform`);
      } else {
        const want = normalizePlatform(options.platform ?? detectHostPlatform());
        const choice = selectEntry(entries, want);
        if (!choice.entry) {
          const has = entries.map((d) => formatPlatform(d.platform!)).join(', ') || 'none';
          throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${what} has no ${formatPlatform(want)} image (it has ${has})`);
        }
        targets = [{ platform: normalizePlatform(choice.entry.platform!), manifest: choice.entry }];
      }
    } else {
      const config = await readConfig(endpoint, raw, io);
      const platform = normalizePlatform(platformOfConfig(config) ?? detectHostPlatform());
      if (options.platform && !options.allPlatforms && formatPlatform(normalizePlatform(options.platform)) !== formatPlatform(platform)) {
        throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${what} is a single ${formatPlatform(platform)} image, not ${formatPlatform(normalizePlatform(options.platform))}`);
      }
      targets = [{ platform, manifest: { mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.length }, raw }];
    }
    await requireEmulation({ ...options.binfmt, ...io, platforms: targets.map((t) => t.platform) });
    const executor = options.executor ?? createBubblewrapExecutor();
    await sweepDeadRunRoots(options.tempDir ?? tmpdir(), executor);
    // Emulated commands are CPU-bound: as many at once as there are cores, results in index order.
    const results: RunImageResult[] = new Array<RunImageResult>(targets.length);
    let next = 0;
    let stop = false;
    const worker = async (): Promise<void> => {
      while (next < targets.length && !stop) {
        const i = next++;
        options.signal?.throwIfAborted();
        try {
          results[i] = await runOne(endpoint, targets[i]!, executor, mounts, options, !!options.allPlatforms);
        } catch (error) {
          // One platform's broken image is a row of the table; Ctrl-C, or a lone platform's failure, ends the run.
          if (options.allPlatforms && !options.signal?.aborted && isPolyarchError(error)) {
            results[i] = { platform: targets[i]!.platform, exitCode: SETUP_FAILED_EXIT, error: error.message };
            continue;
          }
          stop = true; // start no more; the ones running finish
          throw error;
        }
      }
    };
    // Every worker ends (and removes its root) before the endpoint closes; then the first failure is the answer.
    const settled = await Promise.allSettled(Array.from({ length: Math.min(targets.length, Math.max(1, availableParallelism())) }, worker));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return results;
  });
}

/** The volumes as the executor's bind mounts, each checked first: one line names a wrong one before anything is pulled. */
async function volumeMounts(volumes: readonly RunVolume[]): Promise<BindMount[]> {
  const targets = new Set<string>();
  const mounts: BindMount[] = [];
  for (const volume of volumes) {
    const what = `volume ${JSON.stringify(`${volume.source}:${volume.target}`)}`;
    if (!isAbsolute(volume.source)) throw new PolyarchError('USAGE', `${what}: the host path must be absolute`);
    if (!posix.isAbsolute(volume.target)) throw new PolyarchError('USAGE', `${what}: the path in the image must be absolute`);
    const target = posix.normalize(volume.target).replace(/(.)\/$/, '$1');
    if (target === '/') throw new PolyarchError('USAGE', `${what}: cannot be mounted at / (the image's root)`);
    if (targets.has(target)) throw new PolyarchError('USAGE', `${what}: ${target} is already a mount point`);
    targets.add(target);
    // Followed as docker follows it; a missing one is not made (docker's daemon would make it, as root).
    const facts = await stat(volume.source).catch(() => undefined);
    if (facts === undefined) throw new PolyarchError('NOT_FOUND', `${what}: the host path ${volume.source} does not exist`);
    if (!facts.isDirectory() && !facts.isFile()) throw new PolyarchError('USAGE', `${what}: the host path ${volume.source} is neither a file nor a directory`);
    mounts.push({ type: 'bind', source: volume.source, target, readOnly: volume.readOnly ?? false });
  }
  return mounts;
}

async function readConfig(endpoint: Endpoint, raw: RawManifest, io: { signal?: AbortSignal }): Promise<ImageConfig> {
  const manifest = parseImageManifest(raw);
  return parseImageConfig(await readAllLimited(await endpoint.openBlob(manifest.config, io), MAX_CONFIG, `config ${manifest.config.digest}`));
}

async function runOne(endpoint: Endpoint, target: Target, executor: Executor, mounts: readonly BindMount[], options: RunImageOptions, capture: boolean): Promise<RunImageResult> {
  const io = options.signal ? { signal: options.signal } : {};
  const raw = target.raw ?? (await endpoint.getManifest(target.manifest.digest, io));
  const manifest = parseImageManifest(raw);
  const config = await readConfig(endpoint, raw, io);
  const settings = (config.config ?? {}) as { Entrypoint?: unknown; Cmd?: unknown; Env?: unknown; User?: unknown; WorkingDir?: unknown };
  // docker run: --entrypoint drops the image's Cmd as well; arguments after the image replace the Cmd.
  const entrypoint = options.entrypoint ?? stringList(settings.Entrypoint);
  const cmd = options.entrypoint !== undefined ? [] : stringList(settings.Cmd);
  const args = [...entrypoint, ...(options.command && options.command.length > 0 ? options.command : cmd)];
  if (args.length === 0) throw new PolyarchError('USAGE', `the ${formatPlatform(target.platform)} image has no entrypoint or command: name one after the image`);
  const env: Record<string, string> = {};
  for (const item of stringList(settings.Env)) {
    const eq = item.indexOf('=');
    if (eq > 0) env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  Object.assign(env, options.env);
  withDefaultEnv(env);
  // docker run's HOSTNAME, the name the command's uname sees.
  const hostname = options.network === 'host' ? osHostname() : RUN_HOSTNAME;
  env['HOSTNAME'] ??= hostname;
  const workdir = options.workdir ?? settings.WorkingDir;
  const cwd = typeof workdir === 'string' && workdir.startsWith('/') ? posix.resolve(workdir) : '/';
  const user = options.user ?? (typeof settings.User === 'string' ? settings.User : '');

  const parent = options.tempDir ?? tmpdir();
  // Named with this process's pid: a run killed outright (SIGKILL, the OOM killer) leaves its root,
  // and the next run removes it (sweepDeadRunRoots).
  const root = tempPathIn(parent, RUN_ROOT_PREFIX);
  await mkdir(root, { mode: 0o700 });
  try {
    // Made 0700 (no one else may enter while it fills); an image's / is 0755 unless a layer says otherwise, or a USER could not enter it.
    await chmod(root, 0o755);
    const recorded = await materializeLayersInWorker(root, manifest.layers, (layer) => openCounted(endpoint, layer, target.platform, options.onProgress, io), io);
    await ensureWorkdir(root, cwd);
    await executor.prepareRoot?.(root, recorded);
    const stdout = capture ? new TextCapture('first', MAX_CAPTURE) : (options.stdout ?? process.stdout);
    const stderr = capture ? new TextCapture('first', MAX_CAPTURE) : (options.stderr ?? process.stderr);
    const result = await executor.run(
      { args },
      {
        rootfs: root,
        platform: target.platform,
        env,
        cwd,
        user,
        mounts,
        network: options.network ?? 'default',
        ...(options.extraHosts ? { extraHosts: options.extraHosts } : {}),
        hostname,
        stdout,
        stderr,
        ...(!capture && options.stdin ? { stdin: options.stdin } : {}),
        ...(!capture && options.passSignals ? { passSignals: options.passSignals } : {}),
        ...io,
      },
    );
    if (!capture) return { platform: target.platform, exitCode: result.exitCode };
    const first = firstLine((stdout as TextCapture).text) ?? firstLine((stderr as TextCapture).text);
    return { platform: target.platform, exitCode: result.exitCode, ...(first !== undefined ? { firstLine: first } : {}) };
  } finally {
    await (executor.removeTree?.(root) ?? rm(root, { recursive: true, force: true, maxRetries: 3 }));
  }
}

/** The host name a run's command sees (docker gives a container's id; a name says more here). */
const RUN_HOSTNAME = 'polyarch';

/** What a run's root is called in the temporary directory: `.run-PID…-hex.polyarch-tmp`. */
const RUN_ROOT_PREFIX = 'run';

/** Removes the roots runs that were killed outright left in `dir` (their process is gone); anything else is left alone. */
async function sweepDeadRunRoots(dir: string, executor: Executor): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(`.${RUN_ROOT_PREFIX}-`) || !isOrphanTemp(name)) continue;
    const path = join(dir, name);
    // Never through a link someone planted under such a name.
    if (!(await lstat(path).then((s) => s.isDirectory(), () => false))) continue;
    await (executor.removeTree?.(path) ?? rm(path, { recursive: true, force: true })).catch(() => undefined);
  }
}

/** A layer's stream, its bytes reported as they are read when someone listens; done once it has all been read. */
async function openCounted(endpoint: Endpoint, layer: Descriptor, platform: Platform, listener: TransferListener | undefined, io: { signal?: AbortSignal }): Promise<Readable> {
  const stream = await endpoint.openBlob(layer, io);
  if (!listener) return stream;
  const meter = meterTransfer(listener, { phase: 'pull', digest: layer.digest, total: layer.size, platform });
  meter.start();
  meter.observe(stream);
  stream.once('end', () => meter.done('copied'));
  stream.once('error', () => meter.cancel());
  return stream;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function firstLine(text: string): string | undefined {
  const trimmed = text.replace(/^\n+/, '');
  if (trimmed === '') return undefined;
  const end = trimmed.indexOf('\n');
  return end < 0 ? trimmed : trimmed.slice(0, end);
}

