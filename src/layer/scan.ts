// Reading a layer's entries without extracting anything: the stream is decompressed and walked,
// and nothing touches the disk, so hostile names cannot do harm here. Callers open the layers
// (from a store, a registry, a file) and pass the streams in.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Header } from 'tar-stream';
import type { Descriptor } from '../image/descriptor.js';
import { lazyModule } from '../internal/lazy-module.js';
import { coalesce } from '../internal/streams.js';
import { layerCompression } from '../mediatype/mediatype.js';
import { decompressor } from './compression.js';

/** Bytes per write into zlib (and per chunk out of it) while walking a gzip layer. */
const WALK_CHUNK = 1 << 20;

// Loaded when a layer is read: most commands read none.
const tarStream = lazyModule<typeof import('tar-stream')>('tar-stream');

/** Opens one layer's blob as a stream (already verified by whoever stores it). */
export type LayerOpener = (layer: Descriptor) => Promise<Readable>;

export interface DirectoryFacts {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** An entry's name as walkLayer and the path lists give it: no leading `./` or `/`, no trailing `/`. */
export function entryName(name: string): string {
  return name.replace(/^\.?\/+/, '').replace(/\/$/, '');
}

/**
 * Calls `visit` for each entry of one layer, in order, with the entry's path without a leading
 * `./` or `/` and without a trailing `/`. `visit` must consume or resume `content`.
 */
export async function walkLayer(
  content: Readable,
  layer: Pick<Descriptor, 'mediaType' | 'digest'>,
  visit: (name: string, header: Header, content: Readable) => Promise<void>,
  options: { readonly signal?: AbortSignal } = {},
): Promise<void> {
  const tar = tarStream().extract();
  tar.on('entry', (header, stream, next) => {
    visit(entryName(header.name), header, stream as unknown as Readable).then(
      () => next(),
      (error: unknown) => tar.destroy(error as Error),
    );
  });
  // A gzip layer is fed to zlib a MiB at a time, not a socket read (64 KiB) at a time: one
  // thread-pool round trip per MiB instead of sixteen, and sixteen times fewer chunks for the tar
  // parser and the entry streams behind it. The other kinds are not chunk-bound.
  const signal = options.signal ? [{ signal: options.signal }] : [];
  if (layerCompression(layer.mediaType) === 'gzip') await pipeline(content, coalesce(WALK_CHUNK), decompressor(layer, { chunkSize: WALK_CHUNK }), tar, ...signal);
  else await pipeline(content, decompressor(layer), tar, ...signal);
}

async function skip(content: Readable): Promise<void> {
  content.resume();
  await new Promise((done) => content.on('end', done));
}

/** One file's text from the newest layer that has it, or undefined. Files over 1 MiB are skipped. */
export async function fileFromLayers(open: LayerOpener, layers: readonly Descriptor[], path: string): Promise<string | undefined> {
  for (const layer of [...layers].reverse()) {
    let found: string | undefined;
    await walkLayer(await open(layer), layer, async (name, header, content) => {
      if (found !== undefined || name !== path || header.type !== 'file' || (header.size ?? 0) > 1 << 20) return skip(content);
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk as Buffer);
      found = Buffer.concat(chunks).toString('utf8');
    });
    if (found !== undefined) return found;
  }
  return undefined;
}

/** What a layer says a path is: a directory with its mode and owner, or a symbolic link and its target. */
export type PathFacts = ({ readonly type: 'directory' } & DirectoryFacts) | { readonly type: 'symlink'; readonly target: string };

/** One entry of a layer's path list: what it makes, or what it deletes from the layers below. */
export type LayerPathEntry = PathFacts | { readonly type: 'whiteout' } | { readonly type: 'opaque' };

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * What one entry (named as entryName gives it) adds to its layer's path list: a directory or
 * symbolic link it makes, or what it deletes below it (`dir/.wh.name` a whiteout of `dir/name`,
 * `dir/.wh..wh..opq` makes `dir` opaque); undefined for the other kinds.
 */
export function pathEntry(name: string, header: Header): [string, LayerPathEntry] | undefined {
  const slash = name.lastIndexOf('/');
  const base = name.slice(slash + 1);
  const dir = slash < 0 ? '' : name.slice(0, slash);
  if (base === OPAQUE) return [dir, { type: 'opaque' }];
  if (base.startsWith(WHITEOUT)) return [dir === '' ? base.slice(WHITEOUT.length) : `${dir}/${base.slice(WHITEOUT.length)}`, { type: 'whiteout' }];
  if (header.type === 'directory' && name !== '') return [name, { type: 'directory', mode: (header.mode ?? 0o755) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0 }];
  if (header.type === 'symlink' && name !== '') return [name, { type: 'symlink', target: header.linkname ?? '' }];
  return undefined;
}

/** The directories and symbolic links one layer makes, in order, as its headers give them, and what it deletes below it (pathEntry). */
export async function pathsOfLayer(content: Readable, layer: Pick<Descriptor, 'mediaType' | 'digest'>): Promise<[string, LayerPathEntry][]> {
  const found: [string, LayerPathEntry][] = [];
  await walkLayer(content, layer, async (name, header, entry) => {
    const said = pathEntry(name, header);
    if (said) found.push(said);
    await skip(entry);
  });
  return found;
}
