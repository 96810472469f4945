// A second reader of a blob on the move. A copy hands each piece of a blob to its taker (a file
// in the cache) with the piece's memory read into again once the taker is done; a tee gives
// another reader a stream of copies of the same pieces, so that one pass of the network feeds both
// (a base layer unpacked while it is pulled, instead of read back after).
import { Readable } from 'node:stream';

/** Bytes of copies a tee holds before `take` waits for its reader. */
const TEE_BUFFER = 4 * 1024 * 1024;

export class PieceTee {
  /** What the second reader reads. */
  readonly stream: Readable;
  /** Takes waiting for the reader to want more. */
  #waiting: (() => void)[] = [];
  #bytes = 0;

  constructor() {
    this.stream = new Readable({
      highWaterMark: TEE_BUFFER,
      read: () => this.#wake(),
      destroy: (error, callback) => {
        this.#wake();
        callback(error);
      },
    });
    // The reader hears a failure through its own pipeline; once it has stopped reading, a tee
    // ended with an error has nobody to tell, and an unheard 'error' would end the process.
    this.stream.on('error', () => undefined);
  }

  /** Bytes taken so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues a copy of `piece` for the reader; settles once the reader has room again, or at once
   * when it has gone (a reader that stopped early never holds the copy up).
   */
  take(piece: Buffer): Promise<void> {
    this.#bytes += piece.length;
    const stream = this.stream;
    if (stream.destroyed || stream.readableEnded) return Promise.resolve();
    if (stream.push(Buffer.from(piece))) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Ends the reader's stream: whole, or with `error`. */
  finish(error?: Error): void {
    if (error) this.stream.destroy(error);
    else if (!this.stream.destroyed) this.stream.push(null);
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }
}
