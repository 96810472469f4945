// The JSON the web page renders: repositories, tags, and for each tag its platform matrix.
import type { Digest } from '../../digest/digest.js';
import { isImageManifest, isIndex } from '../../mediatype/mediatype.js';
import type { RegistryStorage } from '../storage.js';

export interface PlatformRow {
  readonly platform: string;
  readonly digest: string;
  /** Config and layers, compressed. */
  readonly size: number;
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

async function imageRow(storage: RegistryStorage, repo: string, digest: Digest, declared?: Json): Promise<PlatformRow> {
  const found = await storage.manifestOf(repo, digest);
  const body = found ? (JSON.parse(found.bytes.toString('utf8')) as { config?: { digest?: string; size?: number }; layers?: { size?: number }[] }) : {};
  let config: Json = {};
  if (body.config?.digest && (body.config.size ?? 0) < 1 << 20) {
    config = JSON.parse((await storage.blobs.readSmall(body.config.digest as Digest, 'config').catch(() => Buffer.from('{}'))).toString('utf8')) as Json;
  }
  const p = (declared ?? config) as { os?: string; architecture?: string; variant?: string };
  const annotations = (declared?.annotations ?? {}) as Record<string, string>;
  const attestation = annotations['vnd.docker.reference.type'] === 'attestation-manifest';
  return {
    platform: p.os ? `${p.os}/${p.architecture ?? '?'}${p.variant ? `/${p.variant}` : ''}` : 'unknown',
    digest,
    size: (body.config?.size ?? 0) + (body.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0),
    ...(typeof config.created === 'string' ? { created: config.created } : {}),
    ...(attestation ? { attestation } : {}),
  };
}

export async function listRepositories(storage: RegistryStorage): Promise<RepositorySummary[]> {
  const result: RepositorySummary[] = [];
  for (const name of await storage.repositories()) {
    const tags: TagSummary[] = [];
    const all = await storage.manifestDigests(name);
    const subjects = new Map<string, number>();
    for (const d of all) {
      const found = await storage.manifestOf(name, d);
      const subject = found && (JSON.parse(found.bytes.toString('utf8')) as { subject?: { digest?: string } }).subject?.digest;
      if (subject) subjects.set(subject, (subjects.get(subject) ?? 0) + 1);
    }
    for (const tag of await storage.tags(name)) {
      const digest = await storage.resolve(name, tag);
      const found = digest && (await storage.manifestOf(name, digest));
      if (!digest || !found) continue;
      let platforms: PlatformRow[] = [];
      let kind: TagSummary['kind'] = 'other';
      if (isIndex(found.mediaType)) {
        kind = 'index';
        const index = JSON.parse(found.bytes.toString('utf8')) as { manifests: (Json & { digest: Digest; platform?: Json })[] };
        platforms = await Promise.all(index.manifests.map((m) => imageRow(storage, name, m.digest, { ...(m.platform ?? {}), annotations: m.annotations })));
      } else if (isImageManifest(found.mediaType)) {
        kind = 'image';
        platforms = [await imageRow(storage, name, digest)];
      }
      tags.push({ tag, digest, mediaType: found.mediaType, kind, platforms, referrers: subjects.get(digest) ?? 0 });
    }
    result.push({ name, tags });
  }
  return result;
}
