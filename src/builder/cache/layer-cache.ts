// The on-disk layer cache: an unchanged COPY (same paths, sizes, modes, owners, source mtimes,
// source date epoch and compression) reuses its layer without reading or compressing anything; an
// unchanged RUN (run-cache.ts makes its key) reuses its layer without running. One key file per
// layer, naming its descriptor and diffID; prune counts the keys as roots.
import { createHash } from 'node:crypto';
import { readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../../digest/digest.js';
import type { Descriptor } from '../../image/descriptor.js';
import { writeFileAtomic } from '../../store/atomic-write.js';
import type { OciLayout } from '../../store/oci-layout.js';
import type { LayerEntry } from '../../layer/writer.js';
import { effectiveLevel, type CompressionOptions } from '../../layer/compression.js';

/** The folder of the layout that holds one key file per cached layer. */
export const LAYER_CACHE_DIR = 'polyarch-layer-cache';

export interface CachedLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
}

function keyOf(entries: readonly LayerEntry[], created: Date, compression: CompressionOptions): string {
  const facts = entries.map((e) => [e.path, e.type, e.size ?? 0, e.mode, e.uid, e.gid, e.contentKey ?? e.source ?? '', e.contentKey ? 0 : (e.mtimeMs ?? 0), e.linkname ?? '', ...(e.xattrs ? [[...e.xattrs].map(([name, value]) => `${name}=${value.toString('base64')}`).sort()] : [])]);
  return createHash('sha256').update(JSON.stringify([2, created.toISOString(), compression.kind, effectiveLevel(compression), facts])).digest('hex');
}

export async function cachedLayer(layout: OciLayout, entries: readonly LayerEntry[], created: Date, compression: CompressionOptions, write: () => Promise<CachedLayer>): Promise<CachedLayer> {
  return cachedLayerByKey(layout, keyOf(entries, created, compression), write);
}

/** The layer stored under `key` (a hex hash), or what `write` makes, then stored under it; with `reuse: false`, always what `write` makes. */
export async function cachedLayerByKey(layout: OciLayout, key: string, write: () => Promise<CachedLayer>, options: { readonly reuse?: boolean } = {}): Promise<CachedLayer> {
  const file = join(layout.dir, LAYER_CACHE_DIR, key);
  const known = options.reuse === false ? undefined : await readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as CachedLayer)
    .catch(() => undefined);
  if (known && (await layout.hasBlob(known.descriptor))) {
    // Used now: prune --keep-storage drops the least recently used keys first.
    const now = new Date();
    await utimes(file, now, now).catch(() => undefined);
    return known;
  }
  const fresh = await write();
  await writeFileAtomic(file, Buffer.from(JSON.stringify({ descriptor: fresh.descriptor, diffId: fresh.diffId })));
  return fresh;
}
