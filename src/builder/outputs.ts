// Where a build goes, in buildx's `--output` grammar or as any polyarch location.
import type { ConnectionOptions } from '../ops/session.js';
import type { BuildResult } from './build.js';
import { releaseBuildResult } from './cache/build-cache.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { copy } from '../ops/copy.js';
import type { TransferListener } from '../progress/transfer.js';
import { parseReference } from '../reference/reference.js';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseImageManifest } from '../image/manifest.js';
import { tempPathIn } from '../internal/temp-path.js';
import { formatPlatform } from '../platform/platform.js';
import { openLayout } from '../store/oci-layout.js';
import { listFiles, writeTarAtomic } from '../store/tar-write.js';
import { applyLayer } from '../layer/extract.js';

/** The KEY=VALUE fields of a buildx `--output type=…,…`, or none for a polyarch location. */
function outputFields(output: string): Map<string, string> {
  if (!output.startsWith('type=')) return new Map();
  return new Map(output.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
}

/** The first value any of the outputs gives attribute `name` (buildx sets `compression=` this way). */
export function outputAttribute(outputs: readonly string[], name: string): string | undefined {
  return outputs.map((o) => outputFields(o).get(name)).find((v) => v !== undefined);
}

/** One destination as a polyarch location (`host/repo:tag`, `oci-archive:FILE`, …). */
export function outputLocations(output: string, tags: readonly string[]): string[] {
  if (!output.startsWith('type=')) return [output];
  const fields = outputFields(output);
  const type = fields.get('type');
  const dest = fields.get('dest');
  const names = fields.get('name')?.split(/[;\s]+/).filter(Boolean) ?? [...tags];
  const needDest = (): string => {
    if (!dest) throw new PolyarchError('USAGE', `--output ${output}: needs dest=`);
    return dest;
  };
  switch (type) {
    case 'registry':
    case 'image':
      if (names.length === 0) throw new PolyarchError('USAGE', `--output ${output}: needs name= or -t`);
      return names;
    case 'oci':
      // index.json names the image by the tag of the first name, as BuildKit does; else "latest".
      return [`oci-archive:${needDest()}:${(names[0] ? parseReference(names[0]).tag : undefined) ?? 'latest'}`];
    case 'docker':
      return [`docker-archive:${needDest()}${names[0] ? `:${names[0]}` : ''}`];
    case 'local':
      return [`local:${needDest()}`];
    case 'tar':
      return [`tar:${needDest()}`];
    default:
      throw new PolyarchError('USAGE', `--output type=${type ?? ''} is not supported (registry, image, oci, docker, local, tar, or a polyarch location)`);
  }
}

/**
 * Refuses outputs that cannot hold a build of `platforms` platforms, before any work is done:
 * a docker archive (`docker load`) takes one image, as buildx's docker exporter does.
 */
export function checkOutputs(outputs: readonly string[], tags: readonly string[], platforms: number): void {
  for (const output of outputs) {
    if (platforms > 1 && outputLocations(output, tags).some((l) => l.startsWith('docker-archive:'))) {
      throw new PolyarchError('USAGE', `--output ${output}: a docker archive holds one platform, not ${platforms}; build one --platform there, or use type=oci for all`);
    }
  }
}

export interface ExportOptions extends ConnectionOptions {
  readonly signal?: AbortSignal;
  readonly tags?: readonly string[];
  /** Push to every tag. */
  readonly push?: boolean;
  /** With push: store by digest only, no tag (the native-runner pattern, merged later by `index create`). */
  readonly pushByDigest?: boolean;
  /** Hears each blob's bytes as it is written to an output (phase `push` for registries, `copy` for files). */
  readonly onProgress?: TransferListener;
}

/**
 * Sends the built index to every output; returns the locations written (`repo@digest` when pushed
 * by digest). Afterwards the result's tag leaves the build cache (its layers stay cached).
 */
export async function exportBuild(result: BuildResult, outputs: readonly string[], options: ExportOptions = {}): Promise<string[]> {
  try {
    return await writeOutputs(result, outputs, options);
  } finally {
    await releaseBuildResult(result).catch(() => undefined); // a tag left behind is dropped once this process is gone
  }
}

/** An output that is a layout or an archive rather than a registry. */
function isFileLocation(target: string): boolean {
  return /^(oci|oci-archive|docker-archive):/.test(target);
}

async function writeOutputs(result: BuildResult, outputs: readonly string[], options: ExportOptions): Promise<string[]> {
  const tags = options.tags ?? [];
  checkOutputs(outputs, tags, result.images.length);
  const source = `oci:${result.layout}:${result.tag}`;
  const written: string[] = [];
  for (const target of [...new Set(outputs.flatMap((o) => outputLocations(o, tags)))]) {
    if (target.startsWith('local:')) await exportFilesystem(result, target.slice('local:'.length));
    else if (target.startsWith('tar:')) await exportFilesystemTar(result, target.slice('tar:'.length));
    else await copy({ source, destination: target, ...options, progressPhase: isFileLocation(target) ? 'copy' : 'push' });
    written.push(target);
  }
  if (!options.push) return written;
  for (const tag of tags) {
    if (options.pushByDigest) {
      const repository = parseReference(tag);
      const bare = `${repository.registry}/${repository.repository}@${result.index.digest}`;
      await copy({ source, destination: bare, ...options, progressPhase: 'push' });
      written.push(bare);
    } else {
      await copy({ source, destination: tag, ...options, progressPhase: 'push' });
      written.push(tag);
    }
  }
  return written;
}

/** type=local: each platform's filesystem in DEST, or in DEST/os_arch[_variant] when there are several (buildx's layout). */
export async function exportFilesystem(result: BuildResult, dest: string): Promise<void> {
  const layout = await openLayout(result.layout);
  for (const image of result.images) {
    const root = resolve(result.images.length > 1 ? join(dest, formatPlatform(image.platform!).replace(/\//g, '_')) : dest);
    await mkdir(root, { recursive: true });
    const manifest = parseImageManifest(await layout.getManifest(image.digest));
    for (const layer of manifest.layers) await applyLayer(root, await layout.openBlob(layer), { mediaType: layer.mediaType, source: layer.digest });
  }
}

/** type=tar: the same filesystems as one tar, written atomically. */
export async function exportFilesystemTar(result: BuildResult, dest: string): Promise<void> {
  const staging = tempPathIn(dirname(resolve(dest)), 'rootfs');
  try {
    await exportFilesystem(result, staging);
    await writeTarAtomic(resolve(dest), staging, await listFiles(staging));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** What buildx's --metadata-file holds, for scripts that merge digests later. */
export function buildMetadata(result: BuildResult, written: readonly string[]): Record<string, unknown> {
  return {
    'containerimage.digest': result.index.digest,
    'containerimage.descriptor': { mediaType: result.index.mediaType, digest: result.index.digest, size: result.index.size },
    'image.name': written.join(','),
  };
}
