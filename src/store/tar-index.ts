// Random access into an uncompressed tar: one pass over the headers records where each file's
// bytes lie, so a blob is later streamed straight from the file (tar-stream reads only
// sequentially, and an archive can hold gigabytes we must not extract or buffer).
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { PolyarchError } from '../errors/polyarch-error.js';

export interface TarEntry {
  readonly offset: number;
  readonly size: number;
}

const BLOCK = 512;

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}

function octal(block: Buffer, start: number, length: number): number {
  // GNU base-256 for sizes over 8 GiB: high bit set in the first byte.
  if ((block[start] ?? 0) & 0x80) {
    let value = 0;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + (block[i] ?? 0);
    return value;
  }
  const text = field(block, start, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function paxPath(data: Buffer): string | undefined {
  let path: string | undefined;
  for (let pos = 0; pos < data.length; ) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const length = Number.parseInt(data.subarray(pos, space).toString(), 10);
    if (!Number.isSafeInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, pos + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    pos += length;
  }
  return path;
}

/** Maps each regular file's normalized path (no leading `./`) to its data range. */
export async function indexTar(file: string): Promise<Map<string, TarEntry>> {
  const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new PolyarchError('NOT_FOUND', `cannot open archive ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, { cause: error, badInput: true });
  });
  const entries = new Map<string, TarEntry>();
  try {
    const { size: fileSize } = await handle.stat();
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    while (pos + BLOCK <= fileSize) {
      await handle.read(header, 0, BLOCK, pos);
      if (header.every((b) => b === 0)) break;
      const magic = field(header, 257, 6);
      if (magic !== 'ustar' && magic !== 'ustar ') throw new PolyarchError('LAYOUT_INVALID', `${file} is not a tar archive (bad header at byte ${pos})`, { badInput: true });
      const size = octal(header, 124, 12);
      const type = String.fromCharCode(header[156] ?? 0x30);
      const dataStart = pos + BLOCK;
      if (type === 'x' || type === 'L') {
        const data = Buffer.alloc(size);
        await handle.read(data, 0, size, dataStart);
        longName = type === 'L' ? field(data, 0, size) : paxPath(data);
      } else if (type === '0' || type === '\0' || type === '7') {
        const prefix = magic === 'ustar' ? field(header, 345, 155) : '';
        const name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
        entries.set(name.replace(/^\.\//, ''), { offset: dataStart, size });
        longName = undefined;
      } else {
        longName = undefined;
      }
      pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    }
  } finally {
    await handle.close();
  }
  return entries;
}

export function streamEntry(file: string, entry: TarEntry): Readable {
  return entry.size === 0 ? Readable.from([]) : createReadStream(file, { start: entry.offset, end: entry.offset + entry.size - 1 });
}

export async function readEntry(file: string, entry: TarEntry): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const bytes = Buffer.alloc(entry.size);
    await handle.read(bytes, 0, entry.size, entry.offset);
    return bytes;
  } finally {
    await handle.close();
  }
}
