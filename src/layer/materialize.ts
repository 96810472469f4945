// A list of layers made into one directory tree: the filesystem a stage's steps run in, an image
// COPY --from reads, the root `polyarch run` starts. Each layer is applied in order (extract.ts)
// and the modes and owners its headers gave are set right after it, before the next layer can turn
// one of its parents into a link (set later, they could land on another file).
import { realpath } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { applyLayer, applyRecordedFacts, type RecordedFacts } from './extract.js';

/** What applying a layer needs to know of it: how it is compressed, and a name for messages. */
export interface LayerToApply {
  readonly mediaType: string;
  readonly digest: string;
}

export interface MaterializeOptions {
  /** Gathers every written path's header facts, later layers winning; paths are relative to the root's real path. */
  readonly recorded?: RecordedFacts;
  readonly signal?: AbortSignal;
}

/**
 * Applies `layers` in order onto `root` (which must exist; it may already hold lower layers) and
 * returns the facts the layers recorded. A hostile layer fails with LAYOUT_INVALID and never
 * writes outside `root`.
 */
export async function materializeLayers<L extends LayerToApply>(root: string, layers: readonly L[], open: (layer: L) => Promise<Readable>, options: MaterializeOptions = {}): Promise<RecordedFacts> {
  const recorded = options.recorded ?? new Map();
  const dir = await realpath(root);
  for (const layer of layers) {
    options.signal?.throwIfAborted();
    const record: RecordedFacts = new Map();
    await applyLayer(dir, await open(layer), { mediaType: layer.mediaType, source: layer.digest, record, ...(options.signal ? { signal: options.signal } : {}) });
    await applyRecordedFacts(dir, record, options.signal ? { signal: options.signal } : {});
    for (const [path, facts] of record) recorded.set(path, facts);
  }
  return recorded;
}
