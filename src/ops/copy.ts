import type { Descriptor } from '../image/descriptor.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { RawManifest } from '../image/raw-manifest.js';
import type { Platform } from '../platform/platform.js';
import { shortDigest } from '../digest/digest.js';
import { isPolyarchError, isRetryable, PolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { buildIndex, parseImageIndex } from '../image/index.js';
import { parseImageManifest } from '../image/manifest.js';
import { descriptorOf } from '../image/descriptor.js';
import { MediaType, isDistributable, isImageManifest, isIndex } from '../mediatype/mediatype.js';
import { MANIFEST_READS_AT_ONCE, mapConcurrent, type PieceTaker } from '../internal/streams.js';
import type { ConnectionOptions } from '../endpoint/open-endpoint.js';
import { meterTransfer, type TransferListener, type TransferMeter, type TransferPhase } from '../progress/transfer.js';
import { findReferrers } from './referrers.js';
import { checkImagePlatform, filterIndexEntries, imageEntries } from './select-platforms.js';
import { platformOfImage } from './resolve-source.js';
import { referenceOrLatest, toLocation, withOpener, type LocationInput } from './session.js';

/** How a copy moves content: what `copy`, `copyImage` and the verbs built on them share. */
export interface CopyTransferOptions {
  /** Copy only these platforms of an index; the index is rewritten so it is never sparse. */
  readonly platforms?: readonly Platform[];
  /** Blobs in flight at once. */
  readonly concurrency?: number;
  /** Stops the copy: it rejects with an `INTERRUPTED` PolyarchError, and an archive destination is not left half-written. */
  readonly signal?: AbortSignal;
  /**
   * Also copy what refers to the image, its index entries and those referrers (signatures,
   * SBOMs: manifests with a `subject`), recursively. With a platform filter, only the referrers
   * of kept entries come along; those of the source's index do not name the rewritten one.
   */
  readonly referrers?: boolean;
  /** Called once per blob as it is settled. */
  readonly onBlob?: (event: BlobEvent) => void;
  /** Hears each blob's bytes as they move (start, throttled progress, done), and blobs mounted or already there. */
  readonly onProgress?: TransferListener;
  /** The phase progress reports name: `copy` unless the caller knows better (a build's `pull` or `push`). */
  readonly progressPhase?: TransferPhase;
  /** At most one progress report per blob in this many milliseconds (default 100; 0 reports every chunk). */
  readonly progressIntervalMs?: number;
  /**
   * More tags for the top manifest in the destination, after its own (an archive's further names:
   * buildx's `-t a:1 -t a:2 -o type=docker` puts both in RepoTags).
   */
  readonly moreTags?: readonly string[];
}

/** What {@link copyImage} takes: two endpoints already open, and the transfer options. */
export interface CopyImageOptions extends CopyTransferOptions {
  /** Where the image is read. */
  readonly source: Endpoint;
  /** The tag or digest to read in `source`. */
  readonly sourceReference: string;
  /** Where the image is written. */
  readonly destination: Endpoint;
  /** The tag the top manifest gets in `destination`; without it, the manifest is stored by digest only. */
  readonly destinationReference?: string | undefined;
  /**
   * A second reader of a blob's bytes as they are copied (a build unpacks a base layer while it is
   * pulled, not after): asked at each transfer of a blob that moves piece by piece (a registry's
   * blob into a layout or a registry). A blob already there, mounted, or moved as a stream is not
   * tapped.
   */
  readonly tapBlob?: (descriptor: Descriptor) => BlobTap | undefined;
}

/** What reads a blob beside a copy (CopyImageOptions.tapBlob). */
export interface BlobTap {
  /** The next piece of the blob; the copy waits for the promise, then reads into the piece's memory again. */
  take(piece: Buffer): Promise<void>;
  /** The transfer ended: `verified` when the blob's digest and size matched, so every piece came whole. */
  end(verified: boolean): void;
}

/** What {@link copy} takes: two locations as the user writes them, the transfer options, and how to connect. */
export interface CopyOptions extends CopyTransferOptions, ConnectionOptions {
  /** What to copy: `host/repo:tag`, `oci:DIR:tag`, `docker-archive:FILE`, … or a parsed `Location`. */
  readonly source: LocationInput;
  /** Where to copy it; without a tag, the source's tag is kept (a digest source gets none). */
  readonly destination: LocationInput;
}

export interface BlobEvent {
  readonly descriptor: Descriptor;
  readonly action: 'copied' | 'mounted' | 'skipped';
}

export interface CopyResult {
  /** What the destination now holds at the top: the source's own manifest, or the rewritten index. */
  readonly descriptor: Descriptor;
  /** Manifests written: the top one, those below an index, and referrers. */
  readonly manifests: number;
  /** Referrers copied with `referrers` (the manifests below index referrers not counted). */
  readonly referrers: number;
  /** Blobs whose bytes were sent. */
  readonly blobsCopied: number;
  /** Blobs a registry linked from another repository of its own (no bytes sent). */
  readonly blobsMounted: number;
  /** Blobs the destination held already. */
  readonly blobsSkipped: number;
  /** Bytes of the copied blobs (as stored, compressed). */
  readonly bytesCopied: number;
}

/**
 * Copies an image or index from one open endpoint to another.
 *
 * Blobs go first (skipped when present, mounted within one registry), then child manifests by
 * digest, then the top manifest under `destinationReference`. Manifest bytes are never
 * re-serialized unless platforms are filtered out. The endpoints stay open: the caller closes them.
 *
 * {@includeCode ../../examples/api/copyImage.ts#example}
 */
export async function copyImage(options: CopyImageOptions): Promise<CopyResult> {
  return interruptible(options.signal, () => copyEndpoints(options));
}

async function copyEndpoints(options: CopyImageOptions): Promise<CopyResult> {
  const { source, sourceReference, destination, destinationReference: destinationTag } = options;
  if (options.platforms !== undefined && !Array.isArray(options.platforms)) throw new PolyarchError('USAGE', 'platforms is a list of Platform objects (parsePlatformList reads "linux/amd64,linux/arm64")');
  if (options.concurrency !== undefined && !(Number.isSafeInteger(options.concurrency) && options.concurrency >= 1 && options.concurrency <= 64)) throw new PolyarchError('USAGE', `concurrency ${String(options.concurrency)} is not a whole number from 1 to 64`);
  const io = options.signal ? { signal: options.signal } : {};
  let top = await source.getManifest(sourceReference, io);
  const what = `${source.description}:${sourceReference}`;
  if (isIndex(top.mediaType) && (options.platforms?.length || destination.kind === 'docker-archive')) {
    top = await narrowIndex(source, top, what, destination, options.platforms ?? [], io);
  } else if (!isIndex(top.mediaType) && !isImageManifest(top.mediaType)) {
    throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `${what}: cannot copy media type ${top.mediaType}`);
  } else if (isImageManifest(top.mediaType) && options.platforms?.length && /json/.test(parseImageManifest(top, what).config.mediaType)) {
    checkImagePlatform(await platformOfImage(source, top, what, io), options.platforms, what, { strict: true });
  }

  const blobs = new Map<string, Descriptor>();
  const blobPlatforms = new Map<string, Platform>();
  const children: RawManifest[] = [];
  await collect(source, top, blobs, children, io, blobPlatforms);
  // Found before anything is written, so a hostile or broken referrers list leaves nothing behind.
  if (options.referrers && destination.kind === 'docker-archive') throw new PolyarchError('USAGE', `${destination.description}: a docker archive cannot hold referrers; leave out --referrers (referrers)`);
  const referrers = options.referrers ? await findReferrers({ source, subjects: [top, ...children], ...io }) : { manifests: [], count: 0 };
  for (const manifest of referrers.manifests) if (!isIndex(manifest.mediaType)) await collect(source, manifest, blobs, [], io, blobPlatforms);

  // Awaiting one sync per blob held up the writes of the others: the layout syncs each in the
  // background and names them all before index.json does (measured: see the copy bench).
  destination.batchBlobSyncs?.();
  const stats = { copied: 0, mounted: 0, skipped: 0, bytes: 0 };
  try {
    await mapConcurrent([...blobs.values()], options.concurrency ?? 6, async (descriptor) => {
      const listener = options.onProgress;
      const platform = blobPlatforms.get(descriptor.digest);
      const meter = listener
        ? meterTransfer(listener, { phase: options.progressPhase ?? 'copy', digest: descriptor.digest, total: descriptor.size, ...(platform ? { platform } : {}) }, options.progressIntervalMs)
        : undefined;
      let action: BlobEvent['action'];
      try {
        action = await copyBlob(source, destination, descriptor, io, meter, options.tapBlob);
      } catch (error) {
        meter?.cancel();
        throw error;
      }
      meter?.done(action);
      if (action === 'copied') {
        stats.copied++;
        stats.bytes += descriptor.size;
      } else if (action === 'mounted') stats.mounted++;
      else stats.skipped++;
      options.onBlob?.({ descriptor, action });
    });
  } catch (error) {
    // The blobs that did arrive whole are kept, as with a sync per blob (close({discard}) may drop them).
    await destination.flushBlobs?.().catch(() => undefined);
    throw error;
  }
  // Children before parents, so a registry never sees a reference to something it lacks.
  for (const child of children) await destination.putManifest(child, io);
  await destination.putManifest(top, { ...io, ...(destinationTag !== undefined ? { tag: destinationTag } : {}) });
  for (const tag of options.moreTags ?? []) await destination.putManifest(top, { ...io, tag });
  for (const manifest of referrers.manifests) await destination.putManifest(manifest, io);
  return {
    descriptor: descriptorOf(top),
    manifests: children.length + 1 + referrers.manifests.length,
    referrers: referrers.count,
    blobsCopied: stats.copied,
    blobsMounted: stats.mounted,
    blobsSkipped: stats.skipped,
    bytesCopied: stats.bytes,
  };
}

/** Applies the platform filter; for a docker archive, which holds one image per tag, unwraps to that image. */
async function narrowIndex(
  source: Endpoint,
  top: RawManifest,
  what: string,
  destination: Endpoint,
  platforms: readonly Platform[],
  io: { signal?: AbortSignal },
): Promise<RawManifest> {
  const index = parseImageIndex(top, what);
  const kept = platforms.length > 0 ? filterIndexEntries(index, platforms, what) : [...index.manifests];
  if (destination.kind === 'docker-archive') {
    const images = kept.filter((d) => imageEntries({ ...index, manifests: [d] }).length === 1);
    if (images.length !== 1) {
      throw new PolyarchError('USAGE', `${what} holds ${images.length} platform images; a docker archive holds one: choose it with --platform (platforms)`);
    }
    return source.getManifest((images[0] as Descriptor).digest, io);
  }
  if (kept.length === index.manifests.length) return top;
  return buildIndex(kept, {
    mediaType: index.raw.mediaType === MediaType.DockerManifestList ? MediaType.DockerManifestList : MediaType.OciIndex,
    ...(index.annotations ? { annotations: index.annotations } : {}),
  });
}

/**
 * Walks an index tree, gathering every child manifest (deepest first) and every distributable
 * blob, with the platform of the first index entry that reaches each blob (for progress reports).
 */
async function collect(
  source: Endpoint,
  raw: RawManifest,
  blobs: Map<string, Descriptor>,
  children: RawManifest[],
  io: { signal?: AbortSignal },
  platforms: Map<string, Platform>,
  platform?: Platform,
): Promise<void> {
  if (isIndex(raw.mediaType)) {
    const index = parseImageIndex(raw);
    // Unknown entries are left alone (image-spec). The others are read side by side, then walked in order.
    const entries = index.manifests.filter((entry) => isIndex(entry.mediaType) || isImageManifest(entry.mediaType));
    const read = await mapConcurrent(entries, MANIFEST_READS_AT_ONCE, (entry) => source.getManifest(entry.digest, io));
    for (const [i, entry] of entries.entries()) {
      const child = read[i] as RawManifest;
      await collect(source, child, blobs, children, io, platforms, entry.platform ?? platform);
      children.push(child);
    }
    return;
  }
  const manifest = parseImageManifest(raw);
  for (const d of [manifest.config, ...manifest.layers]) {
    if (isDistributable(d.mediaType) && !blobs.has(d.digest)) {
      blobs.set(d.digest, d);
      if (platform) platforms.set(d.digest, platform);
    }
  }
}

/** Transfers of one blob: a broken one is started over once, since GETs are idempotent and puts content-addressed. */
const BLOB_ATTEMPTS = 2;

/** A transfer that broke on the way (cut past resuming, throttled, or bytes that did not hash) rather than a refusal. */
function brokeInTransit(error: unknown): boolean {
  return isRetryable(error) || (isPolyarchError(error) && (error.code === 'DIGEST_MISMATCH' || error.code === 'SIZE_MISMATCH'));
}

async function copyBlob(source: Endpoint, destination: Endpoint, descriptor: Descriptor, io: { signal?: AbortSignal }, meter: TransferMeter | undefined, tapBlob: CopyImageOptions['tapBlob']): Promise<BlobEvent['action']> {
  if (await destination.hasBlob(descriptor, io)) return 'skipped';
  const sameRegistry = source.registry && destination.registry && source.registry.host === destination.registry.host;
  if (sameRegistry && destination.mountBlob && (await destination.mountBlob(descriptor, source.registry!.repository, io))) return 'mounted';
  for (let attempt = 1; ; attempt++) {
    try {
      await moveBlob(source, destination, descriptor, io, meter, tapBlob);
      return 'copied';
    } catch (error) {
      if (attempt < BLOB_ATTEMPTS && !io.signal?.aborted && brokeInTransit(error)) continue;
      if (error instanceof PolyarchError) throw error;
      throw new PolyarchError('UNKNOWN', `copying blob ${shortDigest(descriptor.digest)} to ${destination.description} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** One transfer of a blob: piece by piece when both ends can (registries and layouts, either way), else as a stream. */
async function moveBlob(source: Endpoint, destination: Endpoint, descriptor: Descriptor, io: { signal?: AbortSignal }, meter: TransferMeter | undefined, tapBlob: CopyImageOptions['tapBlob']): Promise<void> {
  if (source.readBlobInto && destination.putBlobFrom) {
    const readBlobInto = source.readBlobInto.bind(source);
    meter?.start();
    const tap = tapBlob?.(descriptor);
    const counted = (take: PieceTaker): PieceTaker =>
      meter || tap
        ? (piece) => {
            meter?.add(piece.length);
            const tapped = tap?.take(piece);
            const taken = take(piece);
            return tapped ? Promise.all([tapped, taken]).then(() => undefined) : taken;
          }
        : take;
    let verified = false;
    try {
      await destination.putBlobFrom(descriptor, (take) => readBlobInto(descriptor, counted(take), io).then(() => void (verified = true)), io);
    } finally {
      tap?.end(verified);
    }
    return;
  }
  const stream = await source.openBlob(descriptor, io);
  if (meter) {
    meter.start();
    meter.observe(stream);
  }
  try {
    await destination.putBlob(descriptor, stream, io);
  } finally {
    stream.destroy();
  }
}

/**
 * Copies an image or index between two locations (`polyarch copy SRC DST`): registries, OCI
 * layouts, OCI and docker archives, in any pairing.
 *
 * {@includeCode ../../examples/api/copy.ts#example}
 */
export async function copy(options: CopyOptions): Promise<CopyResult> {
  // Both locations are parsed before either is opened: a bad destination is bad input, whatever the source.
  const source = toLocation(options.source);
  const destination = toLocation(options.destination);
  return interruptible(options.signal, () => withOpener(options, async (opener) => {
    const src = await opener.open(source, 'read');
    const dst = await opener.open(destination, 'write');
    const sourceReference = referenceOrLatest(src.reference);
    // Without a destination tag, keep the source's tag (a digest names content, not a tag).
    const tag = dst.reference ?? (src.reference?.includes(':') ? undefined : sourceReference);
    let result: CopyResult;
    try {
      result = await copyEndpoints({ ...options, source: src.endpoint, sourceReference, destination: dst.endpoint, ...(tag !== undefined ? { destinationReference: tag } : {}) });
    } catch (error) {
      await dst.endpoint.close({ discard: true });
      throw error;
    }
    await dst.endpoint.close(options.signal ? { signal: options.signal } : {});
    return result;
  }));
}
