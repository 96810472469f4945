// What the tag page shows: the manifest a tag points at, its platform matrix, and for each image
// its config (entrypoint, cmd, env, user, ports, labels), layers, history and referrers.
// Reads only that tag's manifests and configs, each with a size cap, and keeps only bounded,
// clipped values of them: a crafted config of a megabyte of labels costs one capped read and a
// few kilobytes of page. A part that cannot be read becomes a message on the page, never a failure.
import { isDigest, type Digest } from '../../digest/digest.js';
import { isImageManifest, isIndex } from '../../mediatype/mediatype.js';
import type { RegistryStorage } from '../storage.js';
import type { ReferrerRow } from './api.js';
import { clip } from './html.js';

/** Configs above this are not read (real ones are a few kB). */
export const MAX_CONFIG_BYTES = 1 << 20;
/** Index entries shown in the matrix and described below it. */
export const MAX_IMAGES = 64;
/** Items kept of each list (env, labels, ports, layers, history lines, referrers, argv). */
export const MAX_ITEMS = 100;
/** Characters kept of each value. */
export const MAX_VALUE = 1000;

/** A bounded list: the items kept and how many more there were. */
export interface Listed<T> {
  readonly items: readonly T[];
  readonly omitted: number;
}

export interface LayerRow {
  readonly digest: string;
  readonly mediaType: string;
  readonly size?: number;
}

export interface HistoryRow {
  readonly createdBy: string;
  readonly created?: string;
  readonly emptyLayer: boolean;
}

export interface ConfigDetail {
  readonly created?: string;
  readonly entrypoint?: Listed<string>;
  readonly cmd?: Listed<string>;
  readonly env: Listed<string>;
  readonly user?: string;
  readonly workingDir?: string;
  readonly exposedPorts: Listed<string>;
  readonly labels: Listed<readonly [string, string]>;
  readonly history: Listed<HistoryRow>;
}

export interface ImageDetail {
  readonly digest: string;
  readonly platform: string;
  /** A BuildKit attestation manifest (its entry names the image it is about). */
  readonly attestationFor?: string;
  readonly mediaType?: string;
  /** Config and layers, compressed. */
  readonly size?: number;
  readonly layers: Listed<LayerRow>;
  readonly config?: ConfigDetail;
  /** Why the manifest or config is not shown, in one line. */
  readonly problem?: string;
  readonly referrers: Listed<ReferrerRow>;
}

export interface TagDetail {
  readonly repository: string;
  readonly tag: string;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly kind: 'index' | 'image' | 'other';
  readonly images: Listed<ImageDetail>;
  readonly referrers: Listed<ReferrerRow>;
  readonly problem?: string;
}

type Json = Record<string, unknown>;

const asObject = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const asSize = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
const text = (v: unknown): string | undefined => (typeof v === 'string' ? clip(v, MAX_VALUE) : undefined);

function bounded<T>(items: readonly T[], max = MAX_ITEMS): Listed<T> {
  return { items: items.slice(0, max), omitted: Math.max(0, items.length - max) };
}

/** Only the strings of an array (kept clipped); undefined when it is not an array. */
function strings(v: unknown): Listed<string> | undefined {
  if (!Array.isArray(v)) return undefined;
  const kept = bounded(v);
  return { items: kept.items.map((x) => (typeof x === 'string' ? clip(x, MAX_VALUE) : '(not a string)')), omitted: kept.omitted };
}

function parseObject(bytes: Buffer): Json | undefined {
  try {
    return asObject(JSON.parse(bytes.toString('utf8')));
  } catch {
    return undefined;
  }
}

function platformText(p: Json | undefined): string {
  const os = asString(p?.os);
  if (!os) return 'unknown';
  const variant = asString(p?.variant);
  return clip(`${os}/${asString(p?.architecture) ?? '?'}${variant ? `/${variant}` : ''}`, 200);
}

function configDetail(config: Json): ConfigDetail {
  const inner = asObject(config.config) ?? {};
  const entries = (o: Json | undefined): [string, unknown][] => (o ? Object.entries(o) : []);
  const labels = bounded(entries(asObject(inner.Labels)));
  const ports = bounded(entries(asObject(inner.ExposedPorts)).map(([port]) => clip(port, 100)));
  const history = Array.isArray(config.history) ? config.history : [];
  const kept = bounded(history);
  const created = text(config.created);
  const entrypoint = strings(inner.Entrypoint);
  const cmd = strings(inner.Cmd);
  const user = text(inner.User);
  const workingDir = text(inner.WorkingDir);
  return {
    ...(created !== undefined ? { created } : {}),
    ...(entrypoint ? { entrypoint } : {}),
    ...(cmd ? { cmd } : {}),
    env: strings(inner.Env) ?? { items: [], omitted: 0 },
    ...(user ? { user } : {}),
    ...(workingDir ? { workingDir } : {}),
    exposedPorts: ports,
    labels: { items: labels.items.map(([k, v]) => [clip(k, 200), typeof v === 'string' ? clip(v, MAX_VALUE) : '(not a string)'] as const), omitted: labels.omitted },
    history: {
      items: kept.items.map((h) => {
        const row = asObject(h);
        const createdAt = text(row?.created);
        return { createdBy: text(row?.created_by) ?? text(row?.comment) ?? '', ...(createdAt !== undefined ? { created: createdAt } : {}), emptyLayer: row?.empty_layer === true };
      }),
      omitted: kept.omitted,
    },
  };
}

function sizeText(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/** The config of an image manifest, or the one-line reason it is not shown. */
async function readConfig(storage: RegistryStorage, body: Json): Promise<{ config?: ConfigDetail; platform?: string; problem?: string }> {
  const descriptor = asObject(body.config);
  const digest = asString(descriptor?.digest);
  if (!digest || !isDigest(digest)) return { problem: 'the manifest names no valid config digest' };
  const declared = asSize(descriptor?.size);
  if (declared !== undefined && declared > MAX_CONFIG_BYTES) return { problem: `the config is ${sizeText(declared)}, more than the ${sizeText(MAX_CONFIG_BYTES)} this page reads` };
  let bytes: Buffer;
  try {
    bytes = await storage.blobs.readSmall(digest, 'config', { maxBytes: MAX_CONFIG_BYTES, code: 'BLOB_UNKNOWN' });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'BLOB_UNKNOWN') return { problem: 'the config blob is not stored' };
    if (code === 'MANIFEST_INVALID') return { problem: `the config is more than the ${sizeText(MAX_CONFIG_BYTES)} this page reads` };
    if (code === 'DIGEST_MISMATCH' || code === 'SIZE_MISMATCH') return { problem: 'the stored config does not match its digest' };
    return { problem: 'the config cannot be read' };
  }
  const config = parseObject(bytes);
  return config ? { config: configDetail(config), platform: platformText(config) } : { problem: 'the config is not a JSON object' };
}

async function readManifest(storage: RegistryStorage, repo: string, digest: Digest): Promise<{ body?: Json; mediaType: string } | undefined> {
  const found = await storage.manifestOf(repo, digest).catch(() => undefined);
  if (!found) return undefined;
  const body = parseObject(found.bytes);
  return body ? { body, mediaType: found.mediaType } : { mediaType: found.mediaType };
}

function layersOf(body: Json): Listed<LayerRow> {
  const kept = bounded(Array.isArray(body.layers) ? body.layers : []);
  return {
    items: kept.items.map((l) => {
      const layer = asObject(l);
      const size = asSize(layer?.size);
      return { digest: text(layer?.digest) ?? '', mediaType: text(layer?.mediaType) ?? '', ...(size !== undefined ? { size } : {}) };
    }),
    omitted: kept.omitted,
  };
}

function totalSize(body: Json): number | undefined {
  const parts = [body.config, ...(Array.isArray(body.layers) ? body.layers : [undefined])].map((d) => asSize(asObject(d)?.size));
  if (parts.some((p) => p === undefined)) return undefined;
  const sum = (parts as number[]).reduce((a, b) => a + b, 0);
  return Number.isSafeInteger(sum) ? sum : undefined;
}

async function imageDetail(
  storage: RegistryStorage,
  repo: string,
  digestValue: unknown,
  referrers: ReadonlyMap<string, readonly ReferrerRow[]>,
  entry?: Json,
): Promise<ImageDetail> {
  const digest = typeof digestValue === 'string' && isDigest(digestValue) ? digestValue : undefined;
  const annotations = asObject(entry?.annotations);
  const about = asString(annotations?.['vnd.docker.reference.digest']);
  const attestation = asString(annotations?.['vnd.docker.reference.type']) === 'attestation-manifest';
  const base = {
    digest: text(digestValue) ?? '',
    referrers: bounded((digest && referrers.get(digest)) || []),
    ...(attestation ? { attestationFor: about !== undefined && isDigest(about) ? about : 'an unnamed image' } : {}),
  };
  const none: Listed<LayerRow> = { items: [], omitted: 0 };
  if (!digest) return { ...base, platform: platformText(asObject(entry?.platform)), layers: none, problem: 'the entry names no valid digest' };
  const found = await readManifest(storage, repo, digest);
  const declared = entry ? platformText(asObject(entry.platform)) : undefined;
  if (!found) return { ...base, platform: declared ?? 'unknown', layers: none, problem: 'the manifest is not stored' };
  if (!found.body) return { ...base, platform: declared ?? 'unknown', mediaType: clip(found.mediaType, 200), layers: none, problem: 'the manifest is not a JSON object' };
  const size = totalSize(found.body);
  const { config, platform, problem } = await readConfig(storage, found.body);
  return {
    ...base,
    // The platform an index declares is what a client selects by; a lone image's comes from its config.
    platform: declared ?? platform ?? 'unknown',
    mediaType: clip(found.mediaType, 200),
    ...(size !== undefined ? { size } : {}),
    layers: layersOf(found.body),
    ...(config ? { config } : {}),
    ...(problem ? { problem } : {}),
  };
}

/** The tag page's data; undefined when the tag does not exist. */
export async function readTagDetail(storage: RegistryStorage, repository: string, tag: string): Promise<TagDetail | undefined> {
  const digest = await storage.resolve(repository, tag);
  if (!digest) return undefined;
  const { subjects } = await storage.summaries.read(repository);
  const top = { repository, tag, digest, referrers: bounded(subjects.get(digest) ?? []) };
  const found = await readManifest(storage, repository, digest);
  const none: Listed<ImageDetail> = { items: [], omitted: 0 };
  if (!found) return { ...top, mediaType: 'unknown', kind: 'other', images: none, problem: 'the manifest is not stored' };
  const mediaType = clip(found.mediaType, 200);
  if (!found.body) return { ...top, mediaType, kind: 'other', images: none, problem: 'the manifest is not a JSON object' };
  if (isIndex(found.mediaType)) {
    if (!Array.isArray(found.body.manifests)) return { ...top, mediaType, kind: 'index', images: none, problem: `the index's manifests field is not a list` };
    const entries = found.body.manifests;
    const kept = bounded(entries, MAX_IMAGES);
    const images: ImageDetail[] = [];
    // One at a time: at most one capped config is in memory at once.
    for (const e of kept.items) images.push(await imageDetail(storage, repository, asObject(e)?.digest, subjects, asObject(e) ?? {}));
    return { ...top, mediaType, kind: 'index', images: { items: images, omitted: kept.omitted } };
  }
  if (isImageManifest(found.mediaType)) return { ...top, mediaType, kind: 'image', images: { items: [await imageDetail(storage, repository, digest, new Map())], omitted: 0 } };
  return { ...top, mediaType, kind: 'other', images: none, problem: `the manifest's media type is neither an image nor an index` };
}
