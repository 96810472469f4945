// Multi-arch base images for build tests and benches: one single-layer image per platform, from a
// root directory (tarred here) or a ready rootfs tar, stored as one index at any polyarch location.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { Digest } from '../../src/digest/digest.js';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { buildIndex } from '../../src/image/index.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { parseLocation } from '../../src/reference/location.js';
import type { ConnectionOptions } from '../../src/ops/session.js';

const exec = promisify(execFile);

export interface BasePart {
  /** `os/arch[/variant]`. */
  readonly platform: string;
  /** An uncompressed tar of the root (becomes the layer as it is) … */
  readonly tar?: string;
  /** … or a root directory, tarred with numeric owners into `${dir}.tar` next to it. */
  readonly dir?: string;
}

async function sha256OfFile(path: string): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}` as Digest;
}

/**
 * Stores one index at `location` (`HOST/repo:tag`, `oci:DIR:tag`, …) whose entries are single-layer
 * images of the given roots, with `config` (default `{ Env: ['PATH=…'] }`) as each image's config.
 */
export async function storeBaseIndex(location: string, parts: readonly BasePart[], options: ConnectionOptions & { config?: Record<string, unknown> } = {}): Promise<void> {
  const parsed = parseLocation(location);
  const tag = (parsed.kind === 'registry' ? parsed.reference.tag : parsed.kind === 'docker-archive' ? undefined : parsed.tag) ?? 'latest';
  const opener = createEndpointOpener(options);
  const { endpoint } = await opener.open(parsed, 'write');
  const images = [];
  for (const part of parts) {
    let tar = part.tar;
    if (tar === undefined) {
      if (part.dir === undefined) throw new Error('a base part needs a tar or a dir');
      tar = `${part.dir}.tar`;
      await exec('tar', ['--numeric-owner', '-cf', tar, '-C', part.dir, '.']);
    }
    try {
      const digest = await sha256OfFile(tar);
      const layer = { mediaType: MediaType.OciLayer, digest, size: (await stat(tar)).size };
      const platform = parsePlatform(part.platform);
      const config = rawFromJson(
        {
          architecture: platform.architecture,
          os: platform.os,
          ...(platform.variant ? { variant: platform.variant } : {}),
          config: options.config ?? { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
          rootfs: { type: 'layers', diff_ids: [digest] },
          // One entry for the one layer, as real images have: buildah refuses a base whose history misses its layers.
          history: [{ created_by: `root filesystem for ${part.platform}` }],
        },
        MediaType.OciConfig,
      );
      const configDescriptor = { mediaType: config.mediaType, digest: config.digest, size: config.size };
      await endpoint.putBlob(layer, createReadStream(tar));
      await endpoint.putBlob(configDescriptor, Readable.from([config.bytes]));
      const manifest = rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDescriptor, layers: [layer] }, MediaType.OciManifest);
      await endpoint.putManifest(manifest, {});
      images.push({ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, platform });
    } finally {
      if (part.tar === undefined) await rm(tar, { force: true });
    }
  }
  await endpoint.putManifest(buildIndex(images, { mediaType: MediaType.OciIndex }), { tag });
}
