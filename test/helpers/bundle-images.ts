// Images for bundle tests and benches: several multi-arch indexes in one registry whose images
// all share one base layer per platform (a busybox root, or seeded bytes of a chosen size) and add
// one small layer of their own, as module images built on one base do.
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { digestOfBytes } from '../../src/digest/digest.js';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import type { Descriptor } from '../../src/image/descriptor.js';
import { buildIndex } from '../../src/image/index.js';
import { rawFromJson, type RawManifest } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { parsePlatform, type Platform } from '../../src/platform/platform.js';
import { parseLocation } from '../../src/reference/location.js';
import { busyboxRoot, type BusyboxArch } from './busybox.js';
import { makeLayer, type GeneratedLayer } from './images.js';

const exec = promisify(execFile);

export interface BundleTestImage {
  /** `HOST/name:tag` */
  readonly reference: string;
  readonly index: RawManifest;
  /** Per platform (`linux/arm64`): the image manifest, and config + layers size. */
  readonly images: ReadonlyMap<string, { readonly manifest: RawManifest; readonly contentSize: number }>;
}

/** A base layer per platform: the busybox root tarred, or `bytes` of seeded content. */
export async function baseLayers(platforms: readonly string[], options: { busybox?: boolean; bytes?: number; workDir: string }): Promise<Map<string, GeneratedLayer>> {
  const layers = new Map<string, GeneratedLayer>();
  for (const platform of platforms) {
    if (options.busybox) {
      const arch = (platform === 'linux/amd64' ? 'amd64' : platform === 'linux/arm64' ? 'arm64' : 'armhf') as BusyboxArch;
      const tar = join(options.workDir, `base-${arch}.tar`);
      await exec('tar', ['--numeric-owner', '--sort=name', '--mtime=@0', '-cf', tar, '-C', await busyboxRoot(arch), '.']);
      const bytes = await readFile(tar);
      await rm(tar);
      const digest = digestOfBytes(bytes);
      layers.set(platform, { descriptor: { mediaType: MediaType.OciLayer, digest, size: bytes.length }, diffId: digest, bytes });
    } else {
      layers.set(platform, await makeLayer(`base:${platform}`, options.bytes ?? 4096));
    }
  }
  return layers;
}

/** Pushes `HOST/<name>:<tag>` for each name: an index of one image per platform (the shared base plus a layer of its own). */
export async function pushSharedBaseImages(
  host: string,
  names: readonly string[],
  bases: ReadonlyMap<string, GeneratedLayer>,
  options: { tag?: string; ownBytes?: number } = {},
): Promise<BundleTestImage[]> {
  const opener = createEndpointOpener();
  const made: BundleTestImage[] = [];
  try {
    for (const name of names) {
      const reference = `${host}/${name}:${options.tag ?? '1'}`;
      const { endpoint } = await opener.open(parseLocation(reference), 'write');
      const entries: Descriptor[] = [];
      const images = new Map<string, { manifest: RawManifest; contentSize: number }>();
      for (const [text, base] of bases) {
        const platform: Platform = parsePlatform(text);
        const own = await makeLayer(`${name}:${text}`, options.ownBytes ?? 2048, `${name}.bin`);
        const config = rawFromJson(
          {
            architecture: platform.architecture,
            os: platform.os,
            ...(platform.variant ? { variant: platform.variant } : {}),
            config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
            rootfs: { type: 'layers', diff_ids: [base.diffId, own.diffId] },
            history: [{ created_by: 'base' }, { created_by: name }],
          },
          MediaType.OciConfig,
        );
        const configDescriptor = { mediaType: config.mediaType, digest: config.digest, size: config.size };
        for (const layer of [base, own]) await endpoint.putBlob(layer.descriptor, Readable.from([layer.bytes]));
        await endpoint.putBlob(configDescriptor, Readable.from([config.bytes]));
        const manifest = rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDescriptor, layers: [base.descriptor, own.descriptor] }, MediaType.OciManifest);
        await endpoint.putManifest(manifest, {});
        entries.push({ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, platform });
        images.set(text, { manifest, contentSize: config.size + base.descriptor.size + own.descriptor.size });
      }
      const index = buildIndex(entries, { mediaType: MediaType.OciIndex });
      await endpoint.putManifest(index, { tag: options.tag ?? '1' });
      made.push({ reference, index, images });
    }
  } finally {
    await opener.close();
  }
  return made;
}
