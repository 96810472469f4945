// ADD's local archives as docker reads them: a tar, plain or compressed with gzip, bzip2, xz or
// zstd, is unpacked; anything else is copied as it is (a gzipped text file included: it was
// unpacked as a tar and failed). gzip and zstd are decompressed here; bzip2 and xz by their
// programs (Debian's bzip2 and xz-utils), which Node has no decoder for.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { PolyarchError } from '../errors/polyarch-error.js';
import { decompressor } from '../layer/compression.js';
import { MediaType } from '../mediatype/mediatype.js';

/** A tar's header block: a POSIX or GNU tar says `ustar` at 257. */
const BLOCK = 512;

function isTarHeader(head: Buffer): boolean {
  return head.length >= BLOCK && head.subarray(257, 262).toString('latin1') === 'ustar';
}

type Compression = 'gzip' | 'zstd' | 'bzip2' | 'xz';

function compressionOf(head: Buffer): Compression | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return undefined;
}

/** A program's standard output as a stream that fails when the program does (or is missing). */
function programOutput(program: string, args: readonly string[], what: string, packageName: string): Readable {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let said = '';
  child.stderr.on('data', (chunk: Buffer) => (said = (said + chunk.toString()).slice(-400)));
  child.stdout.pipe(out, { end: false });
  child.on('error', (error: NodeJS.ErrnoException) => {
    out.destroy(error.code === 'ENOENT' ? new PolyarchError('UNSUPPORTED', `${what}: unpacking it needs the ${program} program (Debian package ${packageName})`) : error);
  });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else if (!out.destroyed) out.destroy(new PolyarchError('LAYOUT_INVALID', `${what}: ${program} could not decompress it (${said.trim().split('\n').at(-1) ?? `exit ${code}`})`));
  });
  // A reader that stops early (not a tar, a failed unpack, Ctrl-C) stops the program too.
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

function decompressed(path: string, compression: Compression): Readable {
  const what = `ADD ${basename(path)}`;
  if (compression === 'bzip2') return programOutput('bzip2', ['-dc', '--', path], what, 'bzip2');
  if (compression === 'xz') return programOutput('xz', ['-dc', '--', path], what, 'xz-utils');
  const file = createReadStream(path);
  const inflate = decompressor({ mediaType: compression === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayerZstd });
  file.on('error', (error) => inflate.destroy(error));
  inflate.on('close', () => file.destroy());
  return file.pipe(inflate);
}

/** Up to `size` bytes from the start of `stream`, put back so that reading it still starts there. */
async function peek(stream: Readable, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  while (have < size) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      parts.push(chunk);
      have += chunk.length;
      continue;
    }
    if (stream.readableEnded || stream.destroyed) break;
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error): void => {
        stream.off('readable', settle).off('end', settle).off('error', settle);
        if (error) reject(error);
        else resolve();
      };
      stream.on('readable', settle).on('end', settle).on('error', settle);
    });
  }
  const head = Buffer.concat(parts);
  if (head.length > 0) stream.unshift(head);
  return head.subarray(0, size);
}

/**
 * The plain tar a local ADD source holds, when it is an archive docker would unpack; undefined
 * for any other file (then it is copied as it is).
 */
export async function openAddArchive(path: string): Promise<Readable | undefined> {
  const handle = await open(path, 'r');
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(BLOCK);
    head = buffer.subarray(0, (await handle.read(buffer, 0, BLOCK, 0)).bytesRead);
  } finally {
    await handle.close();
  }
  if (isTarHeader(head)) return createReadStream(path);
  const compression = head.length >= 6 ? compressionOf(head) : undefined;
  if (!compression) return undefined;
  const stream = decompressed(path, compression);
  // Compressed, but a tar only if what it holds is one (docker's rule): else the file is copied.
  const inner = await peek(stream, BLOCK).catch((error: unknown) => {
    stream.destroy();
    // Bytes that do not even decompress are a file to copy, as docker copies them.
    if (error instanceof PolyarchError && error.code === 'UNSUPPORTED') throw error;
    return Buffer.alloc(0);
  });
  if (isTarHeader(inner)) return stream;
  stream.destroy();
  return undefined;
}
