// The bundle's blob cache, as ops/ sees it: an OCI layout (content-addressed, every blob verified
// before it gets its name, so an interrupted run leaves only whole blobs to reuse) that images are
// copied into like any endpoint, and from which archives are then written without a staging copy.
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../digest/digest.js';
import type { Endpoint, IoOptions } from './endpoint.js';
import { BlobStore } from '../store/blob-store.js';
import { openLayout } from '../store/oci-layout.js';
import { readTarMember, recordChecksums, writeImagesArchive, type ArchiveFile, type ArchiveFormat, type ArchiveImage } from '../store/bundle-archive.js';

export type { ArchiveFile, ArchiveFormat, ArchiveImage };

export interface BundleCache {
  readonly dir: string;
  /** The cache as an endpoint: copy images into it, read manifests back by digest or by the name they were resolved from. */
  readonly endpoint: Endpoint;
  /** Writes one archive of `images` from the cached blobs, atomically; returns its sha256. */
  writeArchive(target: string, images: readonly ArchiveImage[], options: IoOptions & { readonly format: ArchiveFormat; readonly extra?: readonly ArchiveFile[] }): Promise<Digest>;
}

/** `$XDG_CACHE_HOME/polyarch/bundle-blobs`, or `~/.cache/polyarch/bundle-blobs`. */
export function defaultBundleCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache'), 'polyarch', 'bundle-blobs');
}

export async function openBundleCache(dir: string): Promise<BundleCache> {
  const endpoint = await openLayout(dir, { create: true });
  const blobs = new BlobStore(dir, `bundle cache ${dir}`);
  return {
    dir,
    endpoint,
    writeArchive: (target, images, options) => writeImagesArchive(target, blobs, images, options),
  };
}

/** A named member of an archive (a bundle's own manifest), or undefined when it has none. */
export function readArchiveMember(file: string, name: string, maxBytes: number): Promise<Buffer | undefined> {
  return readTarMember(file, name, maxBytes);
}

/** Adds or replaces the lines for `sums` in the SHA256SUMS of their directory; returns its path. */
export function recordArchiveChecksums(dir: string, sums: ReadonlyMap<string, Digest>): Promise<string> {
  return recordChecksums(dir, sums);
}
