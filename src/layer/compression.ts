// Layer compression: gzip (the default, as buildx), zstd, or none for the layers a build writes;
// and the matching decompressors for every layer or archive that is read or unpacked. Output
// depends only on the bytes and the options, so the same input always gives the same blob digest.
import { availableParallelism } from 'node:os';
import { PassThrough, Transform } from 'node:stream';
import { constants, crc32, createGunzip, deflateRaw, deflateRawSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { PolyarchError } from '../errors/polyarch-error.js';
import { MediaType, layerCompression } from '../mediatype/mediatype.js';
import type { Descriptor } from '../image/descriptor.js';

// zstd-napi is a native module and an optional dependency (where it cannot be built, everything
// but zstd still works): loaded the first time a zstd layer is met, so no other command pays for it.
let zstdModule: typeof import('zstd-napi') | undefined;
function zstd(): typeof import('zstd-napi') {
  try {
    zstdModule ??= createRequire(import.meta.url)('zstd-napi') as typeof import('zstd-napi');
  } catch (error) {
    throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `zstd layers need the optional package zstd-napi, which is not installed here (${(error as Error).message.split('\n')[0]})`, { cause: error });
  }
  return zstdModule;
}

export type CompressionKind = 'gzip' | 'zstd' | 'uncompressed';

export interface CompressionOptions {
  readonly kind: CompressionKind;
  /** gzip 0–9 (default 6, as `gzip`), zstd 1–22 (default 3, as `zstd`); none for uncompressed. */
  readonly level?: number;
}

export const DEFAULT_COMPRESSION: CompressionOptions = { kind: 'gzip' };

const LEVELS: Record<CompressionKind, { min: number; max: number; fallback: number }> = {
  gzip: { min: 0, max: 9, fallback: 6 },
  zstd: { min: 1, max: 22, fallback: 3 },
  uncompressed: { min: 0, max: 0, fallback: 0 },
};

/** Checks `--compression` and `--compression-level` text; one line naming the bad value. */
export function parseCompression(kind: string | undefined, level: string | undefined): CompressionOptions {
  const name = (kind ?? 'gzip').toLowerCase();
  if (name !== 'gzip' && name !== 'zstd' && name !== 'uncompressed') {
    throw new PolyarchError('USAGE', `compression "${kind}" is not one of gzip, zstd, uncompressed`);
  }
  if (level === undefined) return { kind: name };
  const range = LEVELS[name];
  const value = Number(level);
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new PolyarchError('USAGE', `compression level "${level}" is out of range for ${name} (${range.min}–${range.max})`);
  }
  return { kind: name, level: value };
}

export function layerMediaType(options: CompressionOptions): string {
  return options.kind === 'gzip' ? MediaType.OciLayerGzip : options.kind === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
}

/** The level actually used, so that cache keys and messages agree with the bytes written. */
export function effectiveLevel(options: CompressionOptions): number {
  return options.level ?? LEVELS[options.kind].fallback;
}

/** A stream that compresses a layer tar as `options` say. */
export function compressor(options: CompressionOptions): Transform {
  if (options.kind === 'uncompressed') return new PassThrough();
  // zstd's multi-threaded mode gives the same bytes for any worker count ≥ 1, so every machine agrees.
  if (options.kind === 'zstd') return new (zstd().CompressStream)({ compressionLevel: effectiveLevel(options), nbWorkers: Math.max(1, availableParallelism()), checksumFlag: true });
  return parallelGzip(effectiveLevel(options));
}

/** A stream that undoes a layer's compression (by media type), or a clear error for unknown ones. */
export function decompressor(layer: Pick<Descriptor, 'mediaType'> & { readonly digest?: string }, options: { readonly chunkSize?: number } = {}): Transform {
  const kind = layerCompression(layer.mediaType);
  // 256 KiB output chunks instead of zlib's 16 KiB: a quarter less CPU per layer, in fewer callbacks.
  if (kind === 'gzip') return createGunzip({ chunkSize: options.chunkSize ?? 256 << 10 });
  if (kind === 'zstd') return new (zstd().DecompressStream)();
  if (kind === 'none') return new PassThrough();
  throw new PolyarchError('UNSUPPORTED_MEDIA_TYPE', `${layer.digest ? `layer ${layer.digest}` : 'layer'}: media type ${layer.mediaType} is not a layer this can unpack`);
}

// gzip as pigz makes it: the input is cut into blocks at fixed offsets; each block is deflated
// on its own (primed with the 32 KiB before it, ended with a sync flush so the pieces join into
// one deflate stream), so blocks compress on every core at once and the bytes depend only on the
// content. A block whose sample a quick deflate cannot shrink by 3% (already compressed data:
// archives, media, jars) is stored rather than searched for matches, which costs gzip -6 most of
// its time and gains nothing.
const BLOCK = 1 << 20;
const WINDOW = 32 << 10;
const SAMPLE = 16 << 10;
const STORE_ABOVE = 0.97;
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
/** An empty final stored block: the end of the deflate stream. */
const LAST_BLOCK = Buffer.from([1, 0, 0, 0xff, 0xff]);

function looksIncompressible(block: Buffer): boolean {
  // Order-0 entropy first: text, code and binaries are far below 7.9 bits a byte and skip the trial.
  const counts = new Uint32Array(256);
  const step = block.length > 65536 ? 4 : 1;
  let seen = 0;
  for (let i = 0; i < block.length; i += step, seen++) counts[block[i]!]!++;
  let bits = 0;
  for (const c of counts) if (c > 0) bits -= (c / seen) * Math.log2(c / seen);
  if (bits < 7.9) return false;
  const sample = block.subarray(0, Math.min(SAMPLE, block.length));
  return deflateRawSync(sample, { level: 1 }).length >= sample.length * STORE_ABOVE;
}

/** Non-final stored deflate blocks holding `block` as it is (the stream is byte-aligned here). */
function storedBlocks(block: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < block.length; at += 0xffff) {
    const piece = block.subarray(at, at + 0xffff);
    const head = Buffer.alloc(5);
    head.writeUInt16LE(piece.length, 1);
    head.writeUInt16LE(piece.length ^ 0xffff, 3);
    parts.push(head, piece);
  }
  return Buffer.concat(parts);
}

function deflateBlock(block: Buffer, dictionary: Buffer | undefined, level: number): Promise<Buffer> {
  if (level === 0 || (level > 1 && looksIncompressible(block))) return Promise.resolve(storedBlocks(block));
  return new Promise((resolve, reject) => {
    deflateRaw(block, { level, finishFlush: constants.Z_SYNC_FLUSH, chunkSize: 256 << 10, ...(dictionary ? { dictionary } : {}) }, (error, out) => (error ? reject(error) : resolve(out)));
  });
}

function parallelGzip(level: number): Transform {
  const inFlight: Promise<Buffer>[] = [];
  const limit = Math.max(2, availableParallelism() + 1);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let previous: Buffer | undefined;
  let crc = 0;
  let size = 0;

  const start = (block: Buffer) => {
    crc = crc32(block, crc);
    size += block.length;
    const job = deflateBlock(block, previous, level);
    job.catch(() => undefined); // awaited in order later; this only keeps an early failure from going unhandled
    inFlight.push(job);
    previous = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)));
  };
  const cut = (all: boolean) => {
    if (pendingBytes < BLOCK && !(all && pendingBytes > 0)) return;
    const joined = Buffer.concat(pending, pendingBytes);
    let at = 0;
    for (; joined.length - at >= BLOCK; at += BLOCK) start(joined.subarray(at, at + BLOCK));
    if (all && at < joined.length) {
      start(joined.subarray(at));
      at = joined.length;
    }
    pending = at < joined.length ? [joined.subarray(at)] : [];
    pendingBytes = joined.length - at;
  };

  return new Transform({
    construct(done) {
      this.push(GZIP_HEADER);
      done();
    },
    transform(chunk: Buffer, _encoding, done) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      cut(false);
      // Keep at most `limit` blocks compressing; hand out finished ones in order.
      const drain = async () => {
        while (inFlight.length > limit) this.push(await inFlight.shift()!);
      };
      drain().then(() => done(), done);
    },
    flush(done) {
      cut(true);
      const finish = async () => {
        while (inFlight.length > 0) this.push(await inFlight.shift()!);
        const trailer = Buffer.alloc(8);
        trailer.writeUInt32LE(crc >>> 0, 0);
        trailer.writeUInt32LE(size % 0x100000000, 4);
        this.push(Buffer.concat([LAST_BLOCK, trailer]));
      };
      finish().then(() => done(), done);
    },
  });
}
