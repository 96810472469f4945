// A list of layers made into one directory tree: the filesystem a stage's steps run in, an image
// COPY --from reads, the root `polyarch run` starts. Each layer is applied in order (extract.ts)
// and the modes and owners its headers gave are set right after it, before the next layer can turn
// one of its parents into a link (set later, they could land on another file). Files keep their
// layers' modification times, as containerd's unpack leaves them: a program in the root sees the
// image's times, not the unpack's (Python takes a .py newer than its .pyc as changed and writes
// the .pyc again, into the step's layer; make rebuilds what looks newer).
import { realpath } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { applyDirectoryTimes, applyLayer, applyRecordedFacts, type RecordedFacts } from './extract.js';
import type { LayerPathEntry } from './scan.js';

/** What applying a layer needs to know of it: how it is compressed, and a name for messages. */
export interface LayerToApply {
  readonly mediaType: string;
  readonly digest: string;
}

export interface MaterializeOptions<L extends LayerToApply = LayerToApply> {
  /** Gathers every written path's header facts, later layers winning; paths are relative to the root's real path. */
  readonly recorded?: RecordedFacts;
  /** Given each layer's path list (scan.ts's pathsOfLayer), read from its headers as it was applied. */
  readonly onLayerPaths?: (layer: L, paths: [string, LayerPathEntry][]) => Promise<void>;
  readonly signal?: AbortSignal;
}

/**
 * Applies `layers` in order onto `root` (which must exist; it may already hold lower layers) and
 * returns the facts the layers recorded. A hostile layer fails with LAYOUT_INVALID and never
 * writes outside `root`.
 */
export async function materializeLayers<L extends LayerToApply>(root: string, layers: readonly L[], open: (layer: L) => Promise<Readable>, options: MaterializeOptions<L> = {}): Promise<RecordedFacts> {
  const recorded = options.recorded ?? new Map();
  const dir = await realpath(root);
  for (const layer of layers) {
    options.signal?.throwIfAborted();
    const record: RecordedFacts = new Map();
    const paths: [string, LayerPathEntry][] | undefined = options.onLayerPaths ? [] : undefined;
    const times = new Map<string, Date>();
    await applyLayer(dir, await open(layer), { mediaType: layer.mediaType, source: layer.digest, record, times, ...(paths ? { paths } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    if (paths) await options.onLayerPaths!(layer, paths);
    await applyRecordedFacts(dir, record, options.signal ? { signal: options.signal } : {});
    // Last: every entry of the layer is in its directory by now, and modes and owners leave times alone.
    applyDirectoryTimes(times);
    for (const [path, facts] of record) recorded.set(path, facts);
  }
  return recorded;
}
