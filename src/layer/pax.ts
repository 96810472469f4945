// Extended attributes in tar: pax records `SCHILY.xattr.NAME=VALUE` (the names GNU tar, BuildKit
// and containerd write), with VALUE raw bytes — a file capability is binary. tar-stream turns
// pax records into UTF-8 strings, which would mangle such values, so records are read here from
// the tar blocks themselves, as they pass on their way to tar-stream, and written as a pax header
// entry of their own.
import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;
const XATTR_PREFIX = 'SCHILY.xattr.';
/** Typeflags of headers that describe the next entry rather than being one: pax, global pax, GNU long name and link. */
const PAX = 0x78;
const META = new Set([PAX, 0x67, 0x4c, 0x4b]);
/** Most pax data kept for one entry (names and xattrs; a layer's bytes never go through here). */
const MAX_PAX = 1 << 20;

/** Extended attributes by name. */
export type Xattrs = ReadonlyMap<string, Buffer>;

/** One pax record, `LEN key=value\n`, LEN counting the whole record, its own digits included. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length > length) length++;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/** The data of a pax header that gives `xattrs` (and the path, when one is given). */
export function encodeXattrPax(xattrs: Xattrs, path?: string): Buffer {
  const records = path === undefined ? [] : [paxRecord('path', Buffer.from(path))];
  for (const [name, value] of [...xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) records.push(paxRecord(`${XATTR_PREFIX}${name}`, value));
  return Buffer.concat(records);
}

/** The `SCHILY.xattr.*` records of a pax header's data, values as raw bytes. A malformed record ends the reading. */
export function decodeXattrPax(data: Buffer): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  let rest = data;
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    const length = space > 0 ? Number.parseInt(rest.subarray(0, space).toString('latin1'), 10) : Number.NaN;
    if (!Number.isSafeInteger(length) || length <= space + 1 || length > rest.length) break;
    const record = rest.subarray(space + 1, length - 1); // without the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const key = record.subarray(0, eq).toString('utf8');
      if (key.startsWith(XATTR_PREFIX) && key.length > XATTR_PREFIX.length) found.set(key.slice(XATTR_PREFIX.length), Buffer.from(record.subarray(eq + 1)));
    }
    rest = rest.subarray(length);
  }
  return found;
}

function headerSize(block: Buffer): number {
  // Base-256 (GNU) for large sizes: the high bit of the first byte set.
  if ((block[124]! & 0x80) !== 0) {
    let size = 0;
    for (let i = 125; i < 136; i++) size = size * 256 + block[i]!;
    return size;
  }
  const text = block.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/**
 * Passes a plain tar stream through unchanged while noting, for each entry in order (the ones
 * tar-stream will emit), the extended attributes its pax header gave (an empty map for none).
 * The extractor takes them with `next()` as each entry arrives.
 */
export class XattrObserver extends Transform {
  readonly #pending: Map<string, Buffer>[] = [];
  #buffer = Buffer.alloc(0);
  /** Bytes of the current entry's data (and padding) still to pass. */
  #skip = 0;
  /** Pax data being gathered, and how much of it is still to come. */
  #pax: Buffer[] | undefined;
  #paxLeft = 0;
  #xattrs = new Map<string, Buffer>();
  #ended = false;

  /** The extended attributes of the next entry. */
  next(): Map<string, Buffer> {
    return this.#pending.shift() ?? new Map();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#read(chunk);
    done(null, chunk);
  }

  #read(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0 && !this.#ended) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length);
        if (this.#pax && this.#paxLeft > 0) {
          const take = Math.min(n, this.#paxLeft);
          this.#pax.push(data.subarray(0, take));
          this.#paxLeft -= take;
          if (this.#paxLeft === 0) {
            for (const [name, value] of decodeXattrPax(Buffer.concat(this.#pax))) this.#xattrs.set(name, value);
            this.#pax = undefined;
          }
        }
        this.#skip -= n;
        data = data.subarray(n);
        continue;
      }
      const need = BLOCK - this.#buffer.length;
      this.#buffer = Buffer.concat([this.#buffer, data.subarray(0, need)]);
      data = data.subarray(need);
      if (this.#buffer.length < BLOCK) return;
      const block = this.#buffer;
      this.#buffer = Buffer.alloc(0);
      if (block.every((b) => b === 0)) continue; // end-of-archive blocks
      const type = block[156]!;
      const size = headerSize(block);
      if (!Number.isSafeInteger(size) || size < 0) {
        this.#ended = true; // tar-stream reports the broken header
        return;
      }
      this.#skip = Math.ceil(size / BLOCK) * BLOCK;
      if (type === PAX && size <= MAX_PAX) {
        this.#pax = [];
        this.#paxLeft = size;
        if (size === 0) this.#pax = undefined;
      } else if (!META.has(type)) {
        this.#pending.push(this.#xattrs);
        this.#xattrs = new Map();
      }
    }
  }
}
