// The one reader of an image's /etc/passwd and /etc/group, for USER (who a step runs as) and for
// `COPY --chown` names. Both files come from hostile images: they are opened inside the root (a
// link to the host's passwd resolves inside it), refused above a size bound instead of being read
// whole, and read line by line forgivingly (a malformed line is skipped, as libc's getpwent does);
// ids outside 0..2^32-2 are not ids ((uid_t)-1 means "unchanged" to the kernel).
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { PolyarchError } from '../errors/polyarch-error.js';
import { resolveInRoot } from '../internal/contained-path.js';

/** The most of /etc/passwd or /etc/group read (about 50 000 users); a larger one is refused. */
export const MAX_ID_FILE_BYTES = 4 * 1024 * 1024;
/** The largest valid id: 2^32-2. */
export const MAX_ID = 4294967294;

/** One line of /etc/passwd (passwd(5)): the fields a step needs. */
export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** One line of /etc/group (group(5)). */
export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** A decimal id in 0..2^32-2, or undefined (a sign, a space, hex, too many digits…). */
export function parseId(text: string): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const id = Number(text);
  return id <= MAX_ID ? id : undefined;
}

function lines(text: string): string[][] {
  return text
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('+') && !line.startsWith('-'))
    .map((line) => line.split(':'));
}

/** The valid lines of passwd text; the others are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const fields of lines(text)) {
    if (fields.length < 7) continue;
    const [name = '', , uidText = '', gidText = '', , home = ''] = fields;
    const uid = parseId(uidText);
    const gid = parseId(gidText);
    if (name === '' || uid === undefined || gid === undefined) continue;
    entries.push({ name, uid, gid, home });
  }
  return entries;
}

/** The valid lines of group text; the others are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const fields of lines(text)) {
    if (fields.length < 4) continue;
    const [name = '', , gidText = '', list = ''] = fields;
    const gid = parseId(gidText);
    if (name === '' || gid === undefined) continue;
    entries.push({ name, gid, members: list.split(',').filter((m) => m !== '') });
  }
  return entries;
}

/**
 * Reads an id file's text from an open handle, refusing one above MAX_ID_FILE_BYTES (judged by
 * what is read, not by the size stat reports: a file may grow while being read).
 */
async function readBounded(handle: FileHandle, what: string): Promise<string> {
  const buffer = Buffer.alloc(MAX_ID_FILE_BYTES + 1);
  let length = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
    if (length > MAX_ID_FILE_BYTES) {
      throw new PolyarchError('USAGE', `the image's ${what} is larger than ${MAX_ID_FILE_BYTES} bytes: refusing to read it`);
    }
  }
  return buffer.subarray(0, length).toString('utf8');
}

/**
 * The text of a regular file at a host path, bounded; undefined when it is anything else. Opened
 * without following a final link and without blocking, so a fifo in its place cannot hang the build.
 */
export async function readIdFileAt(hostPath: string, what: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return await readBounded(handle, what);
  } finally {
    await handle.close();
  }
}

/**
 * `/etc/passwd` or `/etc/group` of the root filesystem at `rootfs` (a trusted real path), every
 * link on the way resolved inside it. Undefined when the image has no such file: missing, a
 * directory or a device in its place, or a link loop.
 */
export async function readIdFile(rootfs: string, path: '/etc/passwd' | '/etc/group'): Promise<string | undefined> {
  const host = await resolveInRoot(rootfs, path, { followFinal: true }).catch(() => undefined);
  // resolveInRoot followed every link inside the root already; a final one left now is refused.
  return host === undefined ? undefined : readIdFileAt(host, path);
}

/** A step's identity inside the root, as docker derives it from USER. */
export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups: those /etc/group lists the user in, when USER names no group (runc's rule). */
  readonly groups: readonly number[];
  /** The home directory /etc/passwd gives, when the user is listed there (the caller may set HOME from it). */
  readonly home?: string;
}

/** Reads the id files a lookup needs, once each. */
export type IdFileReader = (path: '/etc/passwd' | '/etc/group') => Promise<string | undefined>;

/**
 * `uid[:gid]` or `name[:group]` as docker reads USER: names are looked up in the image's
 * /etc/passwd and /etc/group; a numeric uid absent from passwd gets gid 0; supplementary groups
 * come from /etc/group when USER names no group. An empty string is root.
 */
export async function lookupUser(user: string, read: IdFileReader): Promise<ResolvedUser> {
  const colon = user.indexOf(':');
  const userPart = colon < 0 ? user : user.slice(0, colon);
  const groupPart = colon < 0 ? undefined : user.slice(colon + 1);
  if (userPart === '' && (groupPart === undefined || groupPart === '')) {
    // No USER: root, with the groups and home the image lists root with (none without a passwd
    // entry: HOME is then /, as runc gives it); an image whose files cannot be read still runs as root.
    const root = await lookupUser('0', read).catch(() => undefined);
    return { uid: 0, gid: root?.gid ?? 0, groups: root?.groups ?? [], ...(root?.home !== undefined ? { home: root.home } : {}) };
  }
  if (userPart === '') throw new PolyarchError('USAGE', `cannot run as user ${JSON.stringify(user)}: no user before the ":"`);
  const numericUser = /^\d+$/.test(userPart) ? parseId(userPart) : undefined;
  if (/^\d+$/.test(userPart) && numericUser === undefined) {
    throw new PolyarchError('USAGE', `cannot run as user ${JSON.stringify(user)}: ids must be at most ${MAX_ID}`);
  }
  if (numericUser === undefined && !/^[^\s:/]+$/.test(userPart)) {
    throw new PolyarchError('USAGE', `cannot run as user ${JSON.stringify(user)}: not a name or an id in 0..${MAX_ID}`);
  }
  const passwd = parsePasswd((await read('/etc/passwd')) ?? '');
  const entry = passwd.find((e) => (numericUser === undefined ? e.name === userPart : e.uid === numericUser));
  if (entry === undefined && numericUser === undefined) {
    throw new PolyarchError('NOT_FOUND', `cannot run as user ${JSON.stringify(userPart)}: no such user in the image's /etc/passwd`);
  }
  const uid = numericUser ?? (entry as PasswdEntry).uid;
  let gid = entry?.gid ?? 0;
  let groups: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) {
      const id = parseId(groupPart);
      if (id === undefined) throw new PolyarchError('USAGE', `cannot run as user ${JSON.stringify(user)}: ids must be at most ${MAX_ID}`);
      gid = id;
    } else {
      const group = parseGroup((await read('/etc/group')) ?? '').find((g) => g.name === groupPart);
      if (group === undefined) throw new PolyarchError('NOT_FOUND', `cannot run as group ${JSON.stringify(groupPart)}: no such group in the image's /etc/group`);
      gid = group.gid;
    }
  } else if (entry !== undefined) {
    groups = [...new Set(parseGroup((await read('/etc/group')) ?? '').filter((g) => g.members.includes(entry.name)).map((g) => g.gid))];
  }
  const home = entry?.home;
  return home !== undefined && home !== '' ? { uid, gid, groups, home } : { uid, gid, groups };
}

/** lookupUser over the root filesystem at `rootfs` (a trusted real path; its files are not). */
export function resolveUser(rootfs: string, user: string): Promise<ResolvedUser> {
  return lookupUser(user, (path) => readIdFile(rootfs, path));
}

/** The owner `COPY --chown` names. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * The owner `--chown=user[:group]` names, as BuildKit reads it: numbers pass through, names are
 * looked up in the stage's /etc/passwd and /etc/group; a user without a group takes the same
 * number as its gid, as Docker documents. A string is an error for the caller to
 * put on the Dockerfile line.
 */
export async function lookupOwner(text: string, read: IdFileReader, label = `--chown=${text}`): Promise<Owner | string> {
  const colon = text.indexOf(':');
  const user = colon < 0 ? text : text.slice(0, colon);
  const group = colon < 0 ? undefined : text.slice(colon + 1);
  if (user === '' || group === '') return `${label}: needs user[:group]`;
  let uid: number;
  if (/^\d+$/.test(user)) {
    const id = parseId(user);
    if (id === undefined) return `${label}: ids must be at most ${MAX_ID}`;
    uid = id;
  } else {
    const entry = parsePasswd((await read('/etc/passwd')) ?? '').find((e) => e.name === user);
    if (entry === undefined) return `${label}: user "${user}" is not in the image's /etc/passwd`;
    uid = entry.uid;
  }
  if (group === undefined) return { uid, gid: uid };
  if (/^\d+$/.test(group)) {
    const id = parseId(group);
    return id === undefined ? `${label}: ids must be at most ${MAX_ID}` : { uid, gid: id };
  }
  const entry = parseGroup((await read('/etc/group')) ?? '').find((g) => g.name === group);
  return entry === undefined ? `${label}: group "${group}" is not in the image's /etc/group` : { uid, gid: entry.gid };
}
