// Archives of many images written straight from a directory of verified blobs (the bundle cache):
// no staging copy, each blob once however many images share it, every blob re-verified as it is
// read into the tar, the archive renamed into place only when whole. Also the small reads and
// writes around such archives: one named member of a tar, and a SHA256SUMS file beside it.
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { encodedPart, type Digest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { descriptorOf, type Descriptor } from '../image/descriptor.js';
import { parseImageManifest } from '../image/manifest.js';
import type { RawManifest } from '../image/raw-manifest.js';
import { isDistributable, MediaType } from '../mediatype/mediatype.js';
import { withFileLock } from './layout-lock.js';
import { familiarString, parseReference, withDefaultTag } from '../reference/reference.js';
import { writeFileAtomic } from './atomic-write.js';
import type { BlobStore } from './blob-store.js';
import { dockerArchiveMetadata } from './docker-archive.js';
import { CONTAINERD_NAME, REF_NAME } from './index-entries.js';
import { LAYOUT_HEADER } from './oci-layout.js';
import { indexTar, readEntry } from './tar-index.js';
import { blobEntryName } from './tar-layout.js';
import { writeTarEntriesAtomic, type TarSource } from './tar-write.js';

export type ArchiveFormat = 'docker' | 'oci';

export interface ArchiveImage {
  readonly manifest: RawManifest;
  /** The image's name as listed (`registry:5000/team/app:1`): RepoTags, or the OCI ref.name. */
  readonly name: string;
}

export interface ArchiveFile {
  readonly name: string;
  readonly bytes: Buffer;
}

/** index.json of an OCI archive: one entry per image, named by its full name (tags alone would collide). */
function ociIndex(images: readonly ArchiveImage[]): Buffer {
  const manifests = images.map(({ manifest, name }) => {
    const ref = withDefaultTag(parseReference(name));
    return descriptorOf(manifest, { annotations: { [CONTAINERD_NAME]: `${ref.registry}/${ref.repository}:${ref.tag ?? 'latest'}`, [REF_NAME]: familiarString(ref) } });
  });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
}

/**
 * Writes `images` (manifests, configs and layers all in `blobs`) as one archive at `target`,
 * with `extra` files after the metadata. Returns the archive's sha256. Blobs `hashedOnWrite` says
 * were checked as this run wrote them are not hashed again (the tar writer still holds each to its size).
 */
export async function writeImagesArchive(
  target: string,
  blobs: BlobStore,
  images: readonly ArchiveImage[],
  options: { readonly format: ArchiveFormat; readonly extra?: readonly ArchiveFile[]; readonly signal?: AbortSignal; readonly hashedOnWrite?: (digest: Digest) => boolean },
): Promise<Digest> {
  const metadata: ArchiveFile[] =
    options.format === 'docker'
      ? dockerArchiveMetadata(images.map((i) => ({ manifest: i.manifest, repoTags: [i.name] })))
      : [
          { name: 'oci-layout', bytes: Buffer.from(LAYOUT_HEADER) },
          { name: 'index.json', bytes: ociIndex(images) },
        ];
  const contents = new Map<string, Descriptor>();
  for (const { manifest } of images) {
    const parsed = parseImageManifest(manifest);
    contents.set(manifest.digest, descriptorOf(manifest));
    for (const d of [parsed.config, ...parsed.layers]) if (isDistributable(d.mediaType)) contents.set(d.digest, d);
  }
  const inMemory = (file: ArchiveFile): TarSource => ({ name: file.name, size: file.bytes.length, open: () => Readable.from([file.bytes]) });
  const sources: TarSource[] = [
    ...metadata.map(inMemory),
    ...(options.extra ?? []).map(inMemory),
    ...[...contents.values()]
      .sort((a, b) => a.digest.localeCompare(b.digest))
      .map((d) => ({
        name: blobEntryName(d.digest),
        size: d.size,
        open: () => blobs.open(d, { ...(options.signal ? { signal: options.signal } : {}), hashedOnWrite: options.hashedOnWrite?.(d.digest) === true }),
      })),
  ];
  return writeTarEntriesAtomic(target, sources, options.signal ? { signal: options.signal } : {});
}

/** One member of a tar read whole, or undefined when the tar has none by that name; refuses one over `maxBytes`. */
export async function readTarMember(file: string, name: string, maxBytes: number): Promise<Buffer | undefined> {
  const entry = (await indexTar(file)).get(name);
  if (!entry) return undefined;
  return readEntry(file, entry, maxBytes, name);
}

/**
 * Records `sums` (file → sha256) in the SHA256SUMS file of their directory, in `sha256sum -c`'s
 * format, replacing lines for the same names and keeping the others; written atomically.
 */
export async function recordChecksums(dir: string, sums: ReadonlyMap<string, Digest>): Promise<string> {
  const path = join(dir, 'SHA256SUMS');
  // Bundles for other platforms may be written into the same directory at once (a CI job each):
  // each merges its lines into the file under a lock, or one would drop another's.
  return withFileLock(`${path}.lock`, () => mergeChecksums(dir, path, sums));
}

async function mergeChecksums(dir: string, path: string, sums: ReadonlyMap<string, Digest>): Promise<string> {
  const lines = new Map<string, string>();
  const existing = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  for (const line of existing.split('\n')) {
    const match = /^[a-f0-9]{64} [ *](.+)$/.exec(line);
    if (match) lines.set(match[1] as string, line);
  }
  for (const [file, digest] of sums) {
    if (dirname(file) !== dir) throw new PolyarchError('USAGE', `${file} is not in ${dir}`);
    lines.set(basename(file), `${encodedPart(digest)}  ${basename(file)}`);
  }
  const text = [...lines.keys()].sort().map((name) => lines.get(name)).join('\n');
  await writeFileAtomic(path, Buffer.from(`${text}\n`));
  return path;
}
