// Random access into an uncompressed tar: one pass over the headers records where each file's
// bytes lie, so a blob is later streamed straight from the file. tar-stream only reads
// sequentially, which would mean reading (not just seeking past) every layer of a multi-GB
// archive to learn its offsets; here only the 512-byte headers are read.
// https://www.gnu.org/software/tar/manual/html_node/Standard.html (ustar, GNU and pax headers)
import { constants, createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { addAbortSignal, Readable } from 'node:stream';
import { PolyarchError } from '../errors/polyarch-error.js';

export interface TarEntry {
  /** Byte offset of the file's data in the archive. */
  readonly offset: number;
  readonly size: number;
}

const BLOCK = 512;
/** pax and GNU long-name records are small; anything bigger is a corrupt header. */
const MAX_META_SIZE = 1024 * 1024;

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}

function numeric(block: Buffer, start: number, length: number): number {
  // GNU base-256 for values over the octal range (files over 8 GiB): high bit of the first byte.
  if ((block[start] ?? 0) & 0x80) {
    let value = (block[start] ?? 0) & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + (block[i] ?? 0);
    return value;
  }
  const text = field(block, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** The header checksum: bytes summed with the checksum field itself read as spaces. */
function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === numeric(block, 148, 8);
}

/** pax records `LEN key=value\n`; only path, linkpath and size matter here. */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  for (let pos = 0; pos < data.length; ) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const length = Number.parseInt(data.subarray(pos, space).toString(), 10);
    if (!Number.isSafeInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, pos + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return records;
}

/** Path components without empty ones and `.`: `./a//b/` and `a/b` name the same entry. */
function components(name: string): string[] {
  return name.split('/').filter((c) => c !== '' && c !== '.');
}

function normalizeName(name: string): string {
  return components(name).join('/');
}

interface TarLink {
  readonly target: string;
  /** A hard link names another entry from the archive's root; a symlink is relative to its own directory. */
  readonly hard: boolean;
}

/** Linux's MAXSYMLINKS: more links than this on one path is a loop. */
const MAX_LINK_HOPS = 40;

/**
 * The files of a tar, looked up by path. Symlinks and hard links are followed inside the archive's
 * own namespace, never the filesystem: `docker save` stores a layer shared by two images once and
 * makes the second `<id>/layer.tar` a symlink to `../<other-id>/layer.tar`. A link that leaves the
 * archive (an absolute target, or `..` above its root) or a loop is refused with LAYOUT_INVALID.
 */
export class TarIndex {
  readonly #file: string;
  readonly #files: ReadonlyMap<string, TarEntry>;
  readonly #links: ReadonlyMap<string, TarLink>;

  constructor(file: string, files: ReadonlyMap<string, TarEntry>, links: ReadonlyMap<string, TarLink> = new Map()) {
    this.#file = file;
    this.#files = files;
    this.#links = links;
  }

  /** The data range of the file at `path`, through any links; undefined when there is none. */
  get(path: string): TarEntry | undefined {
    return this.#files.get(this.#resolve(path));
  }

  has(path: string): boolean {
    return this.get(path) !== undefined;
  }

  /** The regular files' paths, in archive order (links not included). */
  keys(): IterableIterator<string> {
    return this.#files.keys();
  }

  [Symbol.iterator](): IterableIterator<[string, TarEntry]> {
    return this.#files.entries();
  }

  /** `path` with every link in it replaced by what it points to, component by component. */
  #resolve(path: string): string {
    const bad = (why: string): PolyarchError => new PolyarchError('LAYOUT_INVALID', `${this.#file}: ${JSON.stringify(path)} ${why}`);
    const pending = components(path);
    const done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const next = pending.shift() as string;
      if (next === '..') {
        if (done.length === 0) throw bad('goes above the root of the archive');
        done.pop();
        continue;
      }
      const here = [...done, next].join('/');
      const link = this.#links.get(here);
      if (!link) {
        done.push(next);
        continue;
      }
      if (++hops > MAX_LINK_HOPS) throw bad(`passes through more than ${MAX_LINK_HOPS} links (a loop at ${JSON.stringify(here)}?)`);
      if (!link.hard && link.target.startsWith('/')) throw bad(`is a link that leaves the archive (${here} -> ${link.target})`);
      if (link.hard) done.length = 0;
      pending.unshift(...components(link.target));
    }
    return done.join('/');
  }
}

/**
 * Indexes each regular file's data range and each link's target, by normalized path (no `./`).
 * A later entry of the same name wins, as when the tar is extracted. Throws LAYOUT_INVALID for a
 * file that is not an uncompressed tar, has a bad header, or is cut short.
 */
export async function indexTar(file: string, signal?: AbortSignal): Promise<TarIndex> {
  // Non-blocking: a FIFO named as the archive is refused below instead of waited on forever.
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => {
    throw new PolyarchError('NOT_FOUND', `cannot open archive ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, { cause: error });
  });
  const bad = (why: string): PolyarchError => new PolyarchError('LAYOUT_INVALID', `${file}: ${why}`);
  const entries = new Map<string, TarEntry>();
  const links = new Map<string, TarLink>();
  try {
    const facts = await handle.stat();
    if (!facts.isFile()) throw bad(facts.isDirectory() ? 'is a directory, not an archive file' : 'is not a regular file (an archive is read from a file)');
    const fileSize = facts.size;
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (let read = 0; pos + BLOCK <= fileSize; read++) {
      if (read % 1024 === 0) signal?.throwIfAborted(); // a tar of millions of entries stops on Ctrl-C or SIGTERM
      await handle.read(header, 0, BLOCK, pos);
      if (pos === 0 && header[0] === 0x1f && header[1] === 0x8b) throw bad('is gzip-compressed; decompress it first (gunzip) to read it as an archive');
      if (header.every((b) => b === 0)) break; // end-of-archive marker
      const magic = field(header, 257, 6);
      if (!magic.startsWith('ustar') || !checksumOk(header)) throw bad(`not a tar archive (bad header at byte ${pos})`);
      const type = String.fromCharCode(header[156] ?? 0x30);
      const headerSize = numeric(header, 124, 12);
      const dataStart = pos + BLOCK;
      const size = type === '0' || type === '\0' || type === '7' ? Number(pax.get('size') ?? headerSize) : headerSize;
      if (!Number.isSafeInteger(size) || size < 0) throw bad(`bad entry size at byte ${pos}`);
      if (dataStart + size > fileSize) throw bad(`truncated: an entry at byte ${pos} needs ${size} bytes, the file ends first`);
      if (type === 'x' || type === 'L' || type === 'g') {
        if (size > MAX_META_SIZE) throw bad(`oversized ${type} header at byte ${pos}`);
        const data = Buffer.alloc(size);
        await handle.read(data, 0, size, dataStart);
        if (type === 'x') pax = paxRecords(data);
        else if (type === 'L') longName = field(data, 0, size);
        // 'g' (global pax): nothing in it changes where data lies
      } else if (type === 'K') {
        if (size > MAX_META_SIZE) throw bad(`oversized ${type} header at byte ${pos}`);
        const data = Buffer.alloc(size);
        await handle.read(data, 0, size, dataStart);
        longLink = field(data, 0, size);
      } else {
        const prefix = magic === 'ustar' ? field(header, 345, 155) : ''; // POSIX only; GNU uses the space otherwise
        const short = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
        const name = normalizeName(pax.get('path') ?? longName ?? short);
        if (type === '0' || type === '\0' || type === '7') {
          entries.set(name, { offset: dataStart, size });
          links.delete(name);
        } else if (type === '1' || type === '2') {
          const target = pax.get('linkpath') ?? longLink ?? field(header, 157, 100);
          // Hard link names are archive paths, written like entry names (`./x`, sometimes `/x`).
          links.set(name, { target: type === '1' ? normalizeName(target) : target, hard: type === '1' });
          entries.delete(name);
        }
        pax = new Map();
        longName = undefined;
        longLink = undefined;
      }
      pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    await handle.close();
  }
  return new TarIndex(file, entries, links);
}

/** The entry's bytes straight from the archive file (never buffered whole). */
export function streamEntry(file: string, entry: TarEntry, options: { readonly signal?: AbortSignal } = {}): Readable {
  const stream = entry.size === 0 ? Readable.from([]) : createReadStream(file, { start: entry.offset, end: entry.offset + entry.size - 1 });
  return options.signal ? addAbortSignal(options.signal, stream) : stream;
}

/** A small entry (index.json, manifest.json, a manifest) read whole; LAYOUT_INVALID when it is over `maxBytes` (`what` names it). */
export async function readEntry(file: string, entry: TarEntry, maxBytes: number, what = `entry at byte ${entry.offset}`): Promise<Buffer> {
  if (entry.size > maxBytes) throw new PolyarchError('LAYOUT_INVALID', `${file}: ${what} is ${entry.size} bytes, more than the ${maxBytes} it may have`);
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const bytes = Buffer.alloc(entry.size);
    const { bytesRead } = await handle.read(bytes, 0, entry.size, entry.offset);
    if (bytesRead !== entry.size) throw new PolyarchError('LAYOUT_INVALID', `${file}: entry at byte ${entry.offset} is cut short`);
    return bytes;
  } finally {
    await handle.close();
  }
}
