// docker's local manifest-list store (`docker manifest create/annotate`), read and written in
// docker's own format so a list made by either tool can be finished by the other:
// `<config dir>/manifests/<list ref, file-safe>/<entry ref, file-safe>`, each file
// {"Ref", "Descriptor", "Raw" (base64 of the exact bytes), "SchemaV2Manifest"|"OCIManifest"}.
// https://github.com/docker/cli/blob/master/cli/manifest/store/store.go
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type Digest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { rawFromBytes, type RawManifest } from '../image/raw-manifest.js';
import { isDockerMediaType } from '../mediatype/mediatype.js';
import type { Platform } from '../platform/platform.js';
import { writeFileAtomic } from './atomic-write.js';

export interface StoredEntry {
  /** The entry's image reference, as docker writes it (`host/repo:tag`). */
  readonly ref: string;
  readonly descriptor: Descriptor;
  readonly raw: RawManifest;
}

/** docker's makeFilesafeName: `:` → `-`, `/` → `_`. */
export function filesafeName(ref: string): string {
  return ref.replace(/:/g, '-').replace(/\//g, '_');
}

export function listDir(root: string, listRef: string): string {
  return join(root, filesafeName(listRef));
}

/** One stored file → entry; the bytes are checked against the recorded digest. */
export function parseStoredEntry(text: string, where: string): StoredEntry {
  let file: Record<string, unknown>;
  try {
    file = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new PolyarchError('LAYOUT_INVALID', `${where}: not valid JSON`, { cause: error });
  }
  const descriptor = (file.Descriptor ?? {}) as Partial<Descriptor>;
  // Files from older docker versions keep digest and platform at the top.
  const digest = (descriptor.digest ?? file.Digest) as string | undefined;
  const platform = (descriptor.platform ?? file.Platform) as Platform | undefined;
  const embedded = file.SchemaV2Manifest ?? file.OCIManifest;
  const bytes = typeof file.Raw === 'string' ? Buffer.from(file.Raw, 'base64') : embedded !== undefined ? Buffer.from(JSON.stringify(embedded)) : undefined;
  if (typeof file.Ref !== 'string' || !bytes || !digest || !isDigest(digest)) {
    throw new PolyarchError('LAYOUT_INVALID', `${where}: not a docker manifest-list entry (needs Ref, a digest and the manifest)`);
  }
  const raw = rawFromBytes(bytes, { ...(descriptor.mediaType ? { mediaType: descriptor.mediaType } : {}), expected: digest as Digest, what: `${where} (${file.Ref})` });
  return {
    ref: file.Ref,
    descriptor: { mediaType: raw.mediaType, digest: raw.digest, size: raw.size, ...(platform && (platform.os || platform.architecture) ? { platform } : {}) },
    raw,
  };
}

/** The file docker would write: the manifest embedded verbatim, so its bytes (and digest) survive. */
export function formatStoredEntry(entry: StoredEntry): string {
  const head = JSON.stringify({
    Ref: entry.ref,
    Descriptor: { mediaType: entry.descriptor.mediaType, digest: entry.descriptor.digest, size: entry.descriptor.size, ...(entry.descriptor.platform ? { platform: entry.descriptor.platform } : {}) },
    Raw: entry.raw.bytes.toString('base64'),
  });
  const key = isDockerMediaType(entry.raw.mediaType) ? 'SchemaV2Manifest' : 'OCIManifest';
  return `${head.slice(0, -1)},"${key}":${entry.raw.bytes.toString('utf8').trim()}}`;
}

/** The entries of a stored list in docker's order (file name order); undefined when there is no list. */
export async function readStoredList(root: string, listRef: string): Promise<StoredEntry[] | undefined> {
  const dir = listDir(root, listRef);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return Promise.all(names.map(async (name) => parseStoredEntry(await readFile(join(dir, name), 'utf8'), join(dir, name))));
}

export async function writeStoredEntry(root: string, listRef: string, entry: StoredEntry): Promise<void> {
  await writeFileAtomic(join(listDir(root, listRef), filesafeName(entry.ref)), Buffer.from(formatStoredEntry(entry)));
}

export async function removeStoredEntry(root: string, listRef: string, entryRef: string): Promise<void> {
  await rm(join(listDir(root, listRef), filesafeName(entryRef)), { force: true });
}

export async function removeStoredList(root: string, listRef: string): Promise<boolean> {
  const dir = listDir(root, listRef);
  const existed = (await readStoredList(root, listRef)) !== undefined;
  await rm(dir, { recursive: true, force: true });
  return existed;
}
