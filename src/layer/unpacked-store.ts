// Layers unpacked once, each into a directory of its own, for overlayfs to stack (containerd's
// snapshotter model). A layer's directory depends on the layers below it (a link in a lower layer
// decides where its files land; its whiteouts only mean something above them), so it is named by
// the chain of layer digests up to it, as containerd's chain ids are: stages, platforms and later
// builds with the same layers share it. Layer N is unpacked by applying it (extract.ts, with all
// its rules for hostile archives) onto an overlay of layers 0..N-1 with a fresh upper directory:
// what it deletes becomes overlay whiteouts there, and that upper is layer N's directory. A RUN
// step's upper directory becomes its layer's directory the same way (adopt), without unpacking.
//
// On disk, below the build cache: `polyarch-unpacked/<chain>/fs` (the layer's directory),
// `polyarch-unpacked/<chain>/layer` (the top layer's digest, for prune) and `…/boot`.
//
// Nothing here is synced to disk (an unpack is hundreds of MB; syncing it would cost more than
// the unpack, and overlay mounts are volatile for the same reason), so a directory is trusted only
// within the boot that wrote it: the kernel's boot id is part of the chain's name. After a power
// loss or a crash of the kernel, whatever half-written files a directory holds are never used;
// the layer is unpacked again from its verified blob, and prune removes the old one.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isTempName, tempPathIn } from '../internal/temp-path.js';
import type { LayerToApply, MaterializeOptions } from './materialize.js';
import { mountOverlay, unmountAllUnder } from './overlay-mount.js';
import { layerUnpacker, materializeLayersInWorker, type LayerUnpacker } from './unpack-in-worker.js';
import { makeDirectories } from '../internal/make-directories.js';

export const UNPACKED_DIR = 'polyarch-unpacked';

/** A place to mount a stage root or unpack a layer: upper, work and mount point directories, in the store (so its upper can be adopted by rename). */
export interface Workspace {
  readonly root: string;
  readonly upper: string;
  readonly work: string;
  readonly merged: string;
  /** A second mount point, for the read-only view of the lower layers alone. */
  readonly before: string;
}

/** The name of the directory of the top layer of `digests` (their chain). */
export function chainKey(digests: readonly string[]): string {
  return createHash('sha256').update(digests.join('\n')).digest('hex').slice(0, 32);
}

/** The kernel's id for this boot (a new one after every reboot), or undefined off Linux. */
function currentBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export class UnpackedLayers {
  readonly dir: string;
  /** Whose directories this store trusts: this boot's, or this process's alone where the boot has no id. */
  readonly #boot: string;
  /** Unpacks under way in this process, by chain. */
  readonly #pending = new Map<string, Promise<string>>();

  /** `bootId`: for tests, another boot than the running one. */
  constructor(cacheDir: string, options: { readonly bootId?: string } = {}) {
    this.dir = join(cacheDir, UNPACKED_DIR);
    this.#boot = options.bootId ?? currentBootId() ?? `process ${randomUUID()}`;
  }

  /** The directory name of the top layer of `digests`, in this boot. */
  #keyOf(digests: readonly string[]): string {
    return chainKey([`boot ${this.#boot}`, ...digests]);
  }

  #fsOf(key: string): string {
    return join(this.dir, key, 'fs');
  }

  /** An empty directory: the one lower layer of a stage that has none. */
  async emptyLayer(): Promise<string> {
    const empty = join(this.dir, 'empty');
    await makeDirectories(empty);
    return empty;
  }

  async workspace(): Promise<Workspace> {
    const root = tempPathIn(this.dir, 'step');
    const ws = { root, upper: join(root, 'fs'), work: join(root, 'work'), merged: join(root, 'merged'), before: join(root, 'before') };
    for (const d of [ws.upper, ws.work, ws.merged, ws.before]) await makeDirectories(d);
    return ws;
  }

  /** Removes a workspace, detaching anything still mounted in it first (never deleting through a mount). */
  async discard(ws: Workspace): Promise<void> {
    await unmountAllUnder(ws.root);
    await rm(ws.root, { recursive: true, force: true });
  }

  /**
   * Makes the workspace's upper directory (nothing mounted on it any more) the directory of the
   * top layer of `digests`. Another build that got there first wins; this one's is dropped.
   */
  async adopt(ws: Workspace, digests: readonly string[]): Promise<string> {
    const key = this.#keyOf(digests);
    await unmountAllUnder(ws.root);
    for (const d of [ws.work, ws.merged, ws.before]) await rm(d, { recursive: true, force: true });
    await writeFile(join(ws.root, 'layer'), digests.at(-1) ?? '');
    await writeFile(join(ws.root, 'boot'), this.#boot);
    try {
      await rename(ws.root, join(this.dir, key));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      await rm(ws.root, { recursive: true, force: true });
    }
    return this.#fsOf(key);
  }

  /**
   * The directories of `layers`, topmost first, unpacking those not unpacked yet. Throws when a
   * layer is hostile (LAYOUT_INVALID) or an overlay cannot be mounted.
   */
  async lowers<L extends LayerToApply>(layers: readonly L[], open: (layer: L) => Promise<Readable>, options: Pick<MaterializeOptions<L>, 'signal' | 'onLayerPaths'> = {}): Promise<string[]> {
    const dirs: string[] = [];
    for (let i = 0; i < layers.length; i++) {
      const digests = layers.slice(0, i + 1).map((l) => l.digest);
      const key = this.#keyOf(digests);
      let pending = this.#pending.get(key);
      if (!pending) {
        const below = [...dirs];
        pending = this.#unpack(key, layers[i]!, below, digests, open, options);
        this.#pending.set(key, pending);
        pending.catch(() => this.#pending.delete(key));
      }
      dirs.unshift(await pending);
    }
    return dirs;
  }

  /**
   * Unpacks the bottom layer `layer` from its bytes as a pull copies them into the cache (the tap
   * the copy feeds), so unpacking runs beside the download instead of after it. The directory is
   * adopted only once the tap ends with the blob's digest verified; when that transfer failed,
   * the layer is unpacked from the cache (`open`) after `copied` settles, as `lowers` would have.
   * Undefined when the layer is unpacked, or being unpacked, already: nothing to tap. `done`
   * settles once the tapped unpack has ended and removed its workspace, whichever way.
   */
  unpackWhileCopied<L extends LayerToApply & { readonly size: number }>(layer: L, open: (layer: L) => Promise<Readable>, options: Pick<MaterializeOptions<L>, 'signal' | 'onLayerPaths'>, copied: Promise<unknown>): { take(piece: Buffer): Promise<void>; end(verified: boolean): void; readonly done: Promise<void> } | undefined {
    const digests = [layer.digest];
    const key = this.#keyOf(digests);
    if (this.#pending.has(key) || existsSync(join(this.dir, key, 'layer'))) return undefined;
    const unpack = layerUnpacker(layer.size);
    let bytes = 0;
    let settle!: (whole: boolean) => void;
    const whole = new Promise<boolean>((resolve) => (settle = resolve));
    const tapped = this.#unpackTapped(layer, unpack, whole, options);
    const pending = tapped.then((dir) => dir ?? copied.then(() => this.#unpack(key, layer, [], digests, open, options)));
    this.#pending.set(key, pending);
    pending.catch(() => this.#pending.delete(key));
    return {
      take: (piece) => {
        bytes += piece.length;
        return unpack.take(piece);
      },
      end: (verified) => {
        // Every byte, and the right ones: a transfer the destination skipped handed over none.
        const ok = verified && bytes === layer.size;
        unpack.finish(ok ? undefined : 'the transfer this unpack read from did not complete');
        settle(ok);
      },
      done: tapped.then(
        () => undefined,
        () => undefined,
      ),
    };
  }

  /** The tapped unpack: the layer's directory, or undefined when its bytes did not all arrive verified. */
  async #unpackTapped<L extends LayerToApply>(layer: L, unpack: LayerUnpacker, whole: Promise<boolean>, options: Pick<MaterializeOptions<L>, 'signal' | 'onLayerPaths'>): Promise<string | undefined> {
    let ws: Workspace | undefined;
    const interrupted = (): void => void unpack.stop();
    options.signal?.addEventListener('abort', interrupted, { once: true });
    try {
      options.signal?.throwIfAborted();
      await makeDirectories(this.dir);
      ws = await this.workspace();
      const { paths } = await unpack.begin(ws.upper, layer, options.onLayerPaths !== undefined);
      // The thread is done with the directory before anything moves it.
      await unpack.stop();
      if (!(await whole)) return undefined;
      // A path list is kept under the layer's digest: only once the bytes proved to be that layer's.
      if (paths) await options.onLayerPaths?.(layer, paths);
      const adopted = await this.adopt(ws, [layer.digest]);
      ws = undefined;
      return adopted;
    } catch (error) {
      // Whatever failed, the copy must not wait on a reader that is gone, nor a thread write into a removed directory.
      await unpack.stop();
      options.signal?.throwIfAborted();
      // Verified bytes that fail to unpack are the layer's own fault (or this machine's): said as from the cache.
      if (await whole) throw error;
      return undefined;
    } finally {
      options.signal?.removeEventListener('abort', interrupted);
      if (ws) await this.discard(ws);
    }
  }

  async #unpack<L extends LayerToApply>(key: string, layer: L, below: readonly string[], digests: readonly string[], open: (layer: L) => Promise<Readable>, options: Pick<MaterializeOptions<L>, 'signal' | 'onLayerPaths'>): Promise<string> {
    const done = this.#fsOf(key);
    if (await readFile(join(this.dir, key, 'layer'), 'utf8').then((d) => d === layer.digest, () => false)) return done;
    await makeDirectories(this.dir);
    const ws = await this.workspace();
    try {
      if (below.length === 0) await materializeLayersInWorker(ws.upper, [layer], open, options);
      else {
        const mount = await mountOverlay({ base: this.dir, lowers: below, upper: ws.upper, work: ws.work, merged: ws.merged, ...(options.signal ? { signal: options.signal } : {}) });
        try {
          await materializeLayersInWorker(ws.merged, [layer], open, options);
        } finally {
          await mount.unmount();
        }
      }
      return await this.adopt(ws, digests);
    } finally {
      await this.discard(ws);
    }
  }
}

/**
 * Removes unpacked layers whose layer `keep` says is gone (every one, for prune --all), those an
 * earlier boot made, and what killed builds left in the store. Call only while no build uses the
 * cache: leftover mounts are detached first, so nothing is deleted through one.
 */
export async function pruneUnpacked(cacheDir: string, keep: (digest: string) => boolean, bootId = currentBootId()): Promise<{ layers: number; temps: number }> {
  const dir = join(cacheDir, UNPACKED_DIR);
  await unmountAllUnder(dir);
  let layers = 0;
  let temps = 0;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (isTempName(name)) {
      await rm(join(dir, name), { recursive: true, force: true });
      temps++;
      continue;
    }
    if (!/^[0-9a-f]{32}$/.test(name)) continue;
    const digest = await readFile(join(dir, name, 'layer'), 'utf8').catch(() => '');
    // An earlier boot's directory is never used again (where the boot has no id, none can be told apart).
    const boot = await readFile(join(dir, name, 'boot'), 'utf8').catch(() => '');
    if (digest !== '' && keep(digest) && (bootId === undefined || boot === bootId)) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    layers++;
  }
  return { layers, temps };
}
