import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * Keeps what a process writes as text, bounded: its first or its last `max` characters. A UTF-8
 * character split across two chunks stays whole.
 */
export class TextCapture extends Writable {
  readonly #decoder = new StringDecoder('utf8');
  readonly #keep: 'first' | 'last';
  readonly #max: number;
  #text = '';

  constructor(keep: 'first' | 'last', max: number) {
    super();
    this.#keep = keep;
    this.#max = max;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    if (this.#keep === 'last') this.#text = (this.#text + this.#decoder.write(chunk)).slice(-this.#max);
    else if (this.#text.length < this.#max) this.#text += this.#decoder.write(chunk);
    done();
  }

  get text(): string {
    return this.#text;
  }
}
