// `--output type=local|tar`: an image's filesystem, its layers applied in order (OCI whiteouts
// honoured), written into a directory or a tar. Entries that would leave the destination are refused.
import { createWriteStream } from 'node:fs';
import { chmod, link, mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract, type Header } from 'tar-stream';
import type { Readable } from 'node:stream';
import { PolyarchError } from '../errors/polyarch-error.js';
import { decompressor } from './compression.js';
import type { Descriptor } from '../image/descriptor.js';

/** The destination path of a layer entry, or undefined when it would escape `root`. */
function inside(root: string, name: string): string | undefined {
  const path = resolve(root, name.replace(/^\/+/, ''));
  return path === root || path.startsWith(root + sep) ? path : undefined;
}

/** Mode and owner of each path a layer wrote, as its tar header gave them (the disk may not keep them). */
export type RecordedFacts = Map<string, { readonly mode: number; readonly uid: number; readonly gid: number }>;

async function applyEntry(root: string, header: Header, stream: Readable, record?: RecordedFacts): Promise<void> {
  const base = header.name.split('/').pop() ?? '';
  const target = inside(root, header.name);
  if (!target) {
    stream.resume();
    throw new PolyarchError('LAYOUT_INVALID', `layer entry ${JSON.stringify(header.name)} points outside the filesystem`);
  }
  if (base === '.wh..wh..opq') {
    // Opaque directory: what lower layers put there is gone.
    await rm(dirname(target), { recursive: true, force: true });
    await mkdir(dirname(target), { recursive: true });
    stream.resume();
    return;
  }
  if (base.startsWith('.wh.')) {
    await rm(join(dirname(target), base.slice(4)), { recursive: true, force: true });
    stream.resume();
    return;
  }
  await mkdir(dirname(target), { recursive: true });
  record?.set(target.slice(root.length + 1), { mode: (header.mode ?? 0o644) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0 });
  if (header.type === 'directory') {
    await mkdir(target, { recursive: true });
    stream.resume();
  } else if (header.type === 'symlink' && header.linkname) {
    await rm(target, { force: true });
    await symlink(header.linkname, target);
    stream.resume();
  } else if (header.type === 'file') {
    await rm(target, { recursive: true, force: true });
    await pipeline(stream, createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o777 }));
    await chmod(target, (header.mode ?? 0o644) & 0o777);
  } else if (header.type === 'link' && header.linkname) {
    // A hard link names an earlier entry of the same filesystem; one that leaves it is refused.
    const from = inside(root, header.linkname);
    stream.resume();
    if (!from) throw new PolyarchError('LAYOUT_INVALID', `layer entry ${JSON.stringify(header.name)} links outside the filesystem`);
    await rm(target, { recursive: true, force: true });
    await link(from, target);
  } else {
    stream.resume(); // devices and fifos: not needed for a rootfs export yet
  }
}

/** Applies one layer (verified stream from the store) onto `root`; `record` gathers each path's header facts. */
export async function applyLayer(root: string, layer: Descriptor, content: Readable, record?: RecordedFacts): Promise<void> {
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    applyEntry(root, header, stream as unknown as Readable, record).then(() => next(), (error: unknown) => tar.destroy(error as Error));
  });
  await pipeline(content, decompressor(layer), tar);
}
