// The listings behind the web pages and the JSON API (`/api/repositories`, `/api/tags`): pages of
// repositories and of their tags, and for each tag its platform matrix and referrer count (kept per
// repository by repository-summaries.ts).
// Stored manifests and configs are hostile input: any of them may be of the wrong shape, not
// JSON, or gone (stored by an older version, or written to disk by hand). Each field is read
// with its type checked, and a row that cannot be read is shown as unknown instead of failing
// the whole listing.
import { isDigest, type Digest } from '../../digest/digest.js';
import { isImageManifest, isIndex } from '../../mediatype/mediatype.js';
import type { RegistryStorage } from '../storage.js';
import type { TagEntry } from './repository-summaries.js';

export interface PlatformRow {
  readonly platform: string;
  readonly digest: string;
  /** Config and layers, compressed; absent when a stored size is not a non-negative integer. */
  readonly size?: number;
  readonly created?: string;
  readonly attestation?: boolean;
}

export interface TagSummary {
  readonly tag: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly kind: 'index' | 'image' | 'other';
  readonly platforms: readonly PlatformRow[];
  readonly referrers: number;
  /** When the tag was last set (ms since the epoch). */
  readonly updated: number;
}

type Json = Record<string, unknown>;

/** Configs above this are not read for the page (a config is a few kB). */
const MAX_CONFIG_READ = 1 << 20;
/** Rows shown for one index (real ones have a few dozen; a crafted one could list thousands). */
const MAX_INDEX_ROWS = 1000;

function asObject(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function asSize(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function parseObject(bytes: Buffer): Json | undefined {
  try {
    return asObject(JSON.parse(bytes.toString('utf8')));
  } catch {
    return undefined;
  }
}

/** A stored manifest's JSON body, or undefined when it is missing, unreadable or not an object. */
async function readManifest(storage: RegistryStorage, repo: string, digest: Digest): Promise<{ body: Json | undefined; mediaType: string } | undefined> {
  const found = await storage.manifestOf(repo, digest).catch(() => undefined);
  return found && { body: parseObject(found.bytes), mediaType: found.mediaType };
}

/** Sum of the config's and layers' sizes, unless one of them is not a size. */
function totalSize(body: Json): number | undefined {
  const parts = [body.config, ...(Array.isArray(body.layers) ? body.layers : [undefined])].map((d) => asSize(asObject(d)?.size));
  if (parts.some((p) => p === undefined)) return undefined;
  const sum = (parts as number[]).reduce((a, b) => a + b, 0);
  return Number.isSafeInteger(sum) ? sum : undefined;
}

function platformText(p: Json | undefined): string {
  const os = asString(p?.os);
  if (!os) return 'unknown';
  const variant = asString(p?.variant);
  return `${os}/${asString(p?.architecture) ?? '?'}${variant ? `/${variant}` : ''}`;
}

async function imageRow(storage: RegistryStorage, repo: string, digestValue: unknown, declared?: { platform?: Json; annotations?: Json }): Promise<PlatformRow> {
  const digest = typeof digestValue === 'string' && isDigest(digestValue) ? digestValue : undefined;
  const shown = typeof digestValue === 'string' ? digestValue : '';
  const attestation = asString(declared?.annotations?.['vnd.docker.reference.type']) === 'attestation-manifest';
  const body = digest && (await readManifest(storage, repo, digest))?.body;
  let config: Json | undefined;
  const configDescriptor = asObject(body?.config);
  const configDigest = asString(configDescriptor?.digest);
  const configSize = asSize(configDescriptor?.size);
  if (configDigest && isDigest(configDigest) && configSize !== undefined && configSize < MAX_CONFIG_READ) {
    const bytes = await storage.blobs.readSmall(configDigest, 'config', { maxBytes: MAX_CONFIG_READ }).catch(() => undefined);
    config = bytes && parseObject(bytes);
  }
  const created = asString(config?.created);
  const size = body ? totalSize(body) : undefined;
  return {
    platform: platformText(declared ? declared.platform : config),
    digest: shown,
    ...(size !== undefined ? { size } : {}),
    ...(created !== undefined ? { created } : {}),
    ...(attestation ? { attestation } : {}),
  };
}

/** What the page shows of the manifest a tag points at: its kind and platform matrix. */
export interface TagDescription {
  readonly mediaType: string;
  readonly kind: 'index' | 'image' | 'other';
  readonly platforms: readonly PlatformRow[];
}

/** Describes the stored manifest `digest`; one that cannot be read is described as unknown, never thrown. */
export async function describeTag(storage: RegistryStorage, name: string, digest: Digest): Promise<TagDescription> {
  try {
    const found = await readManifest(storage, name, digest);
    const mediaType = found?.mediaType ?? 'unknown';
    if (!found?.body) return { mediaType, kind: 'other', platforms: [{ platform: 'unknown', digest }] };
    if (isIndex(mediaType)) {
      const entries = Array.isArray(found.body.manifests) ? found.body.manifests.slice(0, MAX_INDEX_ROWS) : [];
      const platforms: PlatformRow[] = [];
      for (const m of entries) {
        const entry = asObject(m);
        const annotations = asObject(entry?.annotations);
        platforms.push(await imageRow(storage, name, entry?.digest, { platform: asObject(entry?.platform) ?? {}, ...(annotations ? { annotations } : {}) }));
      }
      return { mediaType, kind: 'index', platforms };
    }
    if (isImageManifest(mediaType)) return { mediaType, kind: 'image', platforms: [await imageRow(storage, name, digest)] };
    return { mediaType, kind: 'other', platforms: [] };
  } catch {
    // One unreadable tag is shown as unknown; it never hides the others.
    return { mediaType: 'unknown', kind: 'other', platforms: [{ platform: 'unknown', digest: '' }] };
  }
}

/** A manifest that names another as its subject, as the referrers API lists it. */
export interface ReferrerRow {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  /** The manifest's artifactType, else (for an image manifest) its config's media type. */
  readonly artifactType?: string;
}

/** The subject a stored manifest names and its row as a referrer, if it is a readable object that names one. */
export async function referrerOf(storage: RegistryStorage, name: string, digest: Digest): Promise<{ subject: Digest; row: ReferrerRow } | undefined> {
  const found = await storage.manifestOf(name, digest).catch(() => undefined);
  const body = found && parseObject(found.bytes);
  const subject = asString(asObject(body?.subject)?.digest);
  if (!found || !body || subject === undefined || !isDigest(subject)) return undefined;
  const artifactType = asString(body.artifactType) ?? (isImageManifest(found.mediaType) ? asString(asObject(body.config)?.mediaType) : undefined);
  return { subject, row: { digest, mediaType: found.mediaType, size: found.bytes.length, ...(artifactType !== undefined ? { artifactType } : {}) } };
}

/** Paging asked for in a query: `page` from 1, `per_page` from 1 to `max`. */
export interface PageRequest {
  readonly page: number;
  readonly perPage: number;
}

export interface RepositoryPage {
  /** Repositories matching the search, on every page. */
  readonly total: number;
  readonly page: number;
  readonly perPage: number;
  readonly repositories: readonly { readonly name: string; readonly tagCount: number; readonly tags: readonly TagSummary[] }[];
}

export interface TagPage {
  readonly name: string;
  readonly total: number;
  readonly page: number;
  readonly perPage: number;
  readonly tags: readonly TagSummary[];
}

function summaryOf(entry: TagEntry, subjects: ReadonlyMap<string, readonly ReferrerRow[]>): TagSummary {
  return { tag: entry.tag, digest: entry.digest, updated: entry.updated, ...entry.description, referrers: subjects.get(entry.digest)?.length ?? 0 };
}

function slice<T>(items: readonly T[], request: PageRequest): readonly T[] {
  return items.slice((request.page - 1) * request.perPage, request.page * request.perPage);
}

/**
 * One page of repositories whose name contains `search` (case-insensitive), each with its first
 * `tagsPerRepository` tags, newest first. Reads one summary per repository on the page, whatever
 * the registry's size.
 */
export async function repositoryPage(storage: RegistryStorage, search: string, request: PageRequest, tagsPerRepository: number): Promise<RepositoryPage> {
  const needle = search.toLowerCase();
  // The index kept on write: with no search nothing but the page is touched; a search is one pass over names in memory.
  const all = await storage.repositories();
  const names = needle === '' ? all : all.filter((n) => n.includes(needle));
  // The page's repositories at once: their reads overlap (at most per_page, 100, of them).
  const repositories = await Promise.all(
    slice(names, request).map(async (name) => {
      const data = await storage.summaries.read(name, (d) => d.tags.slice(0, tagsPerRepository));
      return { name, tagCount: data.tags.length, tags: data.tags.slice(0, tagsPerRepository).map((t) => summaryOf(t, data.subjects)) };
    }),
  );
  return { total: names.length, page: request.page, perPage: request.perPage, repositories };
}

/** One page of a repository's tags, newest first. */
export async function tagPage(storage: RegistryStorage, name: string, request: PageRequest): Promise<TagPage> {
  const data = await storage.summaries.read(name, (d) => slice(d.tags, request));
  return { name, total: data.tags.length, page: request.page, perPage: request.perPage, tags: slice(data.tags, request).map((t) => summaryOf(t, data.subjects)) };
}
