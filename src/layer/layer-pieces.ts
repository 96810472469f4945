// One layer applied from pieces handed over as something else reads it (a pull, a read from the
// cache): the queue the pieces go into, and the unpack that reads them. Shared by the worker thread
// (unpack-worker.ts) and the main thread's own unpacks of small layers (unpack-in-worker.ts).
import { Readable } from 'node:stream';
import type { RecordedFact, RecordedFacts } from './extract.js';
import { materializeLayers, type LayerToApply } from './materialize.js';
import type { LayerPathEntry } from './scan.js';

/** What applying one layer gave: the facts its headers recorded, and its path list when asked for. */
export interface UnpackedLayer {
  readonly record: [string, RecordedFact][];
  readonly paths?: [string, LayerPathEntry][];
}

/** One layer's pieces, queued as they come and handed to the unpack's reader as it asks for them. */
export interface LayerPieces {
  /** What the unpack reads. */
  readonly stream: Readable;
  /** Queues a piece (its memory is the stream's from now on), or the end (null). */
  put(piece: Buffer | null): void;
  /** Ends the stream with `error`: the layer's read failed. */
  fail(error: Error): void;
}

/**
 * A layer's pieces, given to the reader one at a time as it asks (the stream's own buffer holds
 * at most one): `onTaken` hears the bytes handed over so far each time, so whoever puts them can
 * keep what waits in the queue bounded.
 */
export function piecesOfLayer(onTaken: (bytes: number) => void): LayerPieces {
  const queue: (Buffer | null)[] = [];
  let wanted = false;
  let taken = 0;
  const stream = new Readable({
    read: () => {
      wanted = true;
      handOver();
    },
  });
  function handOver(): void {
    while (wanted && queue.length > 0) {
      const piece = queue.shift()!;
      wanted = stream.push(piece);
      if (piece === null) return;
      taken += piece.length;
      onTaken(taken);
    }
  }
  // The unpack hears a failure through its pipeline; an unheard 'error' would end the process.
  stream.on('error', () => undefined);
  return {
    stream,
    put(piece) {
      if (stream.destroyed) return;
      queue.push(piece);
      handOver();
    },
    fail(error) {
      queue.length = 0;
      stream.destroy(error);
    },
  };
}

/** Applies the layer `pieces` carries onto `root` (materializeLayers: hostile entries fail it with LAYOUT_INVALID). */
export async function applyPieces(pieces: LayerPieces, root: string, layer: LayerToApply, wantPaths: boolean): Promise<UnpackedLayer> {
  const record: RecordedFacts = new Map();
  let paths: [string, LayerPathEntry][] | undefined;
  try {
    await materializeLayers(root, [layer], async () => pieces.stream, { recorded: record, ...(wantPaths ? { onLayerPaths: async (_layer, list) => void (paths = list) } : {}) });
  } finally {
    // A reader that failed early never leaves the writer waiting.
    if (!pieces.stream.readableEnded) pieces.fail(new Error('the unpack stopped reading'));
  }
  return { record: [...record], ...(paths ? { paths } : {}) };
}
