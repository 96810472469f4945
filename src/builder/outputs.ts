// Where a build goes: buildx's exporters as typed outputs (the CLI parses the `--output` grammar),
// or any polyarch location.
import type { ConnectionOptions } from '../ops/session.js';
import type { BuildResult } from './build.js';
import { releaseBuildResult } from './cache/build-cache.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { copy } from '../ops/copy.js';
import type { TransferListener } from '../progress/transfer.js';
import { parseReference } from '../reference/reference.js';
import { createReadStream, statSync } from 'node:fs';
import { lstat, mkdir, rename, rm } from 'node:fs/promises';
import { once, type EventEmitter } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { parseImageManifest } from '../image/manifest.js';
import { tempPathIn } from '../internal/temp-path.js';
import { formatPlatform } from '../platform/platform.js';
import { openLayout } from '../store/oci-layout.js';
import { syncFile } from '../store/atomic-write.js';
import { checkArchiveTarget } from '../store/destination.js';
import { removeOrphanStaging } from '../store/gc.js';
import { applyDirectoryTimes, applyLayer, applyRecordedFacts, type RecordedFact, type RecordedFacts } from '../layer/extract.js';
import { layerEntriesOf, type ChangedPath } from '../layer/diff.js';
import { snapshotTree } from '../layer/snapshot.js';
import { writeLayer, type LayerEntry } from '../layer/writer.js';
import { interruptible, throwIfInterrupted } from '../errors/interrupted.js';
import type { CompressionOptions } from '../layer/compression.js';
import { makeDirectories } from '../internal/make-directories.js';
import { openTreeToOwner } from '../internal/remove-tree.js';

/** Attributes buildx lets any exporter carry. */
export interface OutputAttributes {
  /**
   * Layer compression (buildx's `compression=` and `compression-level=`). Layers are compressed
   * once, as they are built: a build given no `compression` of its own takes the first output's.
   */
  readonly compression?: CompressionOptions;
}

/** Push to a registry under every name (buildx `type=registry` and `type=image`). */
export interface RegistryOutput extends OutputAttributes {
  readonly type: 'registry';
  /** References to push to; at least one. */
  readonly names: readonly string[];
}

/** An OCI layout archive (a tar), as buildx `type=oci,dest=FILE`. */
export interface OciOutput extends OutputAttributes {
  readonly type: 'oci';
  readonly dest: string;
  /** A reference whose tag names the image in the archive's index.json (BuildKit's way; default `latest`), or several (`-t a:1 -t a:2`): an entry for each tag. */
  readonly name?: string | readonly string[];
  /** false: an OCI layout directory at `dest` instead of a tar of one, as buildx's `tar=false`; its index.json names the image the same way. */
  readonly tar?: boolean;
}

/** A `docker load` archive, as buildx `type=docker,dest=FILE`: one platform only. */
export interface DockerOutput extends OutputAttributes {
  readonly type: 'docker';
  readonly dest: string;
  /** The name `docker load` gives the image, or several (`-t a:1 -t a:2`): all of them in RepoTags, as buildx writes them. */
  readonly name?: string | readonly string[];
}

/** Each platform's filesystem in a directory (`DEST/os_arch[_variant]` when there are several), as buildx `type=local`. */
export interface LocalOutput extends OutputAttributes {
  readonly type: 'local';
  readonly dest: string;
}

/** The same filesystems as one tar file, as buildx `type=tar`. */
export interface TarOutput extends OutputAttributes {
  readonly type: 'tar';
  readonly dest: string;
}

/** Any polyarch location: `host/repo:tag`, `oci:DIR:TAG`, `oci-archive:FILE`, `docker-archive:FILE`, `local:DIR`, `tar:FILE`. */
export interface LocationOutput {
  readonly type: 'location';
  readonly location: string;
}

/** Where a build goes: one of buildx's exporters, or a polyarch location. */
export type BuildOutput = RegistryOutput | OciOutput | DockerOutput | LocalOutput | TarOutput | LocationOutput;

/** The output in buildx's `--output` grammar, for messages. */
export function formatBuildOutput(output: BuildOutput): string {
  switch (output.type) {
    case 'location':
      return output.location;
    case 'registry':
      return `type=registry,name=${output.names.join(';')}`;
    case 'oci':
    case 'docker': {
      const names = namesOf(output);
      const tar = output.type === 'oci' && output.tar === false ? ',tar=false' : '';
      return `type=${output.type},dest=${output.dest}${names.length > 0 ? `,name=${names.join(';')}` : ''}${tar}`;
    }
    default:
      return `type=${output.type},dest=${output.dest}`;
  }
}

/** The layer compression the first output that asks for one asks for. */
export function outputCompression(outputs: readonly BuildOutput[]): CompressionOptions | undefined {
  return outputs.map((o) => (o.type === 'location' ? undefined : o.compression)).find((c) => c !== undefined);
}

/** One output as the polyarch locations it writes (`host/repo:tag`, `oci-archive:FILE:TAG`, …). */
export function outputLocations(output: BuildOutput): string[] {
  const needDest = (dest: string): string => {
    if (!dest) throw new PolyarchError('USAGE', `--output ${formatBuildOutput(output)}: needs dest=`);
    return dest;
  };
  switch (output.type) {
    case 'location':
      return [output.location];
    case 'registry':
      if (output.names.length === 0) throw new PolyarchError('USAGE', `--output ${formatBuildOutput(output)}: needs name= or -t`);
      return [...output.names];
    case 'oci':
      // index.json names the image by the tag of the name, as BuildKit does; else "latest".
      return [`${output.tar === false ? 'oci' : 'oci-archive'}:${needDest(output.dest)}:${ociTags(output)[0]}`];
    case 'docker': {
      const [first] = namesOf(output);
      return [`docker-archive:${needDest(output.dest)}${first ? `:${first}` : ''}`];
    }
    case 'local':
      return [`local:${needDest(output.dest)}`];
    case 'tar':
      return [`tar:${needDest(output.dest)}`];
    default:
      throw new PolyarchError('USAGE', `output type ${JSON.stringify((output as { type?: unknown }).type)} is not supported (registry, oci, docker, local, tar, or location)`);
  }
}

/** An oci or docker output's names, as a list. */
function namesOf(output: OciOutput | DockerOutput): readonly string[] {
  return output.name === undefined ? [] : typeof output.name === 'string' ? [output.name] : output.name;
}

/** The tags an oci output's index.json names the image by: each name's, once (`latest` for a name without one, or no name). */
function ociTags(output: OciOutput): string[] {
  const names = namesOf(output);
  return names.length === 0 ? ['latest'] : [...new Set(names.map((name) => parseReference(name).tag ?? 'latest'))];
}

/** The names an output gives the image besides the one its location carries (outputLocations): more tags for the copy. */
function moreNamesOf(output: BuildOutput): string[] {
  if (output.type === 'oci') return ociTags(output).slice(1);
  if (output.type === 'docker') return namesOf(output).slice(1);
  return [];
}

/**
 * Refuses outputs that cannot hold a build of `platforms` platforms, before any work is done:
 * a docker archive (`docker load`) takes one image, as buildx's docker exporter does. `describe`
 * names an output in the message (default: buildx's grammar; the CLI quotes the flag as given).
 */
export function checkOutputs(outputs: readonly BuildOutput[], platforms: number, describe: (output: BuildOutput) => string = formatBuildOutput): void {
  const toStdout = outputs.filter(goesToStdout);
  if (toStdout.length > 1) throw new PolyarchError('USAGE', `--output ${describe(toStdout[1]!)}: only one output can go to standard output (dest=-)`);
  for (const output of toStdout) {
    if (output.type === 'oci' && output.tar === false) throw new PolyarchError('USAGE', `--output ${describe(output)}: tar=false writes a layout directory; dest=- (standard output) takes the archive (leave tar=false out)`);
    if (output.type === 'local') throw new PolyarchError('USAGE', `--output ${describe(output)}: type=local writes a directory; dest=- (standard output) takes type=tar, oci or docker`);
  }
  for (const output of outputs) {
    if (platforms > 1 && outputLocations(output).some((l) => l.startsWith('docker-archive:'))) {
      throw new PolyarchError('USAGE', `--output ${describe(output)}: a docker archive holds one platform, not ${platforms}; build one --platform (platforms) there, or use type=oci for all`);
    }
  }
}

/** Refuses an output to standard output (`dest: '-'`) when the caller gave no `stdout` to send it to. */
export function checkStdoutGiven(targets: ExportTargets): void {
  const output = targets.outputs?.find(goesToStdout);
  if (output && !targets.stdout) throw new PolyarchError('USAGE', `--output ${formatBuildOutput(output)}: dest=- sends the archive to standard output, and none was given (ExportTargets.stdout)`);
}

/** Where a finished build goes: the outputs, and the tags `push` sends it to. */
export interface ExportTargets {
  /** Outputs to write, in order (typed: the CLI parses buildx's `--output` strings into these). */
  readonly outputs?: readonly BuildOutput[];
  /** The result's names: pushed to with `push`, and the default names of registry outputs. */
  readonly tags?: readonly string[];
  /** Push to every tag. */
  readonly push?: boolean;
  /** With push: store by digest only, no tag (the native-runner pattern, merged later by `index create`). */
  readonly pushByDigest?: boolean;
  /** Where the one tar, oci or docker output with `dest: '-'` goes once written whole (buildx writes it to its standard output). */
  readonly stdout?: NodeJS.WritableStream;
}

/** The `dest` that names standard output, as in buildx (`-o -`, `-o type=docker,dest=-`). */
export const STDOUT_DEST = '-';

/** Whether `output` goes to standard output (`dest: '-'`). */
export function goesToStdout(output: BuildOutput): output is OciOutput | DockerOutput | LocalOutput | TarOutput {
  return 'dest' in output && output.dest === STDOUT_DEST;
}

export interface ExportOptions extends ConnectionOptions, ExportTargets {
  /** A build's result that is still tagged in its cache (buildImages given neither `outputs` nor `push`). */
  readonly result: BuildResult;
  readonly signal?: AbortSignal;
  /** Hears each blob's bytes as it is written to an output (phase `push` for registries, `copy` for files). */
  readonly onProgress?: TransferListener;
}

/**
 * Sends a build's index to every output and tag; returns the locations written (`repo@digest` when
 * pushed by digest). Afterwards the result's tag leaves the build cache (its layers stay cached).
 *
 * {@includeCode ../../examples/api/exportBuild.ts#example}
 */
export async function exportBuild(options: ExportOptions): Promise<string[]> {
  const { result } = options;
  try {
    return await interruptible(options.signal, () => writeOutputs(result, options));
  } finally {
    await releaseBuildResult({ result }).catch(() => undefined); // a tag left behind is dropped once this process is gone
  }
}

/** An output that is a layout or an archive rather than a registry. */
function isFileLocation(target: string): boolean {
  return /^(oci|oci-archive|docker-archive):/.test(target);
}

async function writeOutputs(result: BuildResult, options: Omit<ExportOptions, 'result'>): Promise<string[]> {
  // What remains (connection settings, signal, onProgress) goes to every copy.
  const { outputs = [], tags = [], push, pushByDigest, stdout, ...copyOptions } = options;
  checkOutputs(outputs, result.images.length);
  checkStdoutGiven(options);
  const source = `oci:${result.layout}:${result.tag}`;
  const byDigest = `oci:${result.layout}@${result.index.digest}`;
  const written: string[] = [];
  // An output to standard output is written to a file in the cache first, then sent whole: a build that fails sends nothing.
  const staged = tempPathIn(result.layout, 'stdout');
  try {
    for (const output of outputs) {
      const toStdout = goesToStdout(output);
      for (const target of outputLocations(toStdout ? { ...output, dest: staged } : output)) {
        const said = toStdout ? target.replace(staged, STDOUT_DEST) : target;
        if (written.includes(said)) continue;
        await writeOutput(result, target, { source, byDigest, copyOptions: { ...copyOptions, moreTags: moreNamesOf(output) } });
        if (toStdout) await sendFile(staged, stdout!, copyOptions.signal);
        written.push(said);
      }
    }
  } finally {
    await rm(staged, { force: true });
  }
  if (!push) return written;
  for (const tag of tags) {
    if (pushByDigest) {
      const repository = parseReference(tag);
      const bare = `${repository.registry}/${repository.repository}@${result.index.digest}`;
      await copy({ source, destination: bare, ...copyOptions, progressPhase: 'push' });
      written.push(bare);
    } else {
      await copy({ source, destination: tag, ...copyOptions, progressPhase: 'push' });
      written.push(tag);
    }
  }
  return written;
}

/** Writes one output location: a filesystem, or a copy of the index to a file or a registry. */
async function writeOutput(result: BuildResult, target: string, how: { readonly source: string; readonly byDigest: string; readonly copyOptions: ConnectionOptions & { readonly signal?: AbortSignal; readonly onProgress?: TransferListener; readonly moreTags?: readonly string[] } }): Promise<void> {
  const { source, byDigest, copyOptions } = how;
  if (target.startsWith('local:')) await exportFilesystem(result, target.slice('local:'.length), { signal: copyOptions.signal, modes: true });
  else if (target.startsWith('tar:')) await exportFilesystemTar(result, target.slice('tar:'.length), copyOptions.signal);
  // A layout or archive named without a tag gets the index by digest alone: the source's tag is the build cache's own, a name that means nothing outside it.
  else if (isFileLocation(target)) await copy({ source: byDigest, destination: target, ...copyOptions, progressPhase: 'copy' });
  else await copy({ source, destination: target, ...copyOptions, progressPhase: 'push' });
}

/** A written file's bytes to `out`, minding its back-pressure; `out` stays open. Stops on `signal`. */
async function sendFile(path: string, out: NodeJS.WritableStream, signal: AbortSignal | undefined): Promise<void> {
  const options = signal ? { signal } : {};
  for await (const chunk of createReadStream(path, options)) {
    if (!out.write(chunk as Buffer)) await once(out as unknown as EventEmitter, 'drain', options);
  }
}

/** One platform's filesystem as exported: where it is, and the modes, owners and attributes its layers gave each path. */
interface ExportedRoot {
  readonly root: string;
  /** Its folder in the export ('' for a single platform, else `os_arch[_variant]`, buildx's layout). */
  readonly prefix: string;
  readonly recorded: RecordedFacts;
}

/** type=local's DEST for one platform: a directory, or nothing yet (then made); anything else is one USAGE line. */
function localDestination(dest: string): string {
  let found;
  try {
    found = statSync(dest);
  } catch {
    return dest;
  }
  if (!found.isDirectory()) throw new PolyarchError('USAGE', `type=local,dest=${dest}: ${dest} is not a directory; type=local writes the filesystem into a directory (type=tar writes one file)`);
  return dest;
}

/**
 * DEST/os_arch, made when missing. Something else there is refused, never followed: an earlier
 * export of a hostile image may have left a link by that name (to `/`, say) in DEST.
 */
async function platformFolder(dest: string, name: string): Promise<string> {
  await makeDirectories(dest);
  const folder = join(dest, name);
  const found = await lstat(folder).catch(() => undefined);
  if (found && !found.isDirectory()) {
    throw new PolyarchError('USAGE', `type=local: ${folder} is ${found.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; a platform's files go into a directory of that name (a link there is never followed): remove it or choose another dest`);
  }
  if (!found) await mkdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  // Checked again once made: nothing but a directory is written into.
  if (!(await lstat(folder)).isDirectory()) throw new PolyarchError('USAGE', `type=local: ${folder} is not a directory`);
  return folder;
}

/**
 * type=local: each platform's filesystem in DEST, or in DEST/os_arch[_variant] when there are
 * several (buildx's layout). Modes are the layers' own (setuid bits and directory modes
 * included; run without root, directories keep u+rwx); owners are left to whoever exports, as buildx's local exporter leaves them, unless
 * `modes: false` (a tar is written from the facts instead, and the staging stays removable).
 */
async function exportFilesystem(result: BuildResult, dest: string, options: { readonly signal?: AbortSignal | undefined; readonly modes: boolean }): Promise<ExportedRoot[]> {
  const layout = await openLayout(result.layout);
  const roots: ExportedRoot[] = [];
  for (const image of result.images) {
    throwIfInterrupted(options.signal);
    const prefix = result.images.length > 1 ? formatPlatform(image.platform!).replace(/\//g, '_') : '';
    const root = prefix ? await platformFolder(resolve(dest), prefix) : localDestination(resolve(dest));
    await makeDirectories(root);
    const manifest = parseImageManifest(await layout.getManifest(image.digest));
    // The layers' times, as buildx's local exporter leaves them (not the time of this export).
    const times = new Map<string, Date>();
    const recorded: RecordedFacts = new Map();
    for (const layer of manifest.layers) await applyLayer(root, await layout.openBlob(layer), { mediaType: layer.mediaType, source: layer.digest, times, record: recorded });
    // Not root: a 0500 directory would lock its own exporter out of the next export into DEST.
    if (options.modes) await applyRecordedFacts(root, recorded, { owners: false, ownerKeepsDirectories: process.getuid?.() !== 0, ...(options.signal ? { signal: options.signal } : {}) });
    applyDirectoryTimes(times);
    roots.push({ root, prefix, recorded });
  }
  return roots;
}

/**
 * type=tar: the same filesystems as one tar (directories, links, pipes and hard links as such),
 * with the modes, owners and attributes the layers gave and the files' own times; written
 * atomically.
 */
async function exportFilesystemTar(result: BuildResult, dest: string, signal?: AbortSignal): Promise<void> {
  const target = resolve(dest);
  checkArchiveTarget(target, `type=tar,dest=${dest}`);
  // What an export killed outright left beside its target (the staged roots, the temp tar) goes first.
  await removeOrphanStaging(dirname(target));
  const staging = tempPathIn(dirname(target), 'rootfs');
  const temp = tempPathIn(dirname(target));
  try {
    const roots = await exportFilesystem(result, staging, { signal, modes: false });
    // Modes in the tar come from the layers' records; on disk, a 0000 file must still be readable without root.
    if (process.getuid?.() !== 0) await openTreeToOwner(staging);
    const entries = await rootfsEntries(staging, roots, signal);
    await writeLayer(entries, { file: temp, mtime: new Date(0), compression: { kind: 'uncompressed' } });
    await syncFile(temp);
    checkArchiveTarget(target, `type=tar,dest=${dest}`);
    await rename(temp, target);
  } finally {
    await rm(temp, { force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

/** The tar entries of the exported roots under `staging`: the disk's tree, with the layers' facts where they gave them. */
async function rootfsEntries(staging: string, roots: readonly ExportedRoot[], signal: AbortSignal | undefined): Promise<LayerEntry[]> {
  const tree = await snapshotTree(staging, signal ? { signal } : {});
  const facts = new Map<string, RecordedFact>();
  for (const { prefix, recorded } of roots) for (const [path, fact] of recorded) facts.set(prefix && path ? `${prefix}/${path}` : prefix || path, fact);
  const changed = new Map<string, ChangedPath>();
  const times = new Map<string, Date>();
  // A platform's folder is the export's own, made now: it gets the epoch, as BuildKit's, so the same build gives the same tar.
  const folders = new Set(roots.map((r) => r.prefix).filter((prefix) => prefix !== ''));
  for (const [path, entry] of tree.entries) {
    // Layers never make devices or sockets (applyLayer skips them with a notice).
    if (entry.type !== 'file' && entry.type !== 'directory' && entry.type !== 'symlink' && entry.type !== 'fifo') continue;
    changed.set(path, { ...entry, inode: `${entry.dev}:${entry.ino}`, source: join(tree.root, path) });
    times.set(path, folders.has(path) ? new Date(0) : new Date(Number(entry.mtimeNs / 1_000_000n)));
  }
  const entries = layerEntriesOf(changed, [], [], (path) => {
    const fact = facts.get(path);
    const disk = tree.entries.get(path);
    return fact ? { mode: fact.mode, uid: fact.uid, gid: fact.gid } : { mode: disk?.mode ?? 0o755, uid: 0, gid: 0 };
  });
  return entries.map((entry) => {
    const xattrs = entry.type === 'file' || entry.type === 'directory' ? facts.get(entry.path)?.xattrs : undefined;
    const mtime = times.get(entry.path);
    return { ...entry, ...(xattrs ? { xattrs } : {}), ...(mtime ? { mtime } : {}) };
  });
}

/** What buildx's `--metadata-file` holds for a result and the locations it was written to, for scripts that merge digests later. */
export function buildMetadata(result: BuildResult, written: readonly string[]): Record<string, unknown> {
  return {
    'containerimage.digest': result.index.digest,
    'containerimage.descriptor': { mediaType: result.index.mediaType, digest: result.index.digest, size: result.index.size },
    'image.name': written.join(','),
  };
}
