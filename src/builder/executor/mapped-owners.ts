// A root unpacked by an ordinary user holds the caller's files only: the owners its layers name
// (a USER's home, `_apt`'s directories) are kept aside as recorded facts. With subordinate ids a
// step can see real owners, so before it runs each such path is given its owner's host id, from
// inside the namespace (only its root may chown to those ids). Only paths still the caller's are
// changed (a step or an earlier pass already set the others), only paths reached without a link
// (a step may have turned a parent into a link that leads out of the root), and only where the
// caller could still read them: the layer of the next step is read by the caller.
//
// After a step, what it left that the caller cannot read (a directory without r and x for others,
// a file without r, of a subordinate owner: apt's `partial` directories, a 0600 key) is handed back
// to the caller from inside the namespace, its mode kept, and its owner kept aside for the layer.
// Before layers are applied to a root by the caller, every file of another owner is handed back.
import { lstat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { resolveInRoot } from '../../internal/contained-path.js';
import { toHost, type IdMap } from './id-map.js';

/** Runs a command as root of the mapped namespace, `input` on its standard input; resolves with its standard output. */
export type InNamespace = (args: readonly string[], input?: string) => Promise<string>;

/** What runs inside: lchown each `[path, uid, gid, mode]` (ids inside), then put back the mode chown drops setuid bits from. */
const CHOWN_SCRIPT = [
  "const fs = require('node:fs');",
  "let text = '';",
  "process.stdin.on('data', (c) => (text += c));",
  "process.stdin.on('end', () => {",
  '  for (const [path, uid, gid, mode] of JSON.parse(text)) {',
  '    fs.lchownSync(path, uid, gid);',
  '    if (mode !== null) fs.chmodSync(path, mode);',
  '  }',
  '});',
].join('\n');

export async function giveRecordedOwners(
  rootfs: string,
  recorded: ReadonlyMap<string, { readonly mode: number; readonly uid: number; readonly gid: number }>,
  map: IdMap,
  inNamespace: InNamespace,
): Promise<void> {
  const callerUid = map.uid[0]?.outside;
  const callerGid = map.gid[0]?.outside;
  const changes: [string, number, number, number | null][] = [];
  for (const [rel, facts] of recorded) {
    if (facts.uid === 0 && facts.gid === 0) continue;
    const hostUid = toHost(map.uid, facts.uid);
    const hostGid = toHost(map.gid, facts.gid);
    if (hostUid === undefined || hostGid === undefined) continue; // beyond the ranges: stays the caller's (root inside)
    const path = join(rootfs, posix.normalize(rel));
    // The parent reached without any link, or the path is left alone.
    const parent = await resolveInRoot(rootfs, posix.dirname(posix.normalize('/' + rel)), { followFinal: true }).catch(() => undefined);
    if (parent !== dirname(path)) continue;
    const now = await lstat(path).catch(() => undefined);
    if (now === undefined || now.uid !== callerUid || now.gid !== callerGid) continue;
    if (!readableByOthers(now.isDirectory(), now.mode) && !now.isSymbolicLink()) continue; // the caller reads it for the next layer
    changes.push([path, facts.uid, facts.gid, now.isSymbolicLink() ? null : now.mode & 0o7777]);
  }
  if (changes.length === 0) return;
  await inNamespace([process.execPath, '-e', CHOWN_SCRIPT], JSON.stringify(changes));
}

/** Whether a path of another owner is readable by the caller: r and x on a directory, r on anything else. */
function readableByOthers(directory: boolean, mode: number): boolean {
  return directory ? (mode & 0o005) === 0o005 : (mode & 0o004) === 0o004;
}

/** Paths of an owner other than the caller (0 inside) that are not links, and of them the ones others cannot read (r and x on a directory, r on anything else). */
const OTHER_OWNERS = ['-mindepth', '1', '!', '-type', 'l', '!', '-uid', '0'];
const UNREADABLE = ['(', '(', '-type', 'd', '!', '-perm', '-005', ')', '-o', '(', '!', '-type', 'd', '!', '-perm', '-004', ')', ')'];

/**
 * Finds (inside, so every path can be reached) the paths below the root that `which` names, hands
 * each to 0:0 with its mode put back (chown drops setuid bits), and returns their owners inside by
 * path relative to the root. Node starts inside only when there is something to change.
 */
async function handBack(rootfs: string, which: 'unreadable' | 'all', inNamespace: InNamespace): Promise<Map<string, { uid: number; gid: number }>> {
  const listing = await inNamespace(['find', rootfs, ...OTHER_OWNERS, ...(which === 'unreadable' ? UNREADABLE : []), '-printf', '%U %G %m %P\\0']);
  const kept = new Map<string, { uid: number; gid: number }>();
  const changes: [string, number, number, number][] = [];
  for (const line of listing.split('\0')) {
    const match = /^(\d+) (\d+) ([0-7]+) (.+)$/s.exec(line);
    if (match === null) continue;
    const [, uid, gid, mode, rel] = match as unknown as [string, string, string, string, string];
    kept.set(rel, { uid: Number(uid), gid: Number(gid) });
    changes.push([join(rootfs, rel), 0, 0, parseInt(mode, 8)]);
  }
  if (changes.length > 0) await inNamespace([process.execPath, '-e', CHOWN_SCRIPT], JSON.stringify(changes));
  return kept;
}

/**
 * Hands what a step left unreadable to the caller back to it (see the top of this file) and
 * returns the owners inside it had, by path relative to the root.
 */
export async function handBackUnreadable(rootfs: string, inNamespace: InNamespace): Promise<Map<string, { uid: number; gid: number }>> {
  return handBack(rootfs, 'unreadable', inNamespace);
}

/**
 * Hands every file of another owner below the root back to the caller, modes kept, before layers
 * are applied to it by the caller (COPY into a directory a step gave to a USER). Their owners are
 * in the root's recorded facts, and the next step gets them back (giveRecordedOwners).
 */
export async function handBackAll(rootfs: string, inNamespace: InNamespace): Promise<void> {
  await handBack(rootfs, 'all', inNamespace);
}
