// docker's local manifest-list store (`docker manifest create/annotate`), read and written in
// docker's own format so a list made by either tool can be finished by the other:
// `<config dir>/manifests/<list ref, file-safe>/<entry ref, file-safe>`, each file
// {"Ref", "Descriptor", "Raw" (base64 of the exact bytes), "SchemaV2Manifest"|"OCIManifest"}.
// https://github.com/docker/cli/blob/master/cli/manifest/store/store.go
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOfBytes, isDigest, type Digest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { rawFromBytes, type RawManifest } from '../image/raw-manifest.js';
import { isDockerMediaType } from '../mediatype/mediatype.js';
import type { Platform } from '../platform/platform.js';
import { writeFileAtomic } from './atomic-write.js';

export interface StoredEntry {
  /** The entry's image reference, as docker writes it (`host/repo:tag`). */
  readonly ref: string;
  readonly descriptor: Descriptor;
  readonly raw: RawManifest;
}

/**
 * How a reference becomes a file name. docker ≤ 28 writes `:` → `-`, `/` → `_`; a newer
 * docker/cli writes the reversible `%` and `#`. Both are read; a list is written in the naming
 * its directory already has, else the classic one.
 */
export type FileNaming = 'classic' | 'reversible';

const NAMINGS: readonly FileNaming[] = ['classic', 'reversible'];

/** docker's makeFilesafeName. */
export function filesafeName(ref: string, naming: FileNaming = 'classic'): string {
  return naming === 'classic' ? ref.replace(/:/g, '-').replace(/\//g, '_') : ref.replace(/:/g, '%').replace(/\//g, '#');
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** The list's directory and its naming; the classic name when there is none yet. */
export async function findListDir(root: string, listRef: string): Promise<{ dir: string; naming: FileNaming; exists: boolean }> {
  for (const naming of NAMINGS) {
    const dir = join(root, filesafeName(listRef, naming));
    if (await isDirectory(dir)) return { dir, naming, exists: true };
  }
  return { dir: join(root, filesafeName(listRef)), naming: 'classic', exists: false };
}

function invalid(where: string, why: string): PolyarchError {
  return new PolyarchError('LAYOUT_INVALID', `${where}: ${why}`);
}

// Index just past the JSON value starting at `i` (a string, object, array or bare literal).
function skipValue(text: string, i: number): number {
  const skipString = (at: number): number => {
    let j = at + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    return j + 1;
  };
  if (text[i] === '"') return skipString(i);
  if (text[i] === '{' || text[i] === '[') {
    let depth = 0;
    let j = i;
    while (j < text.length) {
      const c = text[j];
      if (c === '"') {
        j = skipString(j);
        continue;
      }
      if (c === '{' || c === '[') depth++;
      else if ((c === '}' || c === ']') && --depth === 0) return j + 1;
      j++;
    }
    return j;
  }
  let j = i;
  while (j < text.length && !',}] \t\r\n'.includes(text[j] as string)) j++;
  return j;
}

/** The exact text of a top-level member's value (the bytes a Go decoder keeps for a raw manifest). */
export function topLevelValueText(text: string, key: string): string | undefined {
  const ws = (i: number): number => {
    while (i < text.length && ' \t\r\n'.includes(text[i] as string)) i++;
    return i;
  };
  let i = ws(0);
  if (text[i] !== '{') return undefined;
  i = ws(i + 1);
  while (i < text.length && text[i] === '"') {
    const keyEnd = skipValue(text, i);
    const name = JSON.parse(text.slice(i, keyEnd)) as string;
    i = ws(keyEnd);
    if (text[i] !== ':') return undefined;
    const start = ws(i + 1);
    const end = skipValue(text, start);
    if (name === key) return text.slice(start, end);
    i = ws(end);
    if (text[i] === ',') i = ws(i + 1);
  }
  return undefined;
}

/** Go's json.Indent over compact JSON: how docker re-indents a stored manifest before pushing it. */
export function goIndent(compact: string, indent: string): string {
  let out = '';
  let level = 0;
  const newline = (): string => `\n${indent.repeat(level)}`;
  for (let i = 0; i < compact.length; i++) {
    const c = compact[i] as string;
    if (c === '"') {
      const end = skipValue(compact, i);
      out += compact.slice(i, end);
      i = end - 1;
    } else if (c === '{' || c === '[') {
      const close = compact[i + 1];
      if (close === (c === '{' ? '}' : ']')) {
        out += c + close;
        i++;
      } else {
        level++;
        out += c + newline();
      }
    } else if (c === '}' || c === ']') {
      level--;
      out += newline() + c;
    } else if (c === ',') out += c + newline();
    else if (c === ':') out += ': ';
    else if (!' \t\r\n'.includes(c)) out += c;
  }
  return out;
}

/**
 * The manifest bytes of a file without `Raw` (docker before it stored them): the embedded value as
 * written, or docker's re-indented form of it (what docker itself pushes), whichever has the digest.
 */
function embeddedBytes(text: string, key: string, digest: Digest, where: string): Buffer {
  const embedded = topLevelValueText(text, key);
  if (embedded === undefined) throw invalid(where, `has neither Raw nor ${key}`);
  const candidates = [embedded, goIndent(embedded, key === 'SchemaV2Manifest' ? '   ' : '  ')].map((t) => Buffer.from(t, 'utf8'));
  const match = candidates.find((bytes) => digestOfBytes(bytes) === digest);
  if (!match) throw invalid(where, `the stored manifest does not match its digest ${digest}; recreate the entry with "manifest create --amend"`);
  return match;
}

/** One stored file → entry; the bytes are checked against the recorded digest. */
export function parseStoredEntry(text: string, where: string): StoredEntry {
  let file: Record<string, unknown>;
  try {
    file = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new PolyarchError('LAYOUT_INVALID', `${where}: not valid JSON`, { cause: error });
  }
  const descriptor = (file.Descriptor ?? {}) as Partial<Descriptor>;
  // Files from older docker versions keep digest and platform at the top.
  const digest = (descriptor.digest || file.Digest) as string | undefined;
  const platform = (descriptor.platform ?? file.Platform) as Platform | undefined;
  const key = file.SchemaV2Manifest !== undefined && file.SchemaV2Manifest !== null ? 'SchemaV2Manifest' : 'OCIManifest';
  if (typeof file.Ref !== 'string' || !digest || !isDigest(digest)) {
    throw invalid(where, 'not a docker manifest-list entry (needs Ref, a digest and the manifest)');
  }
  const bytes = typeof file.Raw === 'string' && file.Raw !== '' ? Buffer.from(file.Raw, 'base64') : embeddedBytes(text, key, digest, where);
  const raw = rawFromBytes(bytes, { ...(descriptor.mediaType ? { mediaType: descriptor.mediaType } : {}), expected: digest, what: `${where} (${file.Ref})` });
  return {
    ref: file.Ref,
    descriptor: { mediaType: raw.mediaType, digest: raw.digest, size: raw.size, ...(platform && (platform.os || platform.architecture) ? { platform } : {}) },
    raw,
  };
}

/** The JSON object docker writes for an entry (and prints for `manifest inspect -v`). */
export function storedEntryDocument(entry: StoredEntry): Record<string, unknown> {
  const key = isDockerMediaType(entry.raw.mediaType) ? 'SchemaV2Manifest' : 'OCIManifest';
  return {
    Ref: entry.ref,
    Descriptor: { mediaType: entry.descriptor.mediaType, digest: entry.descriptor.digest, size: entry.descriptor.size, ...(entry.descriptor.platform ? { platform: entry.descriptor.platform } : {}) },
    Raw: entry.raw.bytes.toString('base64'),
    [key]: JSON.parse(entry.raw.bytes.toString('utf8')) as unknown,
  };
}

/** The file docker would write, with the manifest embedded verbatim so even a Raw-less reader keeps its digest. */
export function formatStoredEntry(entry: StoredEntry): string {
  const { SchemaV2Manifest: _v2, OCIManifest: _oci, ...head } = storedEntryDocument(entry);
  const key = isDockerMediaType(entry.raw.mediaType) ? 'SchemaV2Manifest' : 'OCIManifest';
  return `${JSON.stringify(head).slice(0, -1)},"${key}":${entry.raw.bytes.toString('utf8').trim()}}`;
}

/** The entries of a stored list in docker's order (file name order); undefined when there is no list. */
export async function readStoredList(root: string, listRef: string): Promise<StoredEntry[] | undefined> {
  const { dir, exists } = await findListDir(root, listRef);
  if (!exists) return undefined;
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  return Promise.all(names.map(async (name) => parseStoredEntry(await readFile(join(dir, name), 'utf8'), join(dir, name))));
}

export async function writeStoredEntry(root: string, listRef: string, entry: StoredEntry): Promise<void> {
  const { dir, naming } = await findListDir(root, listRef);
  await writeFileAtomic(join(dir, filesafeName(entry.ref, naming)), Buffer.from(formatStoredEntry(entry)));
}

export async function removeStoredEntry(root: string, listRef: string, entryRef: string): Promise<void> {
  const { dir, naming } = await findListDir(root, listRef);
  await rm(join(dir, filesafeName(entryRef, naming)), { force: true });
}

/** Deletes a stored list; false when there was none. */
export async function removeStoredList(root: string, listRef: string): Promise<boolean> {
  const { dir, exists } = await findListDir(root, listRef);
  await rm(dir, { recursive: true, force: true });
  return exists;
}
