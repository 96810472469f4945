// A stage's FROM on one platform: the image an index names for the platform, pulled into the
// build cache; and images unpacked into a directory, for COPY --from=<image>.
import { realpath } from 'node:fs/promises';
import type { Platform } from '../platform/platform.js';
import type { OciLayout } from '../store/oci-layout.js';
import { PolyarchError, asError, isPolyarchError } from '../errors/polyarch-error.js';
import { parseImageIndex } from '../image/index.js';
import { parseImageConfig } from '../image/config.js';
import { parseImageManifest, type ImageManifest } from '../image/manifest.js';
import type { RawManifest } from '../image/raw-manifest.js';
import type { Digest } from '../digest/digest.js';
import { readAllLimited } from '../internal/streams.js';
import { tempPathIn } from '../internal/temp-path.js';
import { isIndex } from '../mediatype/mediatype.js';
import { formatPlatform, parsePlatform } from '../platform/platform.js';
import { normalizePlatform } from '../platform/normalize.js';
import { selectEntry } from '../platform/match.js';
import { copyImage, type BlobTap } from '../ops/copy.js';
import type { Descriptor } from '../image/descriptor.js';
import { withPlatform, type TransferListener } from '../progress/transfer.js';
import { referenceOrLatest, toLocation, type withOpener } from '../ops/session.js';
import type { RecordedFacts } from '../layer/extract.js';
import { materializeLayersInWorker } from '../layer/unpack-in-worker.js';
import { touchCachedBlob } from './cache/build-cache.js';
import { badDockerfile, flagValue, parseDockerfile, type Instruction } from './dockerfile.js';
import { layerOpener } from './layer-scan.js';
import { unpackerWhilePulled } from './stage-root.js';
import { StageState, type PlatformContext, type Stage, type StageConfig } from './stage.js';
import { makeDirectories } from '../internal/make-directories.js';
import type { DirectoryContext, NamedContexts } from './named-contexts.js';

/** The endpoint opener a build runs with. */
export type Opener = Parameters<Parameters<typeof withOpener>[1]>[0];

/** An image's filesystem unpacked into `root`, with the modes and owners its tar headers gave. */
export interface UnpackedImage {
  readonly root: string;
  readonly recorded: RecordedFacts;
}

export interface BaseImagesOptions {
  readonly opener: Opener;
  readonly layout: OciLayout;
  /** The Dockerfile's name, for messages. */
  readonly file: string;
  readonly io: { readonly signal: AbortSignal };
  /** Unpacked images go to scratch paths removed when the build ends. */
  readonly addScratch: (path: string) => void;
  /** Hears the pulled blobs' bytes as they move (phase `pull`). */
  readonly onTransfer?: TransferListener;
  /**
   * What each base name resolved to, shared by the build's platforms: a tag is asked of its
   * registry once per build (and every platform starts from the same index).
   */
  readonly resolved?: Map<string, Promise<RawManifest>>;
  /** Contexts given by name: an image context is pulled in place of the name it stands for. */
  readonly named?: NamedContexts;
  /** Takes work a pull leaves running (a base layer still being unpacked), for the build to wait for before it ends. */
  readonly keepRunning?: (work: Promise<void>) => void;
}

/** The manifest `digest` when the cache holds it (its bytes checked against the digest), else undefined. */
async function heldManifest(layout: OciLayout, digest: Digest, io: { readonly signal: AbortSignal }): Promise<RawManifest | undefined> {
  if (!(await layout.hasBlob({ mediaType: '', digest, size: 0 }))) return undefined;
  return layout.getManifest(digest, io);
}

/** True when the cache holds the image's config and every layer: pulling it again would copy nothing. */
async function heldWhole(layout: OciLayout, manifest: ImageManifest): Promise<boolean> {
  const held = await Promise.all([manifest.config, ...manifest.layers].map((d) => layout.hasBlob(d)));
  return held.every(Boolean);
}

/** Unpacks `layer`, the bottom one of an image being pulled, from the pull's bytes (stage-root.ts); `copied` settles with the pull. */
export type BottomLayerUnpacker = (layer: Descriptor, copied: Promise<unknown>) => (BlobTap & { readonly done: Promise<void> }) | undefined;

/** Base images for one platform's build: pulled into the cache, and unpacked at most once each. */
export class BaseImages {
  readonly #options: BaseImagesOptions;
  readonly #unpacked = new Map<string, Promise<UnpackedImage>>();

  constructor(options: BaseImagesOptions) {
    this.#options = options;
  }

  /**
   * The image `name` has for `want` (from an index, the entry that platform would pull), as a
   * stage's start. `unpackBottom`: a stage with a RUN to come has the image's bottom layer
   * unpacked as it is pulled; asked for only when the image is not in the cache whole, since
   * finding out whether layers can be unpacked for overlay mounts costs a mount (a warm build's
   * base is all there and needs none).
   */
  async pull(name: string, want: Platform, line: number, unpackBottom?: () => Promise<BottomLayerUnpacker | undefined>): Promise<StageState> {
    const { opener, layout, file, io } = this.#options;
    // The registry's or layout's own reason keeps its code (an unreachable registry is NETWORK, with its hint; Ctrl-C is INTERRUPTED).
    const unreadable = (error: unknown): never => {
      const known = isPolyarchError(error) ? error : undefined;
      throw new PolyarchError(known?.code ?? 'MANIFEST_UNKNOWN', `${file}:${line}: base image ${name}: ${asError(error).message}`, { cause: error, ...(known?.status === undefined ? {} : { status: known.status }) });
    };
    const location = this.#options.named?.image(name) ?? name;
    // A name that is no reference (`FROM x:${EMPTY}`) is reported on its line too.
    const { endpoint, reference } = await Promise.resolve()
      .then(() => opener.open(toLocation(location), 'read'))
      .catch(unreadable);
    // The name is always asked of its registry (a changed tag rebuilds); what a digest names
    // never changes, so the cache's copy of a platform's manifest and blobs is used as it is.
    const resolved = this.#options.resolved;
    let top = resolved?.get(name);
    if (!top) {
      top = endpoint.getManifest(referenceOrLatest(reference), io);
      resolved?.set(name, top);
    }
    let raw = await top.catch(unreadable);
    if (isIndex(raw.mediaType)) {
      const choice = selectEntry(parseImageIndex(raw).manifests, want);
      if (!choice.entry) throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${file}:${line}: base image ${name} has no ${formatPlatform(want)} image`);
      raw = (await heldManifest(layout, choice.entry.digest, io)) ?? (await endpoint.getManifest(choice.entry.digest, io));
    }
    const manifest = parseImageManifest(raw);
    if (await heldWhole(layout, manifest)) {
      // Listed again as a pull lists it, so the cache's pruning keeps it.
      await layout.putManifest(raw, io);
    } else {
      const listener = this.#options.onTransfer;
      // A pulled image is one platform's: its blobs report under the platform being built.
      const progress = listener ? { onProgress: withPlatform(listener, want), progressPhase: 'pull' as const } : {};
      const bottom = manifest.layers[0];
      const unpack = await unpackBottom?.();
      const tapBlob =
        unpack && bottom
          ? (blob: Descriptor): BlobTap | undefined => {
              if (blob.digest !== bottom.digest) return undefined;
              const tap = unpack(bottom, copying);
              if (tap) this.#options.keepRunning?.(tap.done);
              return tap;
            }
          : undefined;
      const copying: Promise<unknown> = copyImage({ source: endpoint, sourceReference: raw.digest, destination: layout, ...io, ...progress, ...(tapBlob ? { tapBlob } : {}) });
      await copying;
    }
    await touchCachedBlob(layout.dir, raw.digest);
    const config = parseImageConfig(await readAllLimited(await layout.openBlob(manifest.config), 4 << 20, `config of ${name}`)) as StageConfig;
    return new StageState({
      config: { ...config, config: { ...(config.config ?? {}) } },
      layers: manifest.layers,
      diffIds: config.rootfs?.diff_ids ?? [],
      history: (config.history ?? []) as Record<string, unknown>[],
    });
  }

  /** The image `name` has for `want`, unpacked once per build and platform (COPY --from=<image>). */
  unpack(name: string, want: Platform, line: number): Promise<UnpackedImage> {
    const key = `${name} ${formatPlatform(want)}`;
    let known = this.#unpacked.get(key);
    if (!known) {
      known = this.#unpackNow(name, want, line);
      this.#unpacked.set(key, known);
    }
    return known;
  }

  async #unpackNow(name: string, want: Platform, line: number): Promise<UnpackedImage> {
    const { layout, io, addScratch } = this.#options;
    const image = await this.pull(name, want, line);
    const made = tempPathIn(layout.dir, 'from');
    addScratch(made);
    await makeDirectories(made);
    const root = await realpath(made);
    const recorded = await materializeLayersInWorker(root, image.layers, layerOpener(layout), io);
    return { root, recorded };
  }
}

/**
 * Where stage `index` starts on this platform: an earlier stage it names, scratch, or a base image
 * pulled for the stage's platform (its `--platform`, else the one being built), with the image's
 * platform set to that.
 */
export async function stageBase(ctx: PlatformContext, index: number): Promise<StageState> {
  const { from, body } = ctx.stages[index]!;
  const source = stageSource(ctx, index);
  const platformFlag = flagValue(from, 'platform');
  const stagePlatform = normalizePlatform(platformFlag ? parsePlatform(ctx.substitute(platformFlag, ctx.args.global, from.line)) : ctx.platform);
  // A RUN will need the base unpacked: its bottom layer (most of a distribution's base) is unpacked as it arrives.
  const unpackBottom = source.kind === 'image' && body.some((i) => i.keyword === 'RUN') ? () => unpackerWhilePulled(ctx) : undefined;
  const state =
    source.kind === 'stage'
      ? (await ctx.buildStage(source.index)).derive()
      : source.kind === 'scratch' || source.kind === 'directory'
        ? StageState.scratch() // a directory context's files are its first layer (build.ts)
        : await ctx.bases.pull(source.name, stagePlatform, from.line, unpackBottom);
  state.setPlatform(stagePlatform);
  return state;
}

/** What a stage's FROM names: an earlier stage, scratch, a directory given with --build-context, or an image (its name with variables substituted). */
export type StageSource =
  | { readonly kind: 'stage'; readonly index: number }
  | { readonly kind: 'scratch' }
  | { readonly kind: 'directory'; readonly name: string; readonly directory: DirectoryContext }
  | { readonly kind: 'image'; readonly name: string };

export function stageSource(ctx: PlatformContext, index: number): StageSource {
  const { from } = ctx.stages[index]!;
  const name = ctx.substitute(from.args[0] ?? '', ctx.args.global, from.line);
  const earlier = ctx.stages.findIndex((s, i) => i < index && s.name === name.toLowerCase());
  if (earlier >= 0) return { kind: 'stage', index: earlier };
  if (name === 'scratch') return { kind: 'scratch' };
  const directory = ctx.named.directory(name);
  return directory ? { kind: 'directory', name, directory } : { kind: 'image', name };
}

/** The base's ONBUILD triggers, to run first as docker does (they are cleared from the new image). */
export function onbuildTriggers(state: StageState, stage: Stage, file: string): Instruction[] {
  return state.takeOnBuild().map((trigger) => {
    const [, parsed] = parseDockerfile(`FROM scratch\n${trigger}`, file).instructions;
    if (!parsed || parsed.keyword === 'FROM' || parsed.keyword === 'ONBUILD') throw badDockerfile(file, stage.from.line, `the base's ONBUILD ${JSON.stringify(trigger)} is not a trigger docker allows`);
    return { ...parsed, line: stage.from.line };
  });
}
