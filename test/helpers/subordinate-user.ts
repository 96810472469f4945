// A dedicated ordinary account for tests of steps run with subordinate ids: newuidmap needs the
// caller to have a passwd name, so a bare uid (setpriv --reuid) is not enough. Made once per
// machine (useradd), and its /etc/subuid and /etc/subgid lines added when missing; both are kept
// (they name only this account) so that tests running side by side never remove each other's.
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI_PATH } from './run-cli.js';

export const SUB_USER = 'polyarch-subids';
export const SUB_UID = 4343;
/** The account's host ranges: ids 1..SUB_COUNT inside are SUB_START.. on the host. */
export const SUB_START = 300000;
export const SUB_COUNT = 65536;

/** Makes the account (uid and gid SUB_UID) when the machine has none of that name. */
export function ensureSubordinateUser(): void {
  if (spawnSync('getent', ['passwd', SUB_USER]).status === 0) return;
  if (spawnSync('getent', ['group', SUB_USER]).status !== 0) spawnSync('groupadd', ['-g', String(SUB_UID), SUB_USER], { stdio: 'inherit' });
  const made = spawnSync('useradd', ['-M', '-N', '-u', String(SUB_UID), '-g', String(SUB_UID), '-d', '/nonexistent', '-s', '/usr/sbin/nologin', SUB_USER], { stdio: 'inherit' });
  if (made.status !== 0) throw new Error(`useradd ${SUB_USER} failed`);
}

const LINE = `${SUB_USER}:${SUB_START}:${SUB_COUNT}`;

/** Gives the account (true) its one range, or none (false), in /etc/subuid and /etc/subgid, leaving every other account's lines alone. */
export async function setSubordinateRanges(present: boolean): Promise<void> {
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    // useradd may have given the account a range of its own: only ours stays.
    const others = text.split('\n').filter((l) => l !== '' && !l.startsWith(`${SUB_USER}:`) && !l.startsWith(`${SUB_UID}:`));
    await writeFile(file, [...others, ...(present ? [LINE] : [])].map((l) => `${l}\n`).join(''));
  }
}

/** The CLI as the account, with HOME, cache and temporary directory in `home` (which it must own). */
export function runCliAsSubordinateUser(args: readonly string[], home: string, cwd: string): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    'runuser',
    ['-u', SUB_USER, '--', 'env', `HOME=${home}`, `XDG_CACHE_HOME=${join(home, 'cache')}`, `TMPDIR=${home}`, `PATH=${process.env['PATH'] ?? '/usr/bin:/bin'}`, process.execPath, CLI_PATH, ...args],
    { encoding: 'utf8', cwd },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Paths below `dir` owned by a host id of the account's subordinate range (uid or gid). */
export function filesOfSubordinateIds(dir: string): string[] {
  const range = (flag: string) => ['(', `-${flag}`, `+${SUB_START - 1}`, '-a', `-${flag}`, `-${SUB_START + SUB_COUNT}`, ')'];
  const out = spawnSync('find', [dir, ...range('uid'), '-o', ...range('gid')], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((l) => l !== '');
}
