// The part of an image's filesystem that decides which binaries it runs, read from its layers
// in one streamed pass each (nothing extracted, nothing written): every symbolic link, and for
// every regular file only what its first bytes say (ELF header, PE machine, `#!` line). Layers
// are read independently (so they can be read at once) and then stacked, whiteouts applied, as
// an overlay mount would. Paths are resolved here lexically, inside the image's root: a link
// can never lead outside it, and loops end after a bounded number of hops.
import type { Readable } from 'node:stream';
import type { Descriptor } from '../image/descriptor.js';
import { walkLayer } from '../layer/scan.js';
import { isElf, parseElf, type ElfParse } from './elf.js';
import { isMz, parsePe, type PeParse } from './pe.js';

/** Enough for the ELF header, its program headers and PT_INTERP in every toolchain's layout. */
const HEAD_BYTES = 8192;
/** The kernel reads at most this much of a `#!` line (BINPRM_BUF_SIZE). */
const SHEBANG_BYTES = 256;
/** Linux gives up after 40 links in one lookup (MAXSYMLINKS). */
export const MAX_LINK_HOPS = 40;
/** PATH_MAX: no longer link target resolves on Linux. */
const MAX_LINK_TARGET = 4096;

export interface ScriptInfo {
  readonly format: 'script';
  readonly interpreter: string;
  readonly argument?: string;
}

export type FileKind = ElfParse | PeParse | ScriptInfo | { readonly format: 'other' };

export type FileEntry = { readonly type: 'file'; readonly mode: number; readonly kind: FileKind } | { readonly type: 'symlink'; readonly target: string } | { readonly type: 'directory' };

/** In one layer's list: a hard link to a file of a lower layer, joined up when the layers are stacked. */
export type LayerEntry = FileEntry | { readonly type: 'hardlink'; readonly target: string };

export interface LayerFiles {
  readonly entries: ReadonlyMap<string, LayerEntry>;
  /** Paths this layer deletes from the layers below (`.wh.name`). */
  readonly whiteouts: readonly string[];
  /** Directories whose contents below this layer are hidden (`.wh..wh..opq`). */
  readonly opaques: readonly string[];
  /** True when the layer had more entries than the limit and the rest were not recorded. */
  readonly truncated: boolean;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** A path as a key: no leading `/`, no empty or `.` components, `..` clamped at the root. */
export function normalizeKey(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

function kindOf(head: Buffer): FileKind {
  if (isElf(head)) return parseElf(head);
  if (isMz(head)) return parsePe(head);
  if (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) {
    const first = head.subarray(2, SHEBANG_BYTES).toString('latin1').split('\n')[0] ?? '';
    const words = first.trim().split(/[ \t]+/);
    const interpreter = words[0] ?? '';
    const rest = first.trim().slice(interpreter.length).trim();
    if (interpreter !== '') return { format: 'script', interpreter, ...(rest !== '' ? { argument: rest } : {}) };
  }
  return { format: 'other' };
}

/**
 * The first `max` bytes of an entry; the rest is read and dropped (the tar stream must move on).
 * Plain 'data' events rather than an async iterator: most of a layer's bytes pass through here
 * unkept, and the iterator's per-chunk promises cost more than the reading.
 */
function headOf(content: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    content.on('data', (chunk: Buffer) => {
      if (kept >= max) return;
      const piece = chunk.subarray(0, max - kept);
      chunks.push(piece);
      kept += piece.length;
    });
    content.once('end', () => resolve(Buffer.concat(chunks, kept)));
    content.once('error', reject);
  });
}

async function drain(content: Readable): Promise<void> {
  await headOf(content, 0);
}

/** Reads one layer's stream (already verified against its digest by whoever opened it). */
export async function scanLayerFiles(
  content: Readable,
  layer: Pick<Descriptor, 'mediaType' | 'digest'>,
  options: { readonly maxEntries: number; readonly signal?: AbortSignal },
): Promise<LayerFiles> {
  const entries = new Map<string, LayerEntry>();
  const whiteouts: string[] = [];
  const opaques: string[] = [];
  let truncated = false;
  await walkLayer(
    content,
    layer,
    async (name, header, stream) => {
      const key = normalizeKey(name);
      const slash = key.lastIndexOf('/');
      const base = key.slice(slash + 1);
      const dir = slash < 0 ? '' : key.slice(0, slash);
      if (base === OPAQUE) opaques.push(dir);
      else if (base.startsWith(WHITEOUT)) whiteouts.push(normalizeKey(`${dir}/${base.slice(WHITEOUT.length)}`));
      else if (key !== '' && entries.size >= options.maxEntries && !entries.has(key)) truncated = true;
      else if (key !== '' && header.type === 'symlink') entries.set(key, { type: 'symlink', target: header.linkname ?? '' });
      else if (key !== '' && header.type === 'directory') entries.set(key, { type: 'directory' });
      else if (key !== '' && header.type === 'link') {
        // A hard link is the same file as an entry before it in this layer (or in a lower one, resolved on stacking).
        const target = normalizeKey(header.linkname ?? '');
        const same = entries.get(target);
        entries.set(key, same?.type === 'file' ? same : { type: 'hardlink', target });
      } else if (key !== '' && (header.type === 'file' || header.type === 'contiguous-file')) {
        entries.set(key, { type: 'file', mode: header.mode ?? 0, kind: kindOf(await headOf(stream, HEAD_BYTES)) });
        return;
      }
      await drain(stream);
    },
    options.signal ? { signal: options.signal } : {},
  );
  return { entries, whiteouts, opaques, truncated };
}

/** True when `key` is `root` or lies under it ('' is the image root). */
function isWithin(key: string, roots: ReadonlySet<string>, includeSelf: boolean): boolean {
  if (roots.has('')) return includeSelf || key !== '';
  if (includeSelf && roots.has(key)) return true;
  for (let slash = key.lastIndexOf('/'); slash > 0; slash = key.lastIndexOf('/', slash - 1)) {
    if (roots.has(key.slice(0, slash))) return true;
  }
  return false;
}

/** The files of an image: its layers stacked bottom to top. */
export class ImageFiles {
  readonly #entries = new Map<string, FileEntry>();
  truncated = false;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.#entries.size;
  }

  /** Stacks the next layer up: its deletions act on what is below, then its entries win. */
  add(layer: LayerFiles): void {
    if (layer.truncated) this.truncated = true;
    const deleted = new Set(layer.whiteouts);
    const emptied = new Set(layer.opaques);
    if (deleted.size > 0 || emptied.size > 0) {
      for (const key of [...this.#entries.keys()]) {
        if (isWithin(key, deleted, true) || isWithin(key, emptied, false)) this.#entries.delete(key);
      }
    }
    for (const [key, listed] of layer.entries) {
      const entry = listed.type === 'hardlink' ? this.#entries.get(listed.target) : listed;
      if (entry === undefined || (listed.type === 'hardlink' && entry.type !== 'file')) continue;
      if (!this.#entries.has(key) && this.#entries.size >= this.maxEntries) {
        this.truncated = true;
        continue;
      }
      const below = this.#entries.get(key);
      // A directory over a directory keeps what is in it; anything else replaces the path.
      if (entry.type === 'directory' && below?.type === 'directory') continue;
      this.#entries.set(key, entry);
    }
  }

  get(key: string): FileEntry | undefined {
    return this.#entries.get(key);
  }

  files(): IterableIterator<[string, FileEntry]> {
    return this.#entries.entries();
  }

  /**
   * Where `path` leads inside the image, following every symbolic link on the way (relative to
   * `cwd` when not absolute). `..` stops at the root, as in a chroot; more than MAX_LINK_HOPS links
   * is a loop. Returns the key of the final path (which may not exist) or why it cannot be walked.
   */
  resolve(path: string, cwd = ''): { readonly key: string } | { readonly error: string } {
    let pending = (path.startsWith('/') ? path : `${cwd}/${path}`).split('/');
    let resolved: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift() as string;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        resolved.pop();
        continue;
      }
      const key = resolved.length === 0 ? part : `${resolved.join('/')}/${part}`;
      const entry = this.#entries.get(key);
      if (entry?.type === 'symlink') {
        if (++hops > MAX_LINK_HOPS) return { error: `too many levels of symbolic links resolving ${path}` };
        if (entry.target === '' || entry.target.length > MAX_LINK_TARGET) return { error: `/${key} is a link with an unusable target (resolving ${path})` };
        if (entry.target.startsWith('/')) resolved = [];
        pending = [...entry.target.split('/'), ...pending];
        continue;
      }
      if (entry?.type === 'file' && pending.some((p) => p !== '' && p !== '.')) return { error: `/${key} is not a directory (resolving ${path})` };
      resolved.push(part);
    }
    return { key: resolved.join('/') };
  }
}
