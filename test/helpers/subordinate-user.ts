// Dedicated ordinary accounts for tests of steps run with subordinate ids (newuidmap needs the
// caller to have a passwd name, so a bare uid is not enough): SUB_USER with one range in
// /etc/subuid and /etc/subgid, and PLAIN_USER with none. Made once per machine (useradd), their
// lines set when a test starts and kept afterwards (they name only these accounts): test files
// running side by side never take a range away from each other.
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { storeBaseIndex } from './base-images.js';
import { copyBusyboxRoot } from './busybox.js';
import { CLI_PATH } from './run-cli.js';
import { tempDir } from './temp-dir.js';

export const SUB_USER = 'polyarch-subids';
export const SUB_UID = 4343;
/** The account's host ranges: ids 1..SUB_COUNT inside are SUB_START.. on the host. */
export const SUB_START = 300000;
export const SUB_COUNT = 65536;
/** The account without subordinate ids. */
export const PLAIN_USER = 'polyarch-nosubids';
export const PLAIN_UID = 4344;

/** Makes both accounts (uid and gid of the same number) when missing, and sets their lines: one range for SUB_USER, none for PLAIN_USER. */
export async function ensureSubordinateUsers(): Promise<void> {
  for (const [name, id] of [
    [SUB_USER, SUB_UID],
    [PLAIN_USER, PLAIN_UID],
  ] as const) {
    if (spawnSync('getent', ['passwd', name]).status === 0) continue;
    if (spawnSync('getent', ['group', name]).status !== 0) spawnSync('groupadd', ['-g', String(id), name], { stdio: 'inherit' });
    const made = spawnSync('useradd', ['-M', '-N', '-u', String(id), '-g', String(id), '-d', '/nonexistent', '-s', '/usr/sbin/nologin', name], { stdio: 'inherit' });
    if (made.status !== 0) throw new Error(`useradd ${name} failed`);
  }
  const line = `${SUB_USER}:${SUB_START}:${SUB_COUNT}`;
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    // useradd may have given the accounts ranges of their own: only ours stays.
    const ours = (l: string) => [SUB_USER, String(SUB_UID), PLAIN_USER, String(PLAIN_UID)].some((owner) => l.startsWith(`${owner}:`));
    const others = text.split('\n').filter((l) => l !== '' && !ours(l));
    const wanted = [...others, line].map((l) => `${l}\n`).join('');
    if (wanted !== text) await writeFile(file, wanted);
  }
}

/** The CLI as an account (SUB_USER by default), with HOME, cache and temporary directory in `home` (which it must be able to write). */
export function runCliAsSubordinateUser(args: readonly string[], home: string, cwd: string, user = SUB_USER): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    'runuser',
    ['-u', user, '--', 'env', `HOME=${home}`, `XDG_CACHE_HOME=${join(home, 'cache')}`, `TMPDIR=${home}`, `PATH=${process.env['PATH'] ?? '/usr/bin:/bin'}`, process.execPath, CLI_PATH, ...args],
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

/**
 * The accounts made, and a directory SUB_USER owns holding an amd64 busybox image
 * (`image`, an OCI layout location) with `config`, and a home for runCliAsSubordinateUser.
 */
export async function subordinateWorkspace(prefix: string, config: Record<string, unknown>): Promise<{ dir: { path: string; remove: () => Promise<void> }; image: string; home: string }> {
  await ensureSubordinateUsers();
  const dir = await tempDir(prefix);
  await chmod(dir.path, 0o755);
  const root = await copyBusyboxRoot('amd64', join(dir.path, 'busybox'));
  const image = `oci:${join(dir.path, 'layout')}:img`;
  await storeBaseIndex(image, [{ platform: 'linux/amd64', dir: root }], { config });
  const home = join(dir.path, 'home');
  await mkdir(home);
  spawnSync('chown', ['-R', `${SUB_UID}:${SUB_UID}`, dir.path]);
  return { dir, image, home };
}
