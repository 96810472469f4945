// Extended attributes on disk. Node has no call for them, so Debian's `attr` programs do the work
// in batches: one `getfattr` for the files a step changed, one `setfattr --restore` for the files
// a layer wrote, never one process per file. Both act on the named path itself (-h), never on
// what a link there points to; callers pass paths whose directories are real (resolved inside the
// root). Without the programs, attributes are not kept.
//
// Which attributes cross a layer: `user.*` (plain data) and `security.capability` (file
// capabilities, what `setcap` sets: images such as ping's depend on it, as they do on setuid bits,
// which layers keep too). Never `trusted.*` (only a host administrator's to give, and read by host
// tools such as overlayfs), `security.selinux` and other LSM labels (the host's policy labels
// files, not a hostile image), or `system.*` (ACLs: an image gets plain modes).
import { spawn } from 'node:child_process';
import type { Xattrs } from './pax.js';

/**
 * Whether an attribute of this name is carried in layers and applied from them. `user.overlay.*`
 * is overlayfs's own metadata in a user namespace (whiteouts, opaque directories, redirects): a
 * layer must not be able to forge it.
 */
export function isKeptXattr(name: string): boolean {
  return (name.startsWith('user.') && name.length > 5 && !name.startsWith('user.overlay.')) || name === 'security.capability';
}

/** Only what the kernel lets this process set: file capabilities need root (CAP_SETFCAP). */
function isSettable(name: string): boolean {
  return name !== 'security.capability' || process.getuid?.() === 0;
}

/** getfattr's quoting of names in its dumps: octal escapes for control bytes, space, backslash and anything not ASCII. */
function quote(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text)) out += byte <= 0x20 || byte >= 0x7f || byte === 0x5c || byte === 0x3d ? `\\${byte.toString(8).padStart(3, '0')}` : String.fromCharCode(byte);
  return out;
}

function unquote(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const octal = text[i] === '\\' ? /^[0-7]{3}/.exec(text.slice(i + 1)) : null;
    if (octal) {
      bytes.push(Number.parseInt(octal[0], 8));
      i += 3;
    } else bytes.push(...Buffer.from(text[i]!));
  }
  return Buffer.from(bytes).toString('utf8');
}

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly missing: boolean;
}

function runAttr(program: string, args: readonly string[], input: string | undefined, signal: AbortSignal | undefined): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'ignore'], ...(signal ? { signal } : {}) });
    const out: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') resolve({ code: null, stdout: '', missing: true });
      else reject(error);
    });
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), missing: false }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Paths per getfattr run: well below the kernel's argument limit. */
const BATCH_BYTES = 512 << 10;

/**
 * The kept attributes of each path that has any (paths absolute, as given). Paths that vanished
 * or cannot hold attributes are left out.
 */
export async function readXattrs(paths: readonly string[], options: { readonly signal?: AbortSignal } = {}): Promise<Map<string, Xattrs>> {
  const found = new Map<string, Xattrs>();
  for (let start = 0; start < paths.length; ) {
    const batch: string[] = [];
    for (let bytes = 0; start < paths.length && (batch.length === 0 || bytes < BATCH_BYTES); start++) {
      batch.push(paths[start]!);
      bytes += Buffer.byteLength(paths[start]!) + 1;
    }
    // Exit status 1 only says some path had no attribute support or vanished; the dump is still whole.
    const ran = await runAttr('getfattr', ['-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', ...batch], undefined, options.signal);
    if (ran.missing) return found;
    let file: string | undefined;
    let attrs = new Map<string, Buffer>();
    for (const line of ran.stdout.split('\n')) {
      if (line.startsWith('# file: ')) {
        file = unquote(line.slice('# file: '.length));
        attrs = new Map();
        continue;
      }
      const value = /=0s([A-Za-z0-9+/]*={0,2})$/.exec(line);
      if (file === undefined || !value) continue;
      const name = unquote(line.slice(0, value.index));
      if (!isKeptXattr(name)) continue;
      attrs.set(name, Buffer.from(value[1]!, 'base64'));
      found.set(file, attrs);
    }
  }
  return found;
}

/**
 * Sets attributes on paths (absolute, their directories real; a link in the last place is not
 * followed). Best effort, as tar is: a file system without attribute support, or a kind the
 * kernel refuses for this process, leaves the files as they are.
 */
export async function writeXattrs(targets: ReadonlyMap<string, Xattrs>, options: { readonly signal?: AbortSignal } = {}): Promise<void> {
  let dump = '';
  for (const [path, attrs] of targets) {
    const lines = [...attrs].filter(([name]) => isKeptXattr(name) && isSettable(name)).map(([name, value]) => `${quote(name)}=0s${value.toString('base64')}\n`);
    if (lines.length > 0) dump += `# file: ${quote(path)}\n${lines.join('')}\n`;
  }
  if (dump === '') return;
  await runAttr('setfattr', ['-h', '--restore=-'], dump, options.signal);
}

/**
 * The directories of `paths` that overlayfs marks opaque in an upper or layer directory (they hide
 * what lower layers hold below them): `trusted.overlay.opaque` set to `y`. One getfattr for all.
 */
export async function readOpaqueDirs(paths: readonly string[], options: { readonly signal?: AbortSignal } = {}): Promise<Set<string>> {
  const found = new Set<string>();
  for (let start = 0; start < paths.length; ) {
    const batch: string[] = [];
    for (let bytes = 0; start < paths.length && (batch.length === 0 || bytes < BATCH_BYTES); start++) {
      batch.push(paths[start]!);
      bytes += Buffer.byteLength(paths[start]!) + 1;
    }
    // Exit status 1: some path has no such attribute; the others are still listed.
    const ran = await runAttr('getfattr', ['-h', '-n', OVERLAY_OPAQUE, '-e', 'text', '--absolute-names', '--', ...batch], undefined, options.signal);
    if (ran.missing) throw new Error('getfattr (Debian package attr) is not installed');
    let file: string | undefined;
    for (const line of ran.stdout.split('\n')) {
      if (line.startsWith('# file: ')) file = unquote(line.slice('# file: '.length));
      else if (file !== undefined && line === `${OVERLAY_OPAQUE}="y"`) found.add(file);
    }
  }
  return found;
}

const OVERLAY_OPAQUE = 'trusted.overlay.opaque';
