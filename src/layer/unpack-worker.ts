// The worker thread's side of unpack-in-worker.ts: applies layers (layer-pieces.ts, with
// extract.ts's rules for hostile archives), one at a time, from the pieces the main thread posts
// as it reads them. It says how many bytes its reader has taken, so the main thread never has
// more than a bounded amount waiting here, and ends each layer with its recorded facts and path list, or
// the error as the main thread would have seen it.
import { parentPort } from 'node:worker_threads';
import { PolyarchError } from '../errors/polyarch-error.js';
import { applyPieces, piecesOfLayer, type LayerPieces } from './layer-pieces.js';
import type { FromUnpack, ToUnpack } from './unpack-in-worker.js';

const port = parentPort!;
const say = (message: FromUnpack): void => port.postMessage(message);
const newPieces = (): LayerPieces => piecesOfLayer((bytes) => say({ type: 'taken', bytes }));

/** The layer being applied: the pieces its reader reads. */
let current: LayerPieces | undefined;
/** Pieces that came before their layer's root (a pull tapped while its workspace is made). */
let early: LayerPieces | undefined;
/** A layer failed: the main thread stops this thread, and nothing after is its. */
let failed = false;

port.on('message', (message: ToUnpack) => {
  if (failed) return;
  if (message.type === 'layer') {
    const pieces = (current = early ?? newPieces());
    early = undefined;
    applyPieces(pieces, message.root, message.layer, message.wantPaths).then(
      (done) => {
        current = undefined;
        say({ type: 'done', ...done });
      },
      (error: unknown) => {
        failed = true;
        current = undefined;
        const errno = (error as NodeJS.ErrnoException).code;
        const why = error instanceof PolyarchError ? { code: error.code, ...(error.hint ? { hint: error.hint } : {}) } : typeof errno === 'string' ? { errno } : {};
        say({ type: 'failed', ...why, message: error instanceof Error ? error.message : String(error) });
      },
    );
    return;
  }
  const pieces = current ?? (early ??= newPieces());
  if (message.type === 'piece') pieces.put(Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength));
  else if (message.type === 'end') pieces.put(null);
  else pieces.fail(new Error(message.reason));
});
