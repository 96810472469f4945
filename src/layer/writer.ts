// Reproducible layers: entries sorted, owners 0:0 unless chowned, every mtime clamped to the
// source date epoch; the tar is compressed straight into a temp file while both digests (the
// compressed blob's and the uncompressed diffID) are computed, never holding a layer in memory.
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import type { Digest } from '../digest/digest.js';
import type { Descriptor } from '../image/descriptor.js';
import { compressor, layerMediaType, DEFAULT_COMPRESSION, type CompressionOptions } from './compression.js';

export interface LayerEntry {
  /** Path inside the image, without a leading slash. */
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink';
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
  /** For symlinks: the target. */
  readonly linkname?: string;
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
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }
}

/** The directories the entries sit in that they do not list themselves, shallowest first. */
export function missingParents(entries: readonly LayerEntry[]): string[] {
  const listed = new Set(entries.map((e) => e.path));
  const missing = new Set<string>();
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!listed.has(dir)) missing.add(dir);
    }
  }
  return [...missing].sort();
}

/** One entry a path (the last given wins), in byte order of path: a reproducible tar's order. */
function ordered(entries: readonly LayerEntry[]): LayerEntry[] {
  return [...new Map(entries.map((e) => [e.path, e])).values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Writes `entries` (parent directories included: see missingParents) as one compressed layer. */
export async function writeLayer(entries: readonly LayerEntry[], options: { file: string; mtime: Date; compression?: CompressionOptions }): Promise<WrittenLayer> {
  const tar = pack();
  const uncompressed = new Hasher();
  const compressed = new Hasher();
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  const done = pipeline(tar, uncompressed, compressor(compression), compressed, createWriteStream(options.file, { flags: 'wx' }));
  try {
    for (const entry of ordered(entries)) {
      const header = { name: entry.type === 'directory' ? `${entry.path}/` : entry.path, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: options.mtime, type: entry.type };
      if (entry.type === 'directory') {
        tar.entry(header);
        continue;
      }
      if (entry.type === 'symlink') {
        tar.entry({ ...header, linkname: entry.linkname ?? '' });
        continue;
      }
      const sink = tar.entry({ ...header, size: entry.size ?? 0 });
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
