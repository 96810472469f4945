// Reproducible layers: entries sorted, owners 0:0 unless chowned, every mtime clamped to the
// source date epoch; the tar is compressed straight into a temp file while both digests (the
// compressed blob's and the uncompressed diffID) are computed, never holding a layer in memory.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { lazyModule } from '../internal/lazy-module.js';

import type { Digest } from '../digest/digest.js';
import type { Descriptor } from '../image/descriptor.js';
import { compressor, layerMediaType, DEFAULT_COMPRESSION, type CompressionOptions } from './compression.js';
import { encodeXattrPax, type Xattrs } from './pax.js';

// Loaded when a layer is written: a warm build that reuses every layer writes none.
const tarStream = lazyModule<typeof import('tar-stream')>('tar-stream');

export interface LayerEntry {
  /** Path inside the image, without a leading slash. */
  readonly path: string;
  /**
   * 'link': a hard link to the entry `linkname` names, which this layer holds too (written earlier:
   * its path sorts first). 'whiteout': `path` was deleted (written as `dir/.wh.name`). 'opaque': the
   * directory `path` hides everything lower layers put in it (written as `path/.wh..wh..opq`).
   * 'fifo': a named pipe (tar type 6), no content.
   */
  readonly type: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'whiteout' | 'opaque';
  /** For files: where the bytes come from on disk. */
  readonly source?: string;
  readonly size?: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** The source's modification time: part of the layer-cache key, never written into the tar. */
  readonly mtimeMs?: number;
  /** Stands for source and mtime in the cache key when the source file is scratch (heredocs). */
  readonly contentKey?: string;
  /** For symlinks: the target. For hard links: the linked entry's path. */
  readonly linkname?: string;
  /** Extended attributes of a file or directory, written as `SCHILY.xattr.*` pax records. */
  readonly xattrs?: Xattrs;
  /** Its own time in the tar (an exported filesystem keeps the files' times); a layer uses options.mtime. */
  readonly mtime?: Date;
}

export interface WrittenLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  /** The compressed file, to be stored and then removed by the caller. */
  readonly file: string;
}

class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  constructor(readonly onBytes?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    this.onBytes?.(chunk.length);
    done(null, chunk);
  }
}

/** The directories the entries sit in (an opaque marker's too) that they do not list themselves, shallowest first. */
export function missingParents(entries: readonly LayerEntry[]): string[] {
  const listed = new Set(entries.filter((e) => e.type !== 'whiteout' && e.type !== 'opaque').map((e) => e.path));
  const missing = new Set<string>();
  for (const e of entries) {
    // Each parent from the nearest up. One already listed is an entry whose own parents are
    // looked at in its turn, and one already missing had its parents added: either ends the climb.
    let end = e.type === 'opaque' ? e.path.length : e.path.lastIndexOf('/');
    while (end >= 0) {
      const dir = e.path.slice(0, end);
      if (listed.has(dir) || missing.has(dir)) break;
      missing.add(dir);
      end = dir.lastIndexOf('/');
    }
  }
  return [...missing].sort();
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** The name an entry has in the tar, without a directory's trailing slash (whiteouts and opaque markers are files of their own). */
export function tarPathOf(entry: Pick<LayerEntry, 'path' | 'type'>): string {
  if (entry.type === 'opaque') return `${entry.path}/${OPAQUE}`;
  if (entry.type !== 'whiteout') return entry.path;
  const slash = entry.path.lastIndexOf('/');
  return `${entry.path.slice(0, slash + 1)}${WHITEOUT}${entry.path.slice(slash + 1)}`;
}

/** Tar order: the code-unit order of paths. */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One entry a tar name (the last given wins), in byte order of name: a reproducible tar's order. */
function ordered(entries: readonly LayerEntry[]): [string, LayerEntry][] {
  return [...new Map(entries.map((e) => [tarPathOf(e), e])).entries()].sort(([a], [b]) => comparePaths(a, b));
}

/** A ustar header of type 'x' (pax extended header) for `data`, then `data` padded to whole blocks. */
function paxBlocks(data: Buffer, mtime: Date): Buffer {
  const header = Buffer.alloc(512);
  const octal = (value: number, at: number, width: number) => header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'latin1');
  header.write('PaxHeader', 0, 'latin1');
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(data.length, 124, 12);
  octal(Math.max(0, Math.floor(mtime.getTime() / 1000)), 136, 12);
  header.write('        ', 148, 'latin1'); // the checksum counts its own field as spaces
  header.write('x', 156, 'latin1');
  header.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

/**
 * The mode handed to tar-stream, which writes a mode of 0 as its default (0644, or 0755 for a
 * directory): an /etc/shadow made 0000 came out readable by all. A bit above the permission bits,
 * which it masks off when it writes the header, keeps a 0 a 0.
 */
function tarMode(mode: number): number {
  return mode === 0 ? 0o100000 : mode;
}

/** Entries without content queued in tar-stream before the writer waits for them. */
const VOID_BATCH = 256;

/** Writes `entries` (parent directories included: see missingParents) as one compressed layer. */
export async function writeLayer(
  entries: readonly LayerEntry[],
  options: { file: string; mtime: Date; compression?: CompressionOptions; /** Hears the compressed bytes as they are written. */ onBytes?: (bytes: number) => void },
): Promise<WrittenLayer> {
  const tar = tarStream().pack();
  const uncompressed = new Hasher();
  const compressed = new Hasher(options.onBytes);
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  const done = pipeline(tar, uncompressed, compressor(compression), compressed, createWriteStream(options.file, { flags: 'wx' }));
  try {
    // Entries without content finish on their own time; a pax header pushed by hand waits for them.
    let lastVoid: Promise<void> = Promise.resolve();
    let queued = 0;
    const voidEntry = (header: Parameters<typeof tar.entry>[0]) => {
      lastVoid = new Promise<void>((resolve, reject) => tar.entry(header, (error) => (error ? reject(error) : resolve())));
      queued++;
    };
    for (const [name, entry] of ordered(entries)) {
      // tar-stream takes each queued entry off the front of an array (shift, which moves every
      // other one): 160,000 directories queued at once took 17 s of a 22 s build. They finish in
      // order, so waiting for the last of a batch keeps the queue short.
      if (queued >= VOID_BATCH) {
        await lastVoid;
        queued = 0;
      }
      let header = { name: entry.type === 'directory' ? `${name}/` : name, mode: tarMode(entry.mode), uid: entry.uid, gid: entry.gid, mtime: entry.mtime ?? options.mtime };
      if (entry.xattrs && entry.xattrs.size > 0 && (entry.type === 'file' || entry.type === 'directory')) {
        // A pax header of our own, between two entries (tar-stream's would write the values as
        // UTF-8; a file capability is binary). It names the path too, so the entry goes under a
        // short stand-in name that tar-stream writes without a second pax header: readers keep
        // only the last one before an entry.
        await lastVoid;
        tar.push(paxBlocks(encodeXattrPax(entry.xattrs, header.name), header.mtime));
        header = { ...header, name: entry.type === 'directory' ? 'PaxHeader/' : 'PaxHeader' };
      }
      if (entry.type === 'directory') {
        voidEntry({ ...header, type: 'directory' });
        continue;
      }
      if (entry.type === 'symlink' || entry.type === 'link') {
        voidEntry({ ...header, type: entry.type, linkname: entry.linkname ?? '' });
        continue;
      }
      if (entry.type === 'fifo') {
        voidEntry({ ...header, type: 'fifo' });
        continue;
      }
      if (entry.type === 'whiteout' || entry.type === 'opaque') {
        tar.entry({ ...header, type: 'file', size: 0 }, Buffer.alloc(0));
        continue;
      }
      const sink = tar.entry({ ...header, type: 'file', size: entry.size ?? 0 });
      await pipeline(createReadStream(entry.source!), sink);
    }
    tar.finalize();
    await done;
  } catch (error) {
    tar.destroy();
    await done.catch(() => undefined);
    await rm(options.file, { force: true });
    throw error;
  }
  return {
    descriptor: { mediaType: layerMediaType(compression), digest: `sha256:${compressed.hash.digest('hex')}` as Digest, size: compressed.size },
    diffId: `sha256:${uncompressed.hash.digest('hex')}` as Digest,
    file: options.file,
  };
}
