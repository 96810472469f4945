// A root unpacked by an ordinary user holds the caller's files only: the owners its layers name
// (a USER's home, `_apt`'s directories) are kept aside as recorded facts. With subordinate ids a
// step can see real owners, so before it runs each such path is given its owner's host id, from
// inside the namespace (only its root may chown to those ids). Only paths still the caller's are
// changed (a step or an earlier pass already set the others), and only paths reached without a
// link: a step may have turned a parent into a link that leads out of the root.
import { lstat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { resolveInRoot } from '../../internal/contained-path.js';
import { toHost, type IdMap } from './id-map.js';

/** Runs a command as root of the mapped namespace, `input` on its standard input. */
export type InNamespace = (args: readonly string[], input?: string) => Promise<void>;

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
    changes.push([path, facts.uid, facts.gid, now.isSymbolicLink() ? null : now.mode & 0o7777]);
  }
  if (changes.length === 0) return;
  await inNamespace([process.execPath, '-e', CHOWN_SCRIPT], JSON.stringify(changes));
}
