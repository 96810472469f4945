import { StringDecoder } from 'node:string_decoder';

/** Longest line passed on whole; longer ones come out in pieces of this many characters. */
const DEFAULT_MAX_LINE = 16 * 1024;

/**
 * Cuts a byte stream into lines of text: complete lines come out as their line feed arrives, the
 * unfinished rest at end(). UTF-8 characters split across chunks stay whole. A line ending in CR LF
 * loses the CR. A program that never writes a line feed cannot make it hold more than `max`
 * characters: the text comes out in pieces of that length.
 */
export class LineBuffer {
  readonly #decoder = new StringDecoder('utf8');
  readonly #max: number;
  #pending = '';
  /** The pending text was just cut into pieces: a line feed now ends that line, and adds no empty one. */
  #cutMidLine = false;

  constructor(max = DEFAULT_MAX_LINE) {
    this.#max = max;
  }

  /** The lines `chunk` completes. */
  push(chunk: Buffer): string[] {
    const text = this.#pending + this.#decoder.write(chunk);
    const lines: string[] = [];
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      if (!(this.#cutMidLine && end === 0)) this.#cut(text.slice(start, end), lines);
      this.#cutMidLine = false;
      start = end + 1;
    }
    let rest = text.slice(start);
    while (rest.length >= this.#max) {
      lines.push(rest.slice(0, this.#max));
      rest = rest.slice(this.#max);
      this.#cutMidLine = rest === '';
    }
    this.#pending = rest;
    return lines;
  }

  /** What is left when the stream ends: the last line, when it had no line feed. */
  end(): string[] {
    const rest = this.#pending + this.#decoder.end();
    this.#pending = '';
    const lines: string[] = [];
    if (rest !== '') this.#cut(rest, lines);
    return lines;
  }

  #cut(line: string, into: string[]): void {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    for (let at = 0; at < text.length; at += this.#max) into.push(text.slice(at, at + this.#max));
    if (text.length === 0) into.push('');
  }
}
