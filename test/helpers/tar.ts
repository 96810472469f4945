// Tars made in memory for tests: exact names, types and link targets (hostile ones stay hostile;
// nothing is cleaned), so tests can hand crafted archives and layers to the code under test.
import { createReadStream } from 'node:fs';
import { extract, pack, type Pack } from 'tar-stream';

export interface TarEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  readonly linkname?: string;
  /** A file's bytes; `content of NAME\n` when not given. */
  readonly content?: string | Buffer;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** The epoch when not given. */
  readonly mtime?: Date;
}

/** The bytes of a tar that `fill` writes into (it must not finalize it). */
export async function packToBuffer(fill: (tar: Pack) => Promise<void> | void): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    tar.on('end', resolve);
    tar.on('error', reject);
  });
  await fill(tar);
  tar.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A tar of `entries`, in order, exactly as named. */
export function tarOf(entries: readonly TarEntry[]): Promise<Buffer> {
  return packToBuffer(async (tar) => {
    for (const e of entries) {
      const type = e.type ?? 'file';
      const body = type === 'file' ? Buffer.from(e.content ?? `content of ${e.name}\n`) : undefined;
      const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644), mtime: e.mtime ?? new Date(0), uid: e.uid ?? 0, gid: e.gid ?? 0, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}), ...(body ? { size: body.length } : {}) };
      await new Promise<void>((resolve, reject) => {
        const callback = (error?: Error | null) => (error ? reject(error) : resolve());
        if (body) tar.entry(header, body, callback);
        else tar.entry(header, callback);
      });
    }
  });
}

/** Every member of a tar file, in order, with its bytes (test archives are a few MB). */
export async function tarMembers(file: string): Promise<{ name: string; bytes: Buffer }[]> {
  const members: { name: string; bytes: Buffer }[] = [];
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        members.push({ name: header.name, bytes: Buffer.concat(chunks) });
        next();
      });
    });
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  createReadStream(file).pipe(reader);
  await done;
  return members;
}
