// Test images are generated, never downloaded: seeded random file content in real tar+gzip
// layers, a config per platform, all written through an Endpoint.
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { Endpoint } from '../../src/endpoint/endpoint.js';
import type { Descriptor } from '../../src/image/descriptor.js';
import type { RawManifest } from '../../src/image/raw-manifest.js';
import type { Platform } from '../../src/platform/platform.js';
import { digestOfBytes, type Digest } from '../../src/digest/digest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { buildIndex } from '../../src/image/index.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { packToBuffer } from './tar.js';

/** Deterministic pseudo-random bytes (AES-CTR keystream of a seed). */
export function seededBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

export interface GeneratedLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  readonly bytes: Buffer;
}

/** A gzip layer holding one file of `size` seeded random bytes. */
export async function makeLayer(seed: string, size: number, fileName = `file-${seed.replace(/[^a-z0-9]/gi, '')}.bin`): Promise<GeneratedLayer> {
  const uncompressed = await packToBuffer((tar) => {
    tar.entry({ name: fileName, size, mtime: new Date(0), uid: 0, gid: 0, mode: 0o644 }, seededBytes(seed, size));
  });
  const bytes = gzipSync(uncompressed, { level: 1 });
  return {
    descriptor: { mediaType: MediaType.OciLayerGzip, digest: digestOfBytes(bytes), size: bytes.length },
    diffId: digestOfBytes(uncompressed),
    bytes,
  };
}

export interface GeneratedImage {
  readonly manifest: RawManifest;
  readonly descriptor: Descriptor;
  readonly config: RawManifest;
  readonly layers: readonly GeneratedLayer[];
  readonly platform: Platform;
}

export interface RandomImageOptions {
  readonly platform: Platform;
  readonly layers?: number;
  /** Bytes of file content per layer. */
  readonly bytes?: number;
  readonly seed?: string;
  /** 'docker' writes Docker schema 2 media types, 'oci' (default) OCI ones. */
  readonly format?: 'oci' | 'docker';
  readonly tag?: string;
}

/** Writes a random image (blobs, then manifest) through `endpoint`. */
export async function randomImage(endpoint: Endpoint, options: RandomImageOptions): Promise<GeneratedImage> {
  const docker = options.format === 'docker';
  const seed = options.seed ?? `${options.platform.os}/${options.platform.architecture}/${options.platform.variant ?? ''}`;
  const layers: GeneratedLayer[] = [];
  for (let i = 0; i < (options.layers ?? 2); i++) {
    const layer = await makeLayer(`${seed}#${i}`, options.bytes ?? 1024);
    layers.push(docker ? { ...layer, descriptor: { ...layer.descriptor, mediaType: MediaType.DockerLayerGzip } } : layer);
  }
  const config = rawFromJson(
    {
      architecture: options.platform.architecture,
      os: options.platform.os,
      ...(options.platform.variant ? { variant: options.platform.variant } : {}),
      created: '2024-01-01T00:00:00Z',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `generated layer ${i}` })),
    },
    docker ? MediaType.DockerConfig : MediaType.OciConfig,
  );
  const configDescriptor: Descriptor = { mediaType: config.mediaType, digest: config.digest, size: config.size };
  for (const layer of layers) await endpoint.putBlob(layer.descriptor, Readable.from([layer.bytes]));
  await endpoint.putBlob(configDescriptor, Readable.from([config.bytes]));
  const manifestMediaType = docker ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifest = rawFromJson({ schemaVersion: 2, mediaType: manifestMediaType, config: configDescriptor, layers: layers.map((l) => l.descriptor) }, manifestMediaType);
  await endpoint.putManifest(manifest, options.tag === undefined ? {} : { tag: options.tag });
  return {
    manifest,
    descriptor: { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, platform: options.platform },
    config,
    layers,
    platform: options.platform,
  };
}

export interface GeneratedIndex {
  readonly index: RawManifest;
  readonly images: readonly GeneratedImage[];
}

/** Writes one random image per platform and an index over them, tagged `tag`. */
export async function randomIndex(
  endpoint: Endpoint,
  platforms: readonly Platform[],
  options: { tag?: string; layers?: number; bytes?: number; seed?: string; format?: 'oci' | 'docker' } = {},
): Promise<GeneratedIndex> {
  const images: GeneratedImage[] = [];
  for (const platform of platforms) {
    images.push(
      await randomImage(endpoint, {
        platform,
        ...(options.layers !== undefined ? { layers: options.layers } : {}),
        ...(options.bytes !== undefined ? { bytes: options.bytes } : {}),
        ...(options.format !== undefined ? { format: options.format } : {}),
        seed: `${options.seed ?? 'index'}:${platform.os}/${platform.architecture}/${platform.variant ?? ''}`,
      }),
    );
  }
  const index = buildIndex(
    images.map((i) => i.descriptor),
    { mediaType: options.format === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex },
  );
  await endpoint.putManifest(index, options.tag === undefined ? {} : { tag: options.tag });
  return { index, images };
}

export const THREE_PLATFORMS: readonly Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 'arm', variant: 'v7' },
];
