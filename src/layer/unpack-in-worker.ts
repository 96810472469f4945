// Layers unpacked on a worker thread while the main thread reads them. Unpacking is synchronous
// file work (a create, write and close per entry) and reading a layer means hashing it, on the
// main thread: on one thread a base image's download (or its read from the cache) and its unpack
// took turns with a core idle; on two they overlap. The worker runs the same extraction
// (unpack-worker.ts, layer-pieces.ts, extract.ts with all its rules for hostile archives), a layer
// at a time, and is stopped, not waited for, when a read fails or the work is interrupted: its
// caller removes what it wrote once the thread has exited. Small layers are unpacked on the main
// thread the same way: a thread's start (tens of milliseconds) would cost more than it saves.
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { ErrorCode } from '../errors/codes.js';
import type { RecordedFacts } from './extract.js';
import { applyPieces, piecesOfLayer, type LayerPieces, type UnpackedLayer } from './layer-pieces.js';
import { materializeLayers, type LayerToApply, type MaterializeOptions } from './materialize.js';

/** From the main thread: apply a layer onto a root (which exists), a piece of it (its memory moved, not copied), its end, or a failed read. */
export type ToUnpack =
  | { readonly type: 'layer'; readonly root: string; readonly layer: LayerToApply; readonly wantPaths: boolean }
  | { readonly type: 'piece'; readonly bytes: Uint8Array }
  | { readonly type: 'end' }
  | { readonly type: 'fail'; readonly reason: string };

/** From the worker: how many bytes of the layer its reader has taken, or how the layer's unpack ended. */
export type FromUnpack =
  | { readonly type: 'taken'; readonly bytes: number }
  | ({ readonly type: 'done' } & UnpackedLayer)
  | { readonly type: 'failed'; readonly code?: ErrorCode; readonly hint?: string; readonly errno?: string; readonly message: string };

/** Layers (in all) from this size on are unpacked on a worker thread. */
export const WORKER_FROM = 16 * 1024 * 1024;

/** Bytes handed over and not yet taken by the unpack's reader before `take` waits. */
const IN_FLIGHT = 8 * 1024 * 1024;

/** Applies layers, one after another, from pieces its caller hands it as it reads them. */
export interface LayerUnpacker {
  /** Starts applying `layer` onto `root` (which exists) from the pieces taken since the last layer ended and those to come; settles as it ends. */
  begin(root: string, layer: LayerToApply, wantPaths: boolean): Promise<UnpackedLayer>;
  /** Whether it wants no more pieces (the layer failed, or it was stopped). */
  readonly ended: boolean;
  /** Hands over a copy of `piece`; settles once the unpack is not too far behind, at once when it wants no more. */
  take(piece: Buffer): Promise<void>;
  /** No more pieces of this layer: it is whole, or its read failed with `reason`. */
  finish(reason?: string): void;
  /** Ends the unpack, done or not, and settles once nothing writes into a root any more. */
  stop(): Promise<void>;
}

/** An unpacker for `bytes` of layers: on a worker thread from WORKER_FROM on, else on this one. */
export function layerUnpacker(bytes: number): LayerUnpacker {
  return bytes >= WORKER_FROM ? new ThreadUnpacker() : new InlineUnpacker();
}

/** The bytes of a layer handed to an unpack and not yet taken by its reader: a hand-over past IN_FLIGHT waits for the reader. */
class InFlight {
  #given = 0;
  #taken = 0;
  #waiting: (() => void)[] = [];

  /** Counts `bytes` handed over; settles once no more than IN_FLIGHT wait for the reader. */
  give(bytes: number): Promise<void> {
    this.#given += bytes;
    return this.#given - this.#taken <= IN_FLIGHT ? Promise.resolve() : new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** The reader has taken `bytes` of the layer in all. */
  taken(bytes: number): void {
    this.#taken = bytes;
    if (this.#given - this.#taken <= IN_FLIGHT) this.release();
  }

  /** The layer ended: the next one is counted from nothing. */
  reset(): void {
    this.#given = 0;
    this.#taken = 0;
    this.release();
  }

  /** Lets whoever waits go on (the reader is gone, or took enough). */
  release(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }
}

/** A promise settled from outside, heard by whoever awaits it (and by nobody, harmlessly). */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

const THREAD_GONE = 'the unpack thread ended before the layer was unpacked';

class ThreadUnpacker implements LayerUnpacker {
  readonly #worker = new Worker(new URL('./unpack-worker.js', import.meta.url));
  readonly #inFlight = new InFlight();
  #ended = false;
  #current: ReturnType<typeof deferred<UnpackedLayer>> | undefined;

  constructor() {
    this.#worker.on('message', (message: FromUnpack) => {
      if (message.type === 'taken') this.#inFlight.taken(message.bytes);
      else if (message.type === 'done') this.#settle(undefined, { record: message.record, ...(message.paths ? { paths: message.paths } : {}) });
      else {
        this.#ended = true;
        this.#settle(message.code ? new PolyarchError(message.code, message.message, message.hint ? { hint: message.hint } : {}) : Object.assign(new Error(message.message), message.errno ? { code: message.errno } : {}));
      }
    });
    this.#worker.on('error', (error) => this.#gone(error));
    this.#worker.on('exit', () => this.#gone(new Error(THREAD_GONE)));
  }

  get ended(): boolean {
    return this.#ended;
  }

  begin(root: string, layer: LayerToApply, wantPaths: boolean): Promise<UnpackedLayer> {
    const current = (this.#current = deferred<UnpackedLayer>());
    if (this.#ended) this.#settle(new Error(THREAD_GONE));
    else this.#worker.postMessage({ type: 'layer', root, layer: { mediaType: layer.mediaType, digest: layer.digest }, wantPaths } satisfies ToUnpack);
    return current.promise;
  }

  take(piece: Buffer): Promise<void> {
    if (this.#ended) return Promise.resolve();
    // A copy of its own, moved to the thread: a pull reads into the piece's memory again once its file has it.
    const bytes = new Uint8Array(piece);
    this.#worker.postMessage({ type: 'piece', bytes } satisfies ToUnpack, [bytes.buffer as ArrayBuffer]);
    return this.#inFlight.give(bytes.byteLength);
  }

  finish(reason?: string): void {
    if (!this.#ended) this.#worker.postMessage((reason === undefined ? { type: 'end' } : { type: 'fail', reason }) satisfies ToUnpack);
  }

  async stop(): Promise<void> {
    this.#ended = true;
    this.#inFlight.release();
    await this.#worker.terminate();
  }

  #settle(error: unknown, done?: UnpackedLayer): void {
    const current = this.#current;
    this.#current = undefined;
    this.#inFlight.reset();
    if (done) current?.resolve(done);
    else current?.reject(error);
  }

  #gone(error: unknown): void {
    this.#ended = true;
    this.#settle(error);
  }
}

class InlineUnpacker implements LayerUnpacker {
  readonly #inFlight = new InFlight();
  #pieces = this.#newPieces();
  #ended = false;
  /** The layer being applied, settled (either way) once its unpack has stopped writing. */
  #running: Promise<unknown> = Promise.resolve();

  get ended(): boolean {
    return this.#ended;
  }

  begin(root: string, layer: LayerToApply, wantPaths: boolean): Promise<UnpackedLayer> {
    const applied = this.#ended ? Promise.reject(new Error('the unpack was stopped')) : applyPieces(this.#pieces, root, layer, wantPaths);
    applied.catch(() => undefined);
    this.#running = applied.then(
      () => {
        this.#pieces = this.#newPieces();
        this.#inFlight.reset();
      },
      () => {
        this.#ended = true;
        this.#inFlight.release();
      },
    );
    return applied;
  }

  take(piece: Buffer): Promise<void> {
    if (this.#ended) return Promise.resolve();
    // A copy of its own: a pull reads into the piece's memory again once its file has it.
    this.#pieces.put(Buffer.from(piece));
    return this.#inFlight.give(piece.length);
  }

  finish(reason?: string): void {
    if (reason === undefined) this.#pieces.put(null);
    else this.#pieces.fail(new Error(reason));
  }

  async stop(): Promise<void> {
    this.#ended = true;
    this.#pieces.fail(new Error('the unpack was stopped'));
    this.#inFlight.release();
    await this.#running;
  }

  #newPieces(): LayerPieces {
    return piecesOfLayer((bytes) => this.#inFlight.taken(bytes));
  }
}

/**
 * materializeLayers (materialize.ts), with the unpacking on a worker thread while this one reads
 * each layer from `open`: the same files, modes, owners, times and recorded facts, and the same
 * errors (a hostile layer fails with LAYOUT_INVALID and never writes outside `root`).
 */
export async function materializeLayersInWorker<L extends LayerToApply>(root: string, layers: readonly L[], open: (layer: L) => Promise<Readable>, options: MaterializeOptions<L> = {}): Promise<RecordedFacts> {
  const size = layers.reduce((sum, layer) => sum + ((layer as { readonly size?: number }).size ?? WORKER_FROM), 0);
  if (size < WORKER_FROM) return materializeLayers(root, layers, open, options);
  const recorded = options.recorded ?? new Map();
  const unpacker = layerUnpacker(size);
  const interrupted = (): void => void unpacker.stop();
  options.signal?.addEventListener('abort', interrupted, { once: true });
  try {
    for (const layer of layers) {
      options.signal?.throwIfAborted();
      const result = unpacker.begin(root, layer, options.onLayerPaths !== undefined);
      try {
        for await (const piece of await open(layer)) {
          // The layer failed (a hostile entry): its error is the one to tell, not the rest of the read.
          if (unpacker.ended) break;
          await unpacker.take(piece as Buffer);
        }
        unpacker.finish();
      } catch (error) {
        unpacker.finish(error instanceof Error ? error.message : String(error));
        await result.catch(() => undefined);
        throw error;
      }
      const { record, paths } = await result.catch((error: unknown) => {
        options.signal?.throwIfAborted();
        throw error;
      });
      if (paths) await options.onLayerPaths!(layer, paths);
      for (const [path, facts] of record) recorded.set(path, facts);
    }
    return recorded;
  } finally {
    options.signal?.removeEventListener('abort', interrupted);
    await unpacker.stop();
  }
}
