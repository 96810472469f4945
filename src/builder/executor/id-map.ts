// Subordinate ids for a step run by an ordinary user. /etc/subuid and /etc/subgid (shadow-utils'
// format, `user:start:count`, the user by name or by uid, several lines adding up) give the caller
// ranges of host ids it may map; newuidmap/newgidmap (Debian package uidmap, setuid) write them
// into a user namespace the caller made. Inside, 0 is the caller and 1..N the ranges in order, as
// rootless podman and buildah map them, so `chown`, a non-root USER and programs that drop to
// another user work for real, and the owners on disk are host ids of the ranges.
//
// The files are read as hostile: a malformed, empty, overflowing or foreign line is ignored, and
// no range ever reaches host id 0 or the caller's own id (the kernel refuses overlapping extents;
// the caller is already inside as 0).
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { PolyarchError } from '../../errors/polyarch-error.js';

/** Host ids [start, start + count). */
export interface IdRange {
  readonly start: number;
  readonly count: number;
}

/** One line of a uid_map or gid_map: `count` ids from `inside` onwards are `outside` onwards on the host. */
export interface IdExtent {
  readonly inside: number;
  readonly outside: number;
  readonly count: number;
}

/** The uid and gid maps of a step's user namespace, and the caller they were made for. */
export interface IdMap {
  readonly user: string;
  readonly uid: readonly IdExtent[];
  readonly gid: readonly IdExtent[];
}

/** Ids are 32 bits; 2^32 - 1 is (uid_t)-1, "no id", and never a real owner. */
const ID_LIMIT = 0xffff_ffff;
/** Extents per map every kernel takes (340 since Linux 4.15, 5 before); the caller's own id uses one. */
const MAX_EXTENTS = 5;
const DECIMAL = /^(0|[1-9][0-9]{0,9})$/;

/**
 * The ranges /etc/subuid (or /etc/subgid) text gives the user named `name` (if it has one) with
 * id `id`: lines naming it by name or by decimal id, in file order, overlaps removed, never host
 * id 0 nor `id` itself. Malformed lines (wrong field count, non-decimal or out-of-range numbers, a
 * zero count, a range past 2^32 - 1) and other users' lines are ignored.
 */
export function parseSubordinateIds(text: string, name: string | undefined, id: number): IdRange[] {
  const ranges: IdRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length !== 3) continue;
    const [owner, startText, countText] = fields as [string, string, string];
    if (owner !== name && owner !== String(id)) continue;
    if (!DECIMAL.test(startText) || !DECIMAL.test(countText)) continue;
    const start = Number(startText);
    const count = Number(countText);
    if (count === 0 || start + count > ID_LIMIT) continue;
    // What earlier lines, host root and the caller's own id do not already take, in pieces.
    let pieces: IdRange[] = [{ start, count }];
    for (const taken of [...ranges, { start: 0, count: 1 }, { start: id, count: 1 }]) pieces = pieces.flatMap((p) => subtract(p, taken));
    ranges.push(...pieces);
  }
  return ranges;
}

/** `range` without the ids of `taken`: nothing, one piece or two. */
function subtract(range: IdRange, taken: IdRange): IdRange[] {
  const end = range.start + range.count;
  const takenEnd = taken.start + taken.count;
  if (takenEnd <= range.start || taken.start >= end) return [range];
  const pieces: IdRange[] = [];
  if (taken.start > range.start) pieces.push({ start: range.start, count: taken.start - range.start });
  if (takenEnd < end) pieces.push({ start: takenEnd, count: end - takenEnd });
  return pieces;
}

/** The extents of a map: 0 is the caller's own id, 1.. the ranges in order (as many as the kernel takes). */
export function extentsFor(own: number, ranges: readonly IdRange[]): IdExtent[] {
  const extents: IdExtent[] = [{ inside: 0, outside: own, count: 1 }];
  let next = 1;
  for (const range of ranges.slice(0, MAX_EXTENTS - 1)) {
    const count = Math.min(range.count, ID_LIMIT - next);
    if (count <= 0) break;
    extents.push({ inside: next, outside: range.start, count });
    next += count;
  }
  return extents;
}

/** The host id of `inside`, or undefined when the map does not hold it. */
export function toHost(extents: readonly IdExtent[], inside: number): number | undefined {
  const e = extents.find((x) => inside >= x.inside && inside < x.inside + x.count);
  return e === undefined ? undefined : e.outside + (inside - e.inside);
}

/** The id inside of host id `outside`, or undefined when the map does not hold it. */
export function toInside(extents: readonly IdExtent[], outside: number): number | undefined {
  const e = extents.find((x) => outside >= x.outside && outside < x.outside + x.count);
  return e === undefined ? undefined : e.inside + (outside - e.outside);
}

/** How many ids the map holds inside (0..n-1). */
export function insideCount(extents: readonly IdExtent[]): number {
  return extents.reduce((n, e) => Math.max(n, e.inside + e.count), 0);
}

export interface SubordinateSources {
  /** Default /etc/subuid and /etc/subgid. */
  readonly subuidFile?: string;
  readonly subgidFile?: string;
  /** Default newuidmap and newgidmap, found on PATH. */
  readonly newuidmap?: string;
  readonly newgidmap?: string;
}

/**
 * The map for the calling ordinary user, or undefined (root; no passwd name, which newuidmap
 * needs; no newuidmap/newgidmap; no uid or no gid range): the step then maps only the caller.
 */
export async function callerIdMap(sources: SubordinateSources = {}): Promise<IdMap | undefined> {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === undefined || gid === undefined || uid === 0) return undefined;
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    return undefined; // no passwd entry: newuidmap could not tell who runs it
  }
  if (!(await onPath(sources.newuidmap ?? 'newuidmap')) || !(await onPath(sources.newgidmap ?? 'newgidmap'))) return undefined;
  const uids = parseSubordinateIds(await readFile(sources.subuidFile ?? '/etc/subuid', 'utf8').catch(() => ''), name, uid);
  const gids = parseSubordinateIds(await readFile(sources.subgidFile ?? '/etc/subgid', 'utf8').catch(() => ''), name, uid);
  if (uids.length === 0 || gids.length === 0) return undefined;
  return { user: name, uid: extentsFor(uid, uids), gid: extentsFor(gid, gids) };
}

/** Writes the map into the user namespace of process `pid` (made by the caller) with newuidmap and newgidmap. */
export async function writeIdMaps(map: IdMap, pid: number, sources: SubordinateSources = {}): Promise<void> {
  for (const [program, extents] of [
    [sources.newuidmap ?? 'newuidmap', map.uid],
    [sources.newgidmap ?? 'newgidmap', map.gid],
  ] as const) {
    const args = [String(pid), ...extents.flatMap((e) => [String(e.inside), String(e.outside), String(e.count)])];
    await runQuiet(program, args, `cannot map the subordinate ids of ${map.user} for a step`);
  }
}

/** Runs a program to its end and resolves with its standard output; a failure is one line quoting its last words. */
export function runQuiet(program: string, args: readonly string[], what: string, input?: string | Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2048)));
    child.once('error', (error) => reject(new PolyarchError('NOT_FOUND', `${what}: ${error.message}`)));
    if (input !== undefined && child.stdin !== null) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
    child.once('close', (code, signal) => {
      if (code === 0) return resolve(stdout);
      const why = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '').at(-1) ?? `${program} exited with ${code ?? signal}`;
      reject(new PolyarchError('UNKNOWN', `${what}: ${why}`));
    });
  });
}

async function onPath(program: string): Promise<boolean> {
  const candidates = program.includes('/') ? [program] : (process.env['PATH'] ?? '').split(':').filter((d) => d !== '').map((d) => join(d, program));
  for (const candidate of candidates) {
    if (await access(candidate, fsConstants.X_OK).then(() => true, () => false)) return true;
  }
  return false;
}
