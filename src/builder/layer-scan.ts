// What a stage's filesystem already holds, read from its layers' tar headers: one file's text
// (for `--chown` names), the directories with their modes and owners (so a COPY's parent
// directories keep what the base gave them, /tmp's 1777 included) and the symbolic links (so a
// COPY into `/bin/` on a base whose /bin links to usr/bin lands in /usr/bin, as in BuildKit). The
// tar reading is layer/'s; this file opens the layers from the build's store and caches each
// layer's directory list there, or keeps the one a layer's unpacking read from the same headers.
import { join } from 'node:path';
import { access, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Descriptor } from '../image/descriptor.js';
import type { OciLayout } from '../store/oci-layout.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { fileFromLayers as fileFromLayerStreams, pathsOfLayer, type LayerPathEntry, type PathFacts } from '../layer/scan.js';

export type { PathFacts };

/** Opens layers of the build's store: one this build pulled was checked then and is not hashed again. */
export function layerOpener(layout: OciLayout): (layer: Descriptor) => Promise<Readable> {
  return (layer) => layout.openBlob(layer, { trustOwnWrites: true });
}

/** One file's text from the newest layer that has it, or undefined. Files over 1 MiB are skipped. */
export function fileFromLayers(layout: OciLayout, layers: readonly Descriptor[], path: string): Promise<string | undefined> {
  return fileFromLayerStreams(layerOpener(layout), layers, path);
}

/**
 * The paths known so far, with an index of each path's children (ancestors the layers never named
 * included), so forgetting a subtree costs its size: a Debian base has thousands of links, and a
 * scan of every known path per link made warm builds spend most of their time here.
 */
export class KnownPaths {
  readonly facts: Map<string, PathFacts>;
  readonly #children: Map<string, Set<string>>;
  /** The sets of #children this copy made; the others it shares with the one it was copied from, and copies before it adds to one. */
  readonly #own = new WeakSet<Set<string>>();

  constructor(from?: { readonly facts: Map<string, PathFacts>; readonly children: Map<string, Set<string>> }) {
    this.facts = new Map(from?.facts);
    this.#children = new Map(from?.children);
  }

  /** A copy that changes apart from this one (forget only drops entries; set copies a shared set first). */
  clone(): KnownPaths {
    return new KnownPaths({ facts: this.facts, children: this.#children });
  }

  set(path: string, facts: PathFacts): void {
    this.facts.set(path, facts);
    for (let child = path, slash = child.lastIndexOf('/'); slash > 0; child = child.slice(0, slash), slash = child.lastIndexOf('/')) {
      const parent = child.slice(0, slash);
      let children = this.#children.get(parent);
      if (children?.has(child)) break; // its ancestors are indexed already
      if (!children || !this.#own.has(children)) {
        children = new Set(children);
        this.#own.add(children);
        this.#children.set(parent, children);
      }
      children.add(child);
    }
  }

  /** Forgets `path`'s descendants (and `path` itself unless `keepSelf`; '' is the root). */
  forget(path: string, keepSelf: boolean): void {
    if (path === '') {
      this.facts.clear();
      this.#children.clear();
      return;
    }
    if (!keepSelf) this.facts.delete(path);
    const below = [...(this.#children.get(path) ?? [])];
    this.#children.delete(path);
    for (let next = below.pop(); next !== undefined; next = below.pop()) {
      this.facts.delete(next);
      below.push(...(this.#children.get(next) ?? []));
      this.#children.delete(next);
    }
  }
}

/** Where the build cache keeps a layer's path list (pathsOfLayer), by its digest. */
function pathsFile(layout: OciLayout, layer: Descriptor): string {
  return join(layout.dir, 'polyarch-dir-cache', `${layer.digest.replace(':', '-')}.paths-v2`);
}

/**
 * Keeps each layer's path list as unpacking reads it (materializeLayers' onLayerPaths), so that no
 * COPY reads the layer again for it (a Debian root's scan is a read of 385 MB). One already kept is
 * left as it is.
 */
export function layerPathsKeeper(layout: OciLayout): (layer: Descriptor, paths: [string, LayerPathEntry][]) => Promise<void> {
  return async (layer, paths) => {
    if (!(await layerPathsKept(layout, [layer]))) await keepPaths(layout, layer, paths);
  };
}

/** Writes a layer's path list where pathsFile says (keptList reads it back). */
function keepPaths(layout: OciLayout, layer: Descriptor, paths: [string, LayerPathEntry][]): Promise<void> {
  return writeFileAtomic(pathsFile(layout, layer), Buffer.from(JSON.stringify(paths)));
}

/** Whether every one of `layers` has its path list kept. */
export async function layerPathsKept(layout: OciLayout, layers: readonly Descriptor[]): Promise<boolean> {
  const kept = await Promise.all(layers.map((layer) => access(pathsFile(layout, layer)).then(() => true, () => false)));
  return kept.every(Boolean);
}

/** Whether `item` is one entry of a path list as pathsOfLayer makes it. */
function isPathListEntry(item: unknown): item is [string, LayerPathEntry] {
  if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== 'string') return false;
  const entry = item[1] as Record<string, unknown> | null;
  if (typeof entry !== 'object' || entry === null) return false;
  const id = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
  switch (entry.type) {
    case 'directory':
      return id(entry.mode) && (entry.mode as number) <= 0o7777 && id(entry.uid) && id(entry.gid);
    case 'symlink':
      return typeof entry.target === 'string';
    case 'whiteout':
    case 'opaque':
      return true;
    default:
      return false;
  }
}

/** A kept list's text as pathsOfLayer's list, or undefined when it holds anything else: the layer is then read again. */
function keptList(text: string): [string, LayerPathEntry][] | undefined {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return undefined;
  }
  return Array.isArray(list) && list.every(isPathListEntry) ? list : undefined;
}

/**
 * Every directory and symbolic link `layers` leave over `below` (left as it was), the newest
 * layer's word winning and what a layer deletes (whiteouts, opaque directories) forgotten; each
 * layer's list is cached by digest.
 */
export async function pathsOf(layout: OciLayout, layers: readonly Descriptor[], below?: KnownPaths): Promise<KnownPaths> {
  const all = below?.clone() ?? new KnownPaths();
  for (const layer of layers) {
    let paths = await readFile(pathsFile(layout, layer), 'utf8').then(keptList, () => undefined);
    if (!paths) {
      paths = await pathsOfLayer(await layerOpener(layout)(layer), layer);
      await keepPaths(layout, layer, paths);
    }
    // Deletions act on the layers below, whatever their place in this layer's tar; then its own entries.
    for (const [name, entry] of paths) {
      if (entry.type === 'whiteout') all.forget(name, false);
      else if (entry.type === 'opaque') all.forget(name, true);
    }
    for (const [name, entry] of paths) {
      if (entry.type === 'directory' || entry.type === 'symlink') {
        // A link replacing a directory hides what was below it.
        if (entry.type === 'symlink') all.forget(name, true);
        all.set(name, entry);
      }
    }
  }
  return all;
}
