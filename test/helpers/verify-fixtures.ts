// Images for the verify tests: hand-made layers and configs written through an Endpoint, and a
// root with dynamically linked binaries from Debian (arm64 `busybox` and `libc6`), fetched once
// per machine with `apt-get download` into the test cache next to the static busybox .debs.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Endpoint } from '../../src/endpoint/endpoint.js';
import type { Descriptor } from '../../src/image/descriptor.js';
import type { Platform } from '../../src/platform/platform.js';
import { digestOfBytes } from '../../src/digest/digest.js';
import { buildIndex } from '../../src/image/index.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { testCacheDir } from './busybox.js';

export interface LayerBytes {
  readonly bytes: Buffer;
  /** Default: an uncompressed OCI layer. */
  readonly mediaType?: string;
  /** Written as the layer's blob instead of `bytes` (a blob that does not match its digest). */
  readonly stored?: Buffer;
  /** Leave the blob out of the store. */
  readonly absent?: boolean;
}

export interface PutImageOptions {
  /** The config's platform. */
  readonly platform: Platform;
  readonly layers: readonly LayerBytes[];
  /** The config's `config` object (Env, Entrypoint, Cmd…). */
  readonly config?: Record<string, unknown>;
  readonly manifestMediaType?: string;
  readonly configMediaType?: string;
}

/** Writes the blobs and the manifest; returns the manifest's descriptor (no platform). */
export async function putImage(endpoint: Endpoint, options: PutImageOptions): Promise<Descriptor> {
  const layers: Descriptor[] = [];
  for (const layer of options.layers) {
    const descriptor = { mediaType: layer.mediaType ?? MediaType.OciLayer, digest: digestOfBytes(layer.bytes), size: layer.bytes.length };
    if (!layer.absent) await endpoint.putBlob(descriptor, Readable.from([layer.stored ?? layer.bytes]));
    layers.push(descriptor);
  }
  const manifestMediaType = options.manifestMediaType ?? MediaType.OciManifest;
  const config = rawFromJson(
    {
      architecture: options.platform.architecture,
      os: options.platform.os,
      ...(options.platform.variant ? { variant: options.platform.variant } : {}),
      config: options.config ?? { Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    },
    options.configMediaType ?? (manifestMediaType === MediaType.DockerManifest ? MediaType.DockerConfig : MediaType.OciConfig),
  );
  const configDescriptor = { mediaType: config.mediaType, digest: config.digest, size: config.size };
  await endpoint.putBlob(configDescriptor, Readable.from([config.bytes]));
  const manifest = rawFromJson({ schemaVersion: 2, mediaType: manifestMediaType, config: configDescriptor, layers }, manifestMediaType);
  await endpoint.putManifest(manifest, {});
  return { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size };
}

/** An index over `entries`, tagged. */
export async function putIndex(endpoint: Endpoint, entries: readonly Descriptor[], tag: string, mediaType: typeof MediaType.OciIndex | typeof MediaType.DockerManifestList = MediaType.OciIndex): Promise<void> {
  await endpoint.putManifest(buildIndex(entries, { mediaType }), { tag });
}

function run(program: string, args: readonly string[], cwd?: string): void {
  const result = spawnSync(program, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${program} ${args.join(' ')} failed: ${`${result.stdout}${result.stderr}`.trim().split('\n').at(-1) ?? ''}`);
}

const DYNAMIC_PACKAGES = ['busybox', 'libc6'];

/** The cached arm64 .debs of busybox (dynamically linked) and libc6, downloaded when missing. */
function dynamicDebs(): string[] {
  const dir = join(testCacheDir(), 'busybox-dynamic');
  const find = (name: string): string | undefined => (existsSync(dir) ? readdirSync(dir).find((n) => n.startsWith(`${name}_`) && n.endsWith('_arm64.deb')) : undefined);
  const missing = DYNAMIC_PACKAGES.filter((p) => find(p) === undefined);
  if (missing.length > 0) {
    spawnSync('mkdir', ['-p', dir]);
    run('apt-get', ['download', ...missing.map((p) => `${p}:arm64`)], dir);
  }
  return DYNAMIC_PACKAGES.map((p) => join(dir, find(p) as string));
}

/**
 * A root at `dir` holding Debian's dynamically linked arm64 busybox (/bin/busybox, its loader
 * /lib/ld-linux-aarch64.so.1 a link into /lib/aarch64-linux-gnu, libc beside it) and /bin/sh → busybox.
 */
export async function dynamicArm64Root(dir: string): Promise<string> {
  for (const deb of dynamicDebs()) run('dpkg-deb', ['-x', deb, dir]);
  await mkdir(join(dir, 'bin'), { recursive: true });
  await symlink('busybox', join(dir, 'bin', 'sh'));
  return dir;
}
