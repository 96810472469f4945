// A fixed number of slots that work holds while it runs: the rest waits its turn, first come first
// served. The build gives RUN steps one pool across all platforms, so emulated steps (CPU-bound)
// keep the cores busy without running more at once than there are cores.

export class SlotPool {
  readonly size: number;
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`a slot pool needs a whole number of slots, at least 1, not ${size}`);
    this.size = size;
    this.#free = size;
  }

  /** Slots nobody holds. */
  get free(): number {
    return this.#free;
  }

  /**
   * Runs `fn` holding one slot, taken when one is free (waiting in line meanwhile) and given back
   * when `fn` settles, whether it resolved or threw. Aborting `signal` while still in line leaves
   * the line and rejects with the signal's reason; `fn` is then never called.
   */
  async use<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#take(signal);
    try {
      return await fn();
    } finally {
      this.#give();
    }
  }

  #take(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const turn = (): void => {
        signal?.removeEventListener('abort', leave);
        resolve();
      };
      const leave = (): void => {
        const at = this.#waiting.indexOf(turn);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', leave, { once: true });
      this.#waiting.push(turn);
    });
  }

  #give(): void {
    // The slot passes straight to the next in line, so a newcomer cannot take it first.
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
