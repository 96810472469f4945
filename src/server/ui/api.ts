// The JSON the web page renders: repositories, tags, and for each tag its platform matrix.
// Stored manifests and configs are hostile input: any of them may be of the wrong shape, not
// JSON, or gone (stored by an older version, or written to disk by hand). Each field is read
// with its type checked, and a row that cannot be read is shown as unknown instead of failing
// the whole listing.
import { isDigest, type Digest } from '../../digest/digest.js';
import { isImageManifest, isIndex } from '../../mediatype/mediatype.js';
import type { RegistryStorage } from '../storage.js';

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
}

export interface RepositorySummary {
  readonly name: string;
  readonly tags: readonly TagSummary[];
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

async function tagSummary(storage: RegistryStorage, name: string, tag: string, subjects: ReadonlyMap<string, number>): Promise<TagSummary | undefined> {
  const digest = await storage.resolve(name, tag).catch(() => undefined);
  if (!digest) return undefined;
  const found = await readManifest(storage, name, digest);
  const mediaType = found?.mediaType ?? 'unknown';
  const base = { tag, digest, mediaType, referrers: subjects.get(digest) ?? 0 };
  if (!found?.body) return { ...base, kind: 'other', platforms: [{ platform: 'unknown', digest }] };
  if (isIndex(mediaType)) {
    const entries = Array.isArray(found.body.manifests) ? found.body.manifests.slice(0, MAX_INDEX_ROWS) : [];
    const platforms: PlatformRow[] = [];
    for (const m of entries) {
      const entry = asObject(m);
      const annotations = asObject(entry?.annotations);
      platforms.push(await imageRow(storage, name, entry?.digest, { platform: asObject(entry?.platform) ?? {}, ...(annotations ? { annotations } : {}) }));
    }
    return { ...base, kind: 'index', platforms };
  }
  if (isImageManifest(mediaType)) return { ...base, kind: 'image', platforms: [await imageRow(storage, name, digest)] };
  return { ...base, kind: 'other', platforms: [] };
}

export async function listRepositories(storage: RegistryStorage): Promise<RepositorySummary[]> {
  const result: RepositorySummary[] = [];
  for (const name of await storage.repositories()) {
    const tags: TagSummary[] = [];
    const subjects = new Map<string, number>();
    for (const d of await storage.manifestDigests(name).catch(() => [] as Digest[])) {
      const subject = asString(asObject((await readManifest(storage, name, d))?.body?.subject)?.digest);
      if (subject) subjects.set(subject, (subjects.get(subject) ?? 0) + 1);
    }
    for (const tag of await storage.tags(name).catch(() => [] as string[])) {
      // One unreadable tag is shown as unknown; it never hides the others.
      const summary = await tagSummary(storage, name, tag, subjects).catch(() => ({ tag, digest: '', mediaType: 'unknown', kind: 'other' as const, platforms: [{ platform: 'unknown', digest: '' }], referrers: 0 }));
      if (summary) tags.push(summary);
    }
    result.push({ name, tags });
  }
  return result;
}
