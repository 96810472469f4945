// `bundle push FILE --to REG/prefix`: every image of a bundle archive into a registry, each as
// `REG/prefix/<last component of its name>:<tag>`, with its digest kept. The archive is checked
// against its bundle manifest before anything is sent, and every blob of every image is pushed
// before the first manifest, so a bad blob anywhere leaves no image half-pushed or tagged.
import type { Endpoint } from '../endpoint/endpoint.js';
import type { RawManifest } from '../image/raw-manifest.js';
import type { Digest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { formatReference, parseReference, parseRegistryHost, type Reference } from '../reference/reference.js';
import { readBundleManifest, BUNDLE_MANIFEST_NAME, bundleFileOf, looksLikeArchivePath } from './bundle-manifest.js';
import type { TransferListener } from '../progress/transfer.js';
import { copyImage, type BlobEvent } from './copy.js';
import { withOpener, type ConnectionOptions } from './session.js';
import { existsSync } from 'node:fs';

/** What {@link bundlePush} takes. */
export interface BundlePushOptions extends ConnectionOptions {
  /** The bundle archive: `FILE.tar`, `./FILE`, `docker-archive:FILE` or `oci-archive:FILE`. */
  readonly archive: string;
  /** `REG[/prefix]`: each image goes to `REG/prefix/<name>:<tag>`. */
  readonly to: string;
  /** Blobs pushed at once per image. */
  readonly concurrency?: number;
  /** Stops the push before any manifest is sent if blobs are still moving; the verb rejects with `INTERRUPTED`. */
  readonly signal?: AbortSignal;
  /** Called once per blob as it is settled in the registry. */
  readonly onBlob?: (event: BlobEvent) => void;
  /** Hears each blob's bytes as they are pushed (phase `push`), as `copy` reports them. */
  readonly onProgress?: TransferListener;
}

export interface PushedImage {
  readonly image: string;
  readonly target: string;
  readonly digest: Digest;
}

export interface BundlePushResult {
  readonly images: readonly PushedImage[];
}

/** `registry:5000/team/app:1` → `app`: the last path component names the image under the new prefix. */
export function pushTarget(to: string, image: string, tag: string): Reference {
  const repository = parseReference(image).repository;
  return parseReference(`${to}/${repository.slice(repository.lastIndexOf('/') + 1)}:${tag}`);
}

/** `REG` or `REG/prefix`, with no tag or digest; a lone word is a registry host. */
function checkTo(text: string): string {
  const slash = text.indexOf('/');
  const prefix = slash < 0 ? '' : text.slice(slash + 1);
  // A prefix is checked as the repository it starts (`REG/prefix/x`); the message names what was given.
  const probe = `${text}/x`;
  try {
    if (slash < 0) parseRegistryHost(text);
    else parseReference(probe);
  } catch (error) {
    const why = (error as Error).message.replaceAll(JSON.stringify(probe), JSON.stringify(text));
    throw new PolyarchError('USAGE', `bundle push: --to ${JSON.stringify(text)} is not REGISTRY[/PREFIX]: ${why}`, { cause: error });
  }
  if (text.includes('@') || prefix.includes(':') || text.endsWith('/')) {
    throw new PolyarchError('USAGE', `bundle push: --to ${JSON.stringify(text)} takes a registry and a prefix (REGISTRY[/PREFIX]), without a tag or digest`);
  }
  return text;
}

/** A destination whose manifests wait until `flush`: blobs of every image go first. */
function holdingManifests(target: Endpoint): { endpoint: Endpoint; flush: (io: { signal?: AbortSignal }) => Promise<void> } {
  const held: { manifest: RawManifest; tag?: string }[] = [];
  const endpoint: Endpoint = {
    kind: target.kind,
    description: target.description,
    ...(target.registry ? { registry: target.registry } : {}),
    resolve: (reference, options) => target.resolve(reference, options),
    getManifest: (reference, options) => target.getManifest(reference, options),
    putManifest: async (manifest, options) => {
      held.push({ manifest, ...(options?.tag !== undefined ? { tag: options.tag } : {}) });
    },
    deleteManifest: (reference, options) => target.deleteManifest(reference, options),
    hasBlob: (descriptor, options) => target.hasBlob(descriptor, options),
    openBlob: (descriptor, options) => target.openBlob(descriptor, options),
    putBlob: (descriptor, content, options) => target.putBlob(descriptor, content, options),
    ...(target.mountBlob ? { mountBlob: (descriptor, from, options) => target.mountBlob!(descriptor, from, options) } : {}),
    listTags: (options) => target.listTags(options),
    close: (options) => target.close(options),
  };
  const flush = async (io: { signal?: AbortSignal }): Promise<void> => {
    for (const { manifest, tag } of held.splice(0)) await target.putManifest(manifest, { ...io, ...(tag !== undefined ? { tag } : {}) });
  };
  return { endpoint, flush };
}

/**
 * Pushes every image of a bundle archive into a registry (`polyarch bundle push`), each as
 * `REG/prefix/<last component of its name>:<tag>`, with its digest kept. The archive is checked
 * against its bundle manifest first, and every blob goes before the first manifest.
 *
 * {@includeCode ../../examples/api/bundlePush.ts#example}
 */
export async function bundlePush(options: BundlePushOptions): Promise<BundlePushResult> {
  return interruptible(options.signal, () => pushBundle(options));
}

async function pushBundle(options: BundlePushOptions): Promise<BundlePushResult> {
  const { archive } = options;
  const io = options.signal ? { signal: options.signal } : {};
  const to = checkTo(options.to);
  const file = bundleFileOf(archive);
  // A path in an archive's form that is not there is a missing file, not a wrong kind of name.
  if (file === undefined && looksLikeArchivePath(archive) && !existsSync(archive)) throw new PolyarchError('NOT_FOUND', `bundle push: ${JSON.stringify(archive)}: no such file`);
  if (file === undefined) throw new PolyarchError('USAGE', `bundle push: ${JSON.stringify(archive)} is not an archive file (FILE.tar, ./FILE, docker-archive:FILE or oci-archive:FILE)`);
  const manifest = await readBundleManifest(file);
  if (!manifest) throw new PolyarchError('USAGE', `bundle push: ${file} holds no ${BUNDLE_MANIFEST_NAME}: not a polyarch bundle`);

  const plan = manifest.images.map((entry) => ({ entry, target: pushTarget(to, entry.image, entry.tag) }));
  const targets = new Map<string, string>();
  for (const { entry, target } of plan) {
    const key = formatReference(target);
    const other = targets.get(key);
    if (other !== undefined) throw new PolyarchError('USAGE', `bundle push: ${other} and ${entry.image} would both be pushed to ${key}`);
    targets.set(key, entry.image);
  }

  return withOpener(options, async (opener) => {
    const { endpoint: source } = await opener.open({ kind: manifest.format === 'docker' ? 'docker-archive' : 'oci-archive', path: file }, 'read');
    // The archive must hold what its bundle manifest says, image by image, before anything is sent.
    for (const { entry } of plan) {
      const found = await source.resolve(entry.image, io);
      if (!found) throw new PolyarchError('LAYOUT_INVALID', `${file}: ${BUNDLE_MANIFEST_NAME} lists ${entry.image}, which the archive does not hold`);
      if (found.digest !== entry.digest) {
        throw new PolyarchError('LAYOUT_INVALID', `${file}: ${entry.image} is ${found.digest} in the archive, but ${BUNDLE_MANIFEST_NAME} says ${entry.digest}`);
      }
    }
    const destinations = [];
    for (const { entry, target } of plan) {
      const { endpoint } = await opener.open({ kind: 'registry', reference: target }, 'write');
      const holding = holdingManifests(endpoint);
      destinations.push(holding);
      // Blobs are read through the digest check; a mismatch stops here, before any manifest.
      await copyImage({
        source,
        sourceReference: entry.digest,
        destination: holding.endpoint,
        destinationReference: entry.tag,
        ...io,
        ...(options.onBlob ? { onBlob: options.onBlob } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress, progressPhase: 'push' as const } : {}),
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      });
    }
    for (const holding of destinations) await holding.flush(io);
    return { images: plan.map(({ entry, target }) => ({ image: entry.image, target: formatReference(target), digest: entry.digest })) };
  });
}
