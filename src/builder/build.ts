// `build`: a Dockerfile → one image per platform → one index, in an OCI layout, with no daemon.
// Every instruction but RUN is carried out by editing the image config or writing a layer.
import { lstat, mkdir, open, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { availableParallelism } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import type { ConnectionOptions } from '../ops/session.js';
import type { Descriptor } from '../image/descriptor.js';
import type { ImageConfig } from '../image/config.js';
import type { Platform } from '../platform/platform.js';
import type { RawManifest } from '../image/raw-manifest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { buildIndex, parseImageIndex } from '../image/index.js';
import { parseImageConfig } from '../image/config.js';
import { parseImageManifest } from '../image/manifest.js';
import { rawFromJson } from '../image/raw-manifest.js';
import { LinkLoopError, resolveInRoot } from '../internal/contained-path.js';
import { mapConcurrent, readAllLimited } from '../internal/streams.js';
import { tempPathIn } from '../internal/temp-path.js';
import { MediaType, isIndex } from '../mediatype/mediatype.js';
import { formatPlatform, parsePlatform } from '../platform/platform.js';
import { normalizePlatform } from '../platform/normalize.js';
import { selectEntry } from '../platform/match.js';
import { copyImage } from '../ops/copy.js';
import { referenceOrLatest, toLocation, withOpener } from '../ops/session.js';
import { openLayout, type OciLayout } from '../store/oci-layout.js';
import { badDockerfile, execForm, parseDockerfile, type Instruction } from './dockerfile.js';
import { defaultBuildCache, leaseBuildCache, pruneBuildCache, resultTag, touchCachedBlob } from './build-cache.js';
import { excludeFilter, loadDockerignore, type ContextFilter } from './context-filter.js';
import { cachedLayer } from './layer-cache.js';
import { applyLayer, type RecordedFacts } from '../layer/extract.js';
import { missingParents, writeLayer, type LayerEntry } from '../layer/writer.js';
import { SubstitutionError, substitute } from './substitute.js';
import { isPattern, patternSource } from './glob.js';
import { downloadSource, isRemoteSource, remoteFileName } from './remote-source.js';
import { DEFAULT_COMPRESSION, type CompressionOptions } from '../layer/compression.js';
import { resolveOwner, type Owner } from './owners.js';
import { directoriesOf, fileFromLayers } from './layer-scan.js';
import { annotationsFor, type Annotation } from './annotations.js';

export interface BuildOptions extends ConnectionOptions {
  /** The Dockerfile; default `CONTEXT/Dockerfile`. */
  readonly dockerfile?: string;
  readonly platforms: readonly Platform[];
  /** The machine the build runs on (BUILDPLATFORM); the caller fills in the host. */
  readonly buildPlatform: Platform;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly target?: string;
  /** Seconds since the epoch for every timestamp (SOURCE_DATE_EPOCH); default 0. */
  readonly sourceDateEpoch?: number;
  readonly labels?: Readonly<Record<string, string>>;
  /** Layer compression; default gzip at level 6. */
  readonly compression?: CompressionOptions;
  /** `--annotation`s for the index, the image manifests and their descriptors. */
  readonly annotations?: readonly Annotation[];
  /** OCI layout that holds build results and base layers (a cache); default under ~/.cache. */
  readonly cacheDir?: string;
  /** After the build, prune the cache's least recently used entries down to this many bytes (skipped while other builds run). */
  readonly cacheMax?: number;
  readonly signal?: AbortSignal;
}

export interface BuildResult {
  readonly layout: string;
  /** The tag in `layout` that names the index, until exportBuild (or releaseBuildResult) drops it. */
  readonly tag: string;
  readonly index: RawManifest;
  readonly images: readonly Descriptor[];
}

interface Stage {
  readonly name?: string;
  readonly from: Instruction;
  readonly body: readonly Instruction[];
}

interface StageResult {
  config: ImageConfig & { config: Record<string, unknown> };
  layers: Descriptor[];
  diffIds: string[];
  history: Record<string, unknown>[];
  /** Files this build added in the stage, for COPY --from. */
  files: Map<string, LayerEntry>;
}

const PLATFORM_ARGS = ['TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT', 'BUILDPLATFORM', 'BUILDOS', 'BUILDARCH', 'BUILDVARIANT'];

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

/** Mode and owner an entry gets, from its source path and the mode on disk. */
type EntryFacts = (source: string, diskMode: number) => { mode: number; uid: number; gid: number };

/** Context files: owned by root (or --chown), with their own mode (or --chmod). */
function contextFacts(owner: Owner, mode: number | undefined): EntryFacts {
  return (_source, diskMode) => ({ mode: mode ?? diskMode, ...owner });
}

/**
 * Files of an unpacked image or archive keep the mode and owner their tar headers gave, which the
 * disk copy may have lost; --chown and --chmod still win.
 */
function recordedFacts(root: string, recorded: RecordedFacts, chown: Owner | undefined, mode: number | undefined): EntryFacts {
  return (source, diskMode) => {
    const facts = recorded.get(relative(root, source));
    return { mode: mode ?? facts?.mode ?? diskMode, ...(chown ?? { uid: facts?.uid ?? 0, gid: facts?.gid ?? 0 }) };
  };
}

/**
 * Files under a source path (a file, or a directory's contents), as image-relative entries.
 * The path itself comes resolved (followInRoot); links inside a directory stay links, never
 * followed or read, as in docker.
 */
async function contextEntries(source: string, dest: string, facts: EntryFacts, keep: ContextFilter, nested = false): Promise<LayerEntry[]> {
  const info = await lstat(source);
  const own = facts(source, info.mode & 0o7777);
  if (info.isSymbolicLink()) return [{ path: dest, type: 'symlink', linkname: await readlink(source), mode: 0o777, uid: own.uid, gid: own.gid }];
  if (!info.isDirectory()) return [{ path: dest, type: 'file', source, size: info.size, ...own, mtimeMs: info.mtimeMs }];
  // A directory inside the source is copied with its mode; the source directory itself is not.
  const out: LayerEntry[] = nested ? [{ path: dest, type: 'directory', ...own }] : [];
  for (const name of (await readdir(source)).sort()) {
    if (keep(join(source, name))) out.push(...(await contextEntries(join(source, name), posix.join(dest, name), facts, keep, true)));
  }
  return out;
}

/** The layer media type that unpacks a local file, when it is a tar archive (ADD's rule), by content. */
async function tarKind(path: string): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return MediaType.OciLayerGzip;
    if (bytesRead === 512 && head.subarray(257, 262).toString() === 'ustar') return MediaType.OciLayer;
    return undefined;
  } finally {
    await handle.close();
  }
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

/** Context paths a COPY source names (globs in any segment), resolved inside the context: never outside it. */
async function expandSource(context: string, source: string, file: string, line: number, keep: ContextFilter): Promise<ContextSource[]> {
  const full = resolve(context, source.replace(/^\/+/, ''));
  if (relative(context, full).startsWith('..')) throw badDockerfile(file, line, `COPY source ${JSON.stringify(source)} is outside the build context`);
  // What .dockerignore drops was never sent to the build: neither the name nor what it resolves to may be excluded.
  const present = async (path: string) => keep(path) && (await lstat(path).then(() => true, () => false));
  if (!isPattern(source)) {
    if (!keep(full)) throw badDockerfile(file, line, `COPY source ${JSON.stringify(source)} is excluded by .dockerignore`);
    const path = await followInRoot(context, full, file, line, source);
    if (!(await present(path))) throw badDockerfile(file, line, `COPY source ${JSON.stringify(source)} not found in the build context`);
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
      next.push(...(await readdir(dir).catch(() => [] as string[])).filter((n) => pattern.test(n)).map((n) => join(named, n)));
    }
    names = next;
  }
  const found: ContextSource[] = [];
  for (const named of names.sort()) {
    if (!keep(named)) continue;
    const path = await followInRoot(context, named, file, line, source);
    if (await present(path)) found.push({ path, named });
  }
  if (found.length === 0) throw badDockerfile(file, line, `COPY source ${JSON.stringify(source)} matches no file in the build context`);
  return found;
}

/** EXPOSE's `80`, `53/udp` or `8000-8002/tcp`, as the config's `port/proto` keys (ranges expanded, as docker does). */
function exposedPorts(spec: string, file: string, line: number): string[] {
  const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  const first = Number(match?.[1]);
  const last = Number(match?.[2] ?? match?.[1]);
  if (!match || first > last || last > 65535) throw badDockerfile(file, line, `EXPOSE ${spec}: expected PORT[-PORT][/tcp|udp|sctp]`);
  const proto = (match[3] ?? 'tcp').toLowerCase();
  return Array.from({ length: last - first + 1 }, (_, k) => `${first + k}/${proto}`);
}

/** A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds, as the image config stores them. */
function durationNs(text: string, flag: string, file: string, line: number): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw badDockerfile(file, line, `HEALTHCHECK --${flag}=${text}: expected a duration such as 30s or 1m30s`);
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0));
}

/** HEALTHCHECK [--interval --timeout --start-period --start-interval --retries] CMD … | NONE, as BuildKit writes it. */
function healthcheck(i: Instruction, file: string): Record<string, unknown> {
  if (i.args[0]?.toUpperCase() === 'NONE') return { Test: ['NONE'] };
  if (i.args[0]?.toUpperCase() !== 'CMD') throw badDockerfile(file, i.line, 'HEALTHCHECK needs CMD or NONE');
  const rest = i.text.replace(/^CMD\s+/i, '');
  const json = execForm(rest);
  const check: Record<string, unknown> = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', rest] };
  const fields: [string, string][] = [['interval', 'Interval'], ['timeout', 'Timeout'], ['start-period', 'StartPeriod'], ['start-interval', 'StartInterval']];
  for (const [flag, field] of fields) if (i.flags[flag] !== undefined) check[field] = durationNs(i.flags[flag]!, flag, file, i.line);
  if (i.flags.retries !== undefined) {
    const retries = Number(i.flags.retries);
    if (!Number.isInteger(retries) || retries < 0) throw badDockerfile(file, i.line, `HEALTHCHECK --retries=${i.flags.retries}: expected a whole number`);
    check.Retries = retries;
  }
  return check;
}

/** `--parents`: the part of a context path kept under the destination (after a `/./` pivot, if any). */
function keptParents(context: string, source: string, path: string): string {
  const pivot = source.indexOf('/./');
  const from = pivot >= 0 ? resolve(context, source.slice(0, pivot).replace(/^\/+/, '')) : context;
  return relative(from, path).split('\\').join('/');
}

/**
 * The Dockerfile's text. One the user named is read as given; the context's own is resolved
 * inside the context, as docker does, so a link out of it reads nothing from the host.
 */
async function readDockerfile(context: string, path: string, named: boolean): Promise<string> {
  try {
    return await readFile(named ? path : await resolveInRoot(context, 'Dockerfile', { followFinal: true }), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = named ? 'no such file' : 'no such file in the build context';
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? missing : code === 'ELOOP' ? 'too many levels of symbolic links' : (error as Error).message;
    throw new PolyarchError('USAGE', `cannot read ${path}: ${why}`);
  }
}

export async function buildImages(contextDir: string, options: BuildOptions): Promise<BuildResult> {
  const context = resolve(contextDir);
  const dockerfilePath = options.dockerfile ? resolve(options.dockerfile) : join(context, 'Dockerfile');
  const text = await readDockerfile(context, dockerfilePath, options.dockerfile !== undefined);
  const file = relative(process.cwd(), dockerfilePath) || 'Dockerfile';
  const parsed = parseDockerfile(text, file);
  const { globals, stages } = splitStages(parsed.instructions);
  // Substitution with the Dockerfile's escape character; a bad one is reported on its line.
  const subAt = (text: string, vars: ReadonlyMap<string, string>, line: number): string => {
    try {
      return substitute(text, vars, parsed.escape);
    } catch (error) {
      if (error instanceof SubstitutionError) throw badDockerfile(file, line, error.message);
      throw error;
    }
  };
  const targetIndex = options.target === undefined ? stages.length - 1 : stages.findIndex((s) => s.name === options.target!.toLowerCase());
  if (targetIndex < 0) throw new PolyarchError('USAGE', `${file}: no stage named ${JSON.stringify(options.target)}`);
  if (options.platforms.length === 0) throw new PolyarchError('USAGE', 'build needs at least one platform');
  const created = new Date((options.sourceDateEpoch ?? 0) * 1000);
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  const keep = await loadDockerignore(context, dockerfilePath);
  const layout = await openLayout(options.cacheDir ?? defaultBuildCache(), { create: true });
  await mkdir(layout.dir, { recursive: true }); // layer temp files are written there before the first blob
  // Held until the result is tagged: a prune waits rather than delete a blob this build reuses.
  const releaseLease = await leaseBuildCache(layout.dir);

  // Scratch files and trees (unpacked images and archives, here-documents, downloads) stay until the
  // build ends: a later COPY --from a stage reads its files from them.
  const scratch: string[] = [];
  try {
    return await withOpener(options, async (opener) => {
      // Platforms build side by side (their base pulls and layer compression overlap); the index
      // keeps the order they were asked in.
      // Compression runs on libuv's pool, so every platform may be in flight at once.
      const images = await mapConcurrent(options.platforms, Math.max(availableParallelism(), options.platforms.length), async (platform, _index, siblingFailed) => {
        // Network work for this platform stops when the caller aborts or another platform fails.
        const io = { signal: options.signal ? AbortSignal.any([options.signal, siblingFailed]) : siblingFailed };
        const auto = platformArgs(platform, options.buildPlatform);
        const globalArgs = new Map<string, string>(auto);
        for (const arg of globals.filter((g) => g.keyword === 'ARG')) {
          for (const [name, value] of arg.properties) {
            const given = options.buildArgs?.[name] ?? (value === undefined ? undefined : subAt(value, globalArgs, arg.line));
            if (given !== undefined) globalArgs.set(name, given);
          }
        }
        const results = new Map<number, StageResult>();

        const buildStage = async (index: number): Promise<StageResult> => {
          const done = results.get(index);
          if (done) return done;
          const stage = stages[index]!;
          const baseName = subAt(stage.from.args[0] ?? '', globalArgs, stage.from.line);
          const stagePlatform = stage.from.flags.platform ? normalizePlatform(parsePlatform(subAt(stage.from.flags.platform, globalArgs, stage.from.line))) : normalizePlatform(platform);
          const earlier = stages.findIndex((s, i) => i < index && s.name === baseName.toLowerCase());
          let result: StageResult;
          if (earlier >= 0) {
            const base = await buildStage(earlier);
            result = { config: structuredClone(base.config), layers: [...base.layers], diffIds: [...base.diffIds], history: [...base.history], files: new Map(base.files) };
          } else if (baseName === 'scratch') {
            result = { config: { config: {} } as StageResult['config'], layers: [], diffIds: [], history: [], files: new Map() };
          } else {
            result = await pullBase(baseName, stagePlatform, stage.from.line);
          }
          Object.assign(result.config, { architecture: stagePlatform.architecture, os: stagePlatform.os });
          if (stagePlatform.variant) result.config = { ...result.config, variant: stagePlatform.variant };
          else delete (result.config as { variant?: string }).variant;
          await runInstructions({ ...stage, body: [...onbuildTriggers(result, stage.from), ...stage.body] }, result, auto);
          results.set(index, result);
          return result;
        };

        const pullBase = async (name: string, want: Platform, line: number): Promise<StageResult> => {
          const { endpoint, reference } = await opener.open(toLocation(name), 'read');
          let raw = await endpoint.getManifest(referenceOrLatest(reference), io).catch((error: unknown) => {
            throw new PolyarchError('MANIFEST_UNKNOWN', `${file}:${line}: base image ${name}: ${(error as Error).message}`, { cause: error });
          });
          if (isIndex(raw.mediaType)) {
            const choice = selectEntry(parseImageIndex(raw).manifests, want);
            if (!choice.entry) throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${file}:${line}: base image ${name} has no ${formatPlatform(want)} image`);
            raw = await endpoint.getManifest(choice.entry.digest, io);
          }
          await copyImage(endpoint, raw.digest, layout, undefined, io);
          await touchCachedBlob(layout.dir, raw.digest);
          const manifest = parseImageManifest(raw);
          const config = parseImageConfig(await readAllLimited(await layout.openBlob(manifest.config), 4 << 20, `config of ${name}`)) as StageResult['config'];
          return {
            config: { ...config, config: { ...(config.config ?? {}) } },
            layers: [...manifest.layers],
            diffIds: [...(config.rootfs?.diff_ids ?? [])],
            history: [...((config.history ?? []) as Record<string, unknown>[])],
            files: new Map(),
          };
        };

        const unpacked = new Map<string, { root: string; recorded: RecordedFacts }>();
        const imageRoot = async (name: string, want: Platform, line: number): Promise<{ root: string; recorded: RecordedFacts }> => {
          const key = `${name} ${formatPlatform(want)}`;
          const known = unpacked.get(key);
          if (known) return known;
          const image = await pullBase(name, want, line);
          const root = tempPathIn(layout.dir, 'from');
          scratch.push(root);
          await mkdir(root, { recursive: true });
          const recorded: RecordedFacts = new Map();
          for (const layer of image.layers) await applyLayer(root, await layout.openBlob(layer), { mediaType: layer.mediaType, source: layer.digest, record: recorded, ...io });
          unpacked.set(key, { root, recorded });
          return { root, recorded };
        };

        /** The base's ONBUILD triggers, run first as docker does, then cleared from the new image. */
        const onbuildTriggers = (result: StageResult, from: Instruction): Instruction[] => {
          const triggers = (result.config.config.OnBuild as string[] | undefined) ?? [];
          delete result.config.config.OnBuild;
          return triggers.map((trigger) => {
            const [, parsed] = parseDockerfile(`FROM scratch\n${trigger}`, file).instructions;
            if (!parsed || parsed.keyword === 'FROM' || parsed.keyword === 'ONBUILD') throw badDockerfile(file, from.line, `the base's ONBUILD ${JSON.stringify(trigger)} is not a trigger docker allows`);
            return { ...parsed, line: from.line };
          });
        };

        const runInstructions = async (stage: Stage, result: StageResult, autoArgs: Map<string, string>): Promise<void> => {
          const vars = new Map<string, string>();
          const cfg = result.config.config;
          for (const entry of (cfg.Env as string[] | undefined) ?? []) {
            const eq = entry.indexOf('=');
            vars.set(entry.slice(0, eq), entry.slice(eq + 1));
          }
          let shell: string[] = (cfg.Shell as string[] | undefined) ?? ['/bin/sh', '-c'];
          const note = (createdBy: string, emptyLayer: boolean) =>
            result.history.push({ created: created.toISOString(), created_by: createdBy, comment: 'polyarch', ...(emptyLayer ? { empty_layer: true } : {}) });
          let line = stage.from.line;
          const sub = (t: string) => subAt(t, vars, line);
          // CMD, ENTRYPOINT and HEALTHCHECK are not expanded at build time: the shell does it at run time.
          const command = (i: Instruction): string[] => (i.json ? [...i.json] : [...shell, i.text]);
          for (const i of stage.body) {
            line = i.line;
            switch (i.keyword) {
              case 'ARG':
                for (const [name, value] of i.properties) {
                  const v = options.buildArgs?.[name] ?? (PLATFORM_ARGS.includes(name) ? autoArgs.get(name) : undefined) ?? globalArgs.get(name) ?? (value === undefined ? undefined : sub(value));
                  if (v !== undefined && !vars.has(name)) vars.set(name, v);
                }
                break;
              case 'ENV': {
                const env = ((cfg.Env as string[] | undefined) ?? []).slice();
                for (const [name, value] of i.properties) {
                  const v = sub(value ?? '');
                  vars.set(name, v);
                  const at = env.findIndex((e) => e.startsWith(`${name}=`));
                  if (at >= 0) env[at] = `${name}=${v}`;
                  else env.push(`${name}=${v}`);
                }
                cfg.Env = env;
                note(`ENV ${i.text}`, true);
                break;
              }
              case 'LABEL':
                cfg.Labels = { ...((cfg.Labels as Record<string, string>) ?? {}), ...Object.fromEntries(i.properties.map(([k, v]) => [sub(k), sub(v ?? '')])) };
                note(`LABEL ${i.text}`, true);
                break;
              case 'WORKDIR':
                cfg.WorkingDir = posix.resolve((cfg.WorkingDir as string | undefined) || '/', sub(i.text));
                note(`WORKDIR ${i.text}`, true);
                break;
              case 'USER':
                cfg.User = sub(i.text);
                note(`USER ${i.text}`, true);
                break;
              case 'EXPOSE':
                cfg.ExposedPorts = { ...((cfg.ExposedPorts as object) ?? {}), ...Object.fromEntries(i.args.flatMap((p) => exposedPorts(sub(p), file, i.line)).map((p) => [p, {}])) };
                note(`EXPOSE ${i.text}`, true);
                break;
              case 'VOLUME':
                cfg.Volumes = { ...((cfg.Volumes as object) ?? {}), ...Object.fromEntries((i.json ?? i.args).map((v) => [sub(v), {}])) };
                note(`VOLUME ${i.text}`, true);
                break;
              case 'CMD':
                cfg.Cmd = command(i);
                note(`CMD ${i.text}`, true);
                break;
              case 'ENTRYPOINT':
                cfg.Entrypoint = command(i);
                note(`ENTRYPOINT ${i.text}`, true);
                break;
              case 'SHELL':
                if (!i.json) throw badDockerfile(file, i.line, 'SHELL needs the JSON form');
                shell = [...i.json];
                cfg.Shell = shell;
                break;
              case 'STOPSIGNAL':
                cfg.StopSignal = sub(i.text);
                break;
              case 'ONBUILD':
                cfg.OnBuild = [...((cfg.OnBuild as string[]) ?? []), i.text];
                break;
              case 'MAINTAINER':
                (result.config as { author?: string }).author = i.text;
                break;
              case 'HEALTHCHECK':
                cfg.Healthcheck = healthcheck(i, file);
                note(`HEALTHCHECK ${i.text}`, true);
                break;
              case 'COPY':
              case 'ADD':
                await copyInstruction(i, result, sub);
                break;
              case 'RUN':
                throw badDockerfile(file, i.line, 'RUN is not supported yet (use FROM/COPY of cross-built files, or build that stage elsewhere)');
              default:
                throw badDockerfile(file, i.line, `${i.keyword} is not supported here`);
            }
          }
        };

        // What the stage's layers hold, read once per set of layers however many COPYs ask.
        const stageReads = new Map<string, Promise<unknown>>();
        const readOnce = <T>(result: StageResult, what: string, read: () => Promise<T>): Promise<T> => {
          const key = `${result.layers.map((l) => l.digest).join(',')} ${what}`;
          if (!stageReads.has(key)) stageReads.set(key, read());
          return stageReads.get(key) as Promise<T>;
        };
        const ownerOf = async (i: Instruction, result: StageResult, sub: (t: string) => string): Promise<Owner> => {
          if (i.flags.chown === undefined) return { uid: 0, gid: 0 };
          // Names come from the stage as built so far: files this build added, else the layers.
          const readStageFile = async (path: string) => {
            const added = result.files.get(path);
            const text = added?.source ? await readFile(added.source, 'utf8').catch(() => undefined) : undefined;
            if (text !== undefined) return text;
            return readOnce(result, `file ${path}`, () => fileFromLayers(layout, result.layers, path));
          };
          const owner = await resolveOwner(sub(i.flags.chown), readStageFile);
          if (typeof owner === 'string') throw badDockerfile(file, i.line, owner);
          return owner;
        };

        /**
         * The directories a COPY's entries sit in that it does not copy itself: ones the stage has
         * keep their mode and owner; new ones are 755 and owned as --chown says, as in BuildKit.
         */
        const parentDirectories = async (entries: readonly LayerEntry[], owner: Owner, result: StageResult): Promise<LayerEntry[]> => {
          const missing = missingParents(entries);
          if (missing.length === 0) return [];
          const known = await readOnce(result, 'directories', () => directoriesOf(layout, result.layers));
          return missing.map((path): LayerEntry => ({ path, type: 'directory', ...(known.get(path) ?? { mode: 0o755, ...owner }) }));
        };

        const copyInstruction = async (i: Instruction, result: StageResult, sub: (t: string) => string): Promise<void> => {
          const parts = (i.json ?? i.args).map(sub);
          if (parts.length < 2) throw badDockerfile(file, i.line, `${i.keyword} needs a source and a destination`);
          const dest = parts[parts.length - 1]!;
          const sources = parts.slice(0, -1);
          if (i.keyword === 'COPY' && sources.some(isRemoteSource)) throw badDockerfile(file, i.line, 'COPY does not take URLs; ADD does');
          const owner = await ownerOf(i, result, sub);
          // Only an explicit --chown replaces the owners files from a stage, an image or an archive had.
          const chown = i.flags.chown !== undefined ? owner : undefined;
          const mode = i.flags.chmod !== undefined ? Number.parseInt(i.flags.chmod, 8) : undefined;
          if (mode !== undefined && !Number.isSafeInteger(mode)) throw badDockerfile(file, i.line, `--chmod=${i.flags.chmod} is not an octal mode`);
          const workdir = (result.config.config.WorkingDir as string | undefined) || '/';
          const destAbs = posix.resolve(workdir, dest);
          // --parents keeps each source's directories under the destination (BuildKit's flag).
          const parents = i.flags.parents !== undefined && i.flags.parents !== 'false';
          const destIsDir = dest.endsWith('/') || sources.length > 1 || parents;
          const entries: LayerEntry[] = [];
          if (i.flags.from !== undefined) {
            const fromName = sub(i.flags.from).toLowerCase();
            const index = stages.findIndex((s, n) => s.name === fromName || String(n) === fromName);
            if (index < 0) {
              // Not a stage: an image, unpacked once per build and platform, then copied from like a context.
              const { root, recorded } = await imageRoot(sub(i.flags.from), result.config as Platform, i.line);
              for (const source of sources) {
                // `..` stops at the image's root, as inside a container.
                const named = join(root, posix.resolve('/', source));
                // The image's links point into the image, as inside a container; never at the host.
                const path = await followInRoot(root, named, file, i.line, source);
                const info = await lstat(path).catch(() => undefined);
                if (!info) throw badDockerfile(file, i.line, `COPY --from=${i.flags.from}: ${source} not found in the image`);
                const copied = excludeFilter(i.excludes, info.isDirectory() ? path : dirname(path));
                if (!copied(path)) continue;
                const target = info.isDirectory() ? destAbs : destIsDir ? posix.join(destAbs, posix.basename(named)) : destAbs;
                entries.push(...(await contextEntries(path, target.slice(1), recordedFacts(root, recorded, chown, mode), copied)));
              }
            } else {
              const from = await buildStage(index);
              for (const source of sources) {
                const prefix = posix.resolve('/', source).slice(1);
                const matched = [...from.files.values()].filter((e) => e.path === prefix || e.path.startsWith(`${prefix}/`));
                if (matched.length === 0) throw badDockerfile(file, i.line, `COPY --from=${i.flags.from}: ${source} was not added by that stage`);
                // --exclude patterns match paths below the source (a file source: its own name).
                const copied = excludeFilter(i.excludes, '/');
                for (const e of matched) {
                  if (e.type === 'directory' && e.path === prefix) continue; // its contents go to dest
                  const rest = e.path === prefix ? posix.basename(prefix) : e.path.slice(prefix.length + 1);
                  if (!copied(`/${rest}`)) continue;
                  const target = e.path === prefix && !destIsDir ? destAbs : posix.join(destAbs, rest);
                  entries.push({ ...e, path: target.slice(1), ...chown, ...(mode !== undefined ? { mode } : {}) });
                }
              }
            }
          } else {
            for (const source of sources) {
              if (isRemoteSource(source)) {
                // ADD URL: downloaded, never unpacked; mode 600 unless --chmod, as in BuildKit.
                const name = remoteFileName(source);
                if (destIsDir && !name) throw badDockerfile(file, i.line, `ADD ${source}: the URL names no file; give a file destination`);
                const downloaded = tempPathIn(layout.dir, 'download');
                scratch.push(downloaded);
                const got = await downloadSource(source, downloaded, { ...(i.flags.checksum !== undefined ? { checksum: sub(i.flags.checksum) } : {}), ...io }).catch((error: unknown) => {
                  throw error instanceof PolyarchError ? new PolyarchError(error.code, `${file}:${i.line}: ${error.message}`, { cause: error }) : error;
                });
                const target = destIsDir ? posix.join(destAbs, name!) : destAbs;
                entries.push({ path: target.slice(1), type: 'file', source: downloaded, size: got.size, mode: mode ?? 0o600, ...owner, contentKey: got.sha256 });
                continue;
              }
              const heredoc = i.heredocs?.find((h) => `<<${h.name}` === source);
              if (heredoc) {
                // A here-document becomes a file named after it (mode 644 unless --chmod).
                const content = heredoc.expand ? sub(heredoc.content) : heredoc.content;
                const written = tempPathIn(layout.dir, 'heredoc');
                scratch.push(written);
                await writeFile(written, content, { flag: 'wx' });
                const target = destIsDir ? posix.join(destAbs, heredoc.name) : destAbs;
                const contentKey = createHash('sha256').update(content).digest('hex');
                entries.push({ path: target.slice(1), type: 'file', source: written, size: Buffer.byteLength(content), mode: mode ?? 0o644, ...owner, contentKey });
                continue;
              }
              for (const { path, named } of await expandSource(context, source, file, i.line, keep)) {
                const isDir = (await lstat(path)).isDirectory();
                const copied = excludeFilter(i.excludes, isDir ? path : dirname(path));
                if (!copied(path)) continue;
                // ADD unpacks a local tar archive (plain or gzip) into the destination directory.
                const archive = i.keyword === 'ADD' && !isDir ? await tarKind(path) : undefined;
                if (archive) {
                  const unpacked = tempPathIn(layout.dir, 'add');
                  scratch.push(unpacked);
                  await mkdir(unpacked, { recursive: true });
                  const recorded: RecordedFacts = new Map();
                  await applyLayer(unpacked, createReadStream(path), { mediaType: archive, source: relative(context, path), record: recorded, ...io });
                  entries.push(...(await contextEntries(unpacked, destAbs.slice(1), recordedFacts(unpacked, recorded, chown, mode), () => true)));
                  continue;
                }
                const target = parents ? posix.join(destAbs, keptParents(context, source, named)) : isDir ? destAbs : destIsDir ? posix.join(destAbs, posix.basename(named)) : destAbs;
                entries.push(...(await contextEntries(path, target.slice(1), contextFacts(owner, mode), (p) => keep(p) && copied(p))));
              }
            }
          }
          entries.push(...(await parentDirectories(entries, owner, result)));
          const layer = await cachedLayer(layout, entries, created, compression, async () => {
            const temp = tempPathIn(layout.dir, 'layer');
            // writeLayer hashed the blob as it wrote it: the file becomes the blob as it is.
            const written = await writeLayer(entries, { file: temp, mtime: created, compression });
            try {
              await layout.adoptBlobFile(written.descriptor, temp);
            } finally {
              await rm(temp, { force: true });
            }
            return written;
          });
          result.layers.push(layer.descriptor);
          result.diffIds.push(layer.diffId);
          result.history.push({ created: created.toISOString(), created_by: `${i.keyword} ${i.text}`, comment: 'polyarch' });
          for (const e of entries) result.files.set(e.path, e);
        };

        const result = await buildStage(targetIndex);
        return writeImage(layout, result, platform, created, options);
      });
      const indexAnnotations = annotationsFor(options.annotations, 'index');
      const index = buildIndex(images, { mediaType: MediaType.OciIndex, ...(indexAnnotations ? { annotations: indexAnnotations } : {}) });
      const tag = resultTag();
      await layout.putManifest(index, { tag });
      return { layout: layout.dir, tag, index, images };
    });
  } finally {
    for (const path of scratch) await rm(path, { recursive: true, force: true });
    await releaseLease();
    // The size cap is best effort: a busy or odd cache must not fail a build that succeeded.
    if (options.cacheMax !== undefined) await pruneBuildCache({ cacheDir: layout.dir, keepStorage: options.cacheMax, waitMs: 0 }).catch(() => undefined);
  }
}

async function writeImage(layout: OciLayout, result: StageResult, platform: Platform, created: Date, options: Pick<BuildOptions, 'labels' | 'annotations'>): Promise<Descriptor> {
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
