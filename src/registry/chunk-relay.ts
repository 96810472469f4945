// One reader's pieces spread over the requests of a chunked upload (PATCH after PATCH), with no
// copy: each request's body takes the next `length` bytes as the reader hands them over, and a
// piece that crosses a chunk's end is split between two requests. The reader waits while no
// request is open (between a chunk's answer and the next request).
import { asError } from '../errors/polyarch-error.js';
import type { PieceTaker } from '../internal/streams.js';

interface Writer {
  readonly write: PieceTaker;
  left: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class ChunkRelay {
  #writer: Writer | undefined;
  /** Hand-offs waiting for the next request's body. */
  #waiting: { resolve: () => void; reject: (error: Error) => void }[] = [];
  /** Hand-offs run one after another, so pieces reach the requests in the reader's order. */
  #tail: Promise<unknown> = Promise.resolve();
  #failure: Error | undefined;

  /** The reader's taker: settles once every part of the piece is written. */
  readonly take: PieceTaker = (piece) => {
    const handed = this.#tail.then(() => this.#handOff(piece));
    this.#tail = handed.catch(() => undefined);
    return handed.then((writes) => Promise.all(writes)).then(() => undefined);
  };

  /** The body reader of the next request: it takes `length` bytes, then ends. */
  chunk(length: number): (write: PieceTaker) => Promise<void> {
    return (write) =>
      new Promise<void>((resolve, reject) => {
        if (this.#failure) return reject(this.#failure);
        this.#writer = { write, left: length, resolve, reject };
        const waiting = this.#waiting;
        this.#waiting = [];
        for (const handOff of waiting) handOff.resolve();
      });
  }

  /** Ends the relay: the open request's body and every waiting hand-off fail with `error`. */
  fail(error: Error): void {
    this.#failure ??= error;
    this.#writer?.reject(error);
    this.#writer = undefined;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const handOff of waiting) handOff.reject(error);
  }

  async #handOff(piece: Buffer): Promise<Promise<void>[]> {
    const writes: Promise<void>[] = [];
    for (let rest = piece; rest.length > 0; ) {
      while (this.#writer === undefined) {
        if (this.#failure) throw this.#failure;
        await new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
      }
      const writer = this.#writer;
      const part = rest.subarray(0, writer.left);
      rest = rest.subarray(part.length);
      writer.left -= part.length;
      const written = writer.write(part);
      writes.push(written);
      // A failed write fails its request's body; the last part's write ends it.
      if (writer.left > 0) written.catch((error: unknown) => writer.reject(asError(error)));
      else {
        this.#writer = undefined;
        written.then(writer.resolve, (error: unknown) => writer.reject(asError(error)));
      }
    }
    return writes;
  }
}
