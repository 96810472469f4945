// Base root filesystems for tests that run steps: Debian's static busybox for one architecture,
// with its applet links, a passwd/group naming root and one ordinary user (app, 1000:1000), and
// nothing else (no /proc, /dev or /etc/resolv.conf: the executor must provide and then remove them).
// The .deb is fetched once per machine into a cache directory ($POLYARCH_TEST_CACHE, or
// ~/.cache/polyarch-test) with `apt-get download`, so foreign architectures are added to dpkg first;
// .ci/run does that ahead of the tests.
import { spawnSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Debian architecture names, and what `uname -m` says inside (armel runs on qemu-arm's default v7 CPU). */
export const BUSYBOX_ARCHES = {
  amd64: { platform: 'linux/amd64', machine: 'x86_64' },
  arm64: { platform: 'linux/arm64', machine: 'aarch64' },
  armhf: { platform: 'linux/arm/v7', machine: 'armv7l' },
  armel: { platform: 'linux/arm/v5', machine: 'armv7l' },
  ppc64el: { platform: 'linux/ppc64le', machine: 'ppc64le' },
  s390x: { platform: 'linux/s390x', machine: 's390x' },
  i386: { platform: 'linux/386', machine: 'i686' },
} as const;

export type BusyboxArch = keyof typeof BUSYBOX_ARCHES;

/** The applets linked into /bin (busybox --install cannot run for a foreign architecture without binfmt). */
const APPLETS = [
  '[', 'ash', 'awk', 'basename', 'cat', 'chgrp', 'chmod', 'chown', 'cp', 'cut', 'date', 'dd', 'df', 'dirname', 'du', 'echo',
  'env', 'expr', 'false', 'find', 'grep', 'head', 'hostname', 'id', 'ifconfig', 'ip', 'kill', 'ln', 'ls', 'mkdir', 'mktemp',
  'mount', 'mv', 'nproc', 'printf', 'ps', 'pwd', 'readlink', 'realpath', 'rm', 'rmdir', 'sed', 'seq', 'sh', 'sleep', 'sort',
  'stat', 'tail', 'tee', 'test', 'touch', 'tr', 'true', 'uname', 'wc', 'which', 'whoami', 'xargs', 'yes',
];

export function testCacheDir(): string {
  return process.env.POLYARCH_TEST_CACHE ?? join(homedir(), '.cache', 'polyarch-test');
}

function run(program: string, args: readonly string[], cwd?: string): { ok: boolean; output: string } {
  const result = spawnSync(program, args, { cwd, encoding: 'utf8' });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`.trim();
  return { ok: result.status === 0, output };
}

function fail(arch: string, why: string): never {
  throw new Error(`cannot make the busybox test root for ${arch}: ${why}`);
}

/** Makes dpkg know `arch` (root only) and refreshes the package lists. */
function addDpkgArchitecture(arch: string): void {
  const native = run('dpkg', ['--print-architecture']).output;
  const foreign = run('dpkg', ['--print-foreign-architectures']).output.split('\n');
  if (arch === native || foreign.includes(arch)) return;
  if (process.getuid?.() !== 0) fail(arch, `dpkg does not know the architecture; run as root: dpkg --add-architecture ${arch} && apt-get update`);
  const added = run('dpkg', ['--add-architecture', arch]);
  if (!added.ok) fail(arch, `dpkg --add-architecture ${arch} failed: ${added.output}`);
  run('apt-get', ['-o', 'DPkg::Lock::Timeout=120', 'update']);
}

/** The cached busybox-static .deb for `arch`, downloaded when missing. */
function busyboxDeb(arch: BusyboxArch): string {
  const dir = join(testCacheDir(), 'busybox-static');
  const find = (): string | undefined => {
    if (!existsSync(dir)) return undefined;
    const names = spawnSync('ls', [dir], { encoding: 'utf8' }).stdout.split('\n');
    const name = names.find((n) => n.startsWith('busybox-static_') && n.endsWith(`_${arch}.deb`));
    return name === undefined ? undefined : join(dir, name);
  };
  const cached = find();
  if (cached !== undefined) return cached;
  spawnSync('mkdir', ['-p', dir]);
  addDpkgArchitecture(arch);
  // Downloading as root into a directory _apt cannot write makes apt warn; it works all the same.
  let got = run('apt-get', ['download', `busybox-static:${arch}`], dir);
  if (!got.ok) {
    run('apt-get', ['-o', 'DPkg::Lock::Timeout=120', 'update']);
    got = run('apt-get', ['download', `busybox-static:${arch}`], dir);
  }
  const deb = find();
  if (!got.ok || deb === undefined) fail(arch, `apt-get download busybox-static:${arch} failed: ${got.output.split('\n').at(-1) ?? ''}`);
  return deb;
}

/** The pristine cached root for `arch` (never write into it: take a copy with copyBusyboxRoot). */
export async function busyboxRoot(arch: BusyboxArch): Promise<string> {
  const roots = join(testCacheDir(), 'busybox-root');
  const final = join(roots, arch);
  if (existsSync(join(final, 'bin', 'busybox'))) return final;
  const deb = busyboxDeb(arch);
  await mkdir(roots, { recursive: true });
  const work = await mkdtemp(join(roots, `.${arch}-`));
  try {
    const unpacked = join(work, 'deb');
    const extracted = run('dpkg-deb', ['-x', deb, unpacked]);
    if (!extracted.ok) fail(arch, `dpkg-deb -x ${deb} failed: ${extracted.output}`);
    const root = join(work, 'root');
    await mkdir(join(root, 'bin'), { recursive: true });
    await cp(join(unpacked, 'bin', 'busybox'), join(root, 'bin', 'busybox'));
    await chmod(join(root, 'bin', 'busybox'), 0o755);
    for (const applet of APPLETS) await symlink('busybox', join(root, 'bin', applet));
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    await writeFile(join(root, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n');
    await mkdir(join(root, 'root'), { mode: 0o700 });
    await mkdir(join(root, 'home', 'app'), { recursive: true });
    spawnSync('chown', ['1000:1000', join(root, 'home', 'app')]);
    await mkdir(join(root, 'tmp'));
    await chmod(join(root, 'tmp'), 0o1777);
    try {
      await rename(root, final);
    } catch (error) {
      // Another test process finished first: its root is as good as ours.
      if (!existsSync(join(final, 'bin', 'busybox'))) throw error;
    }
    return final;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A private, writable copy of the busybox root for `arch` at `dir` (which must not exist yet). */
export async function copyBusyboxRoot(arch: BusyboxArch, dir: string): Promise<string> {
  const source = await busyboxRoot(arch);
  await cp(source, dir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  // cp does not keep owners; the fixture's one non-root directory gets its owner back.
  spawnSync('chown', ['1000:1000', join(dir, 'home', 'app')]);
  await chmod(join(dir, 'tmp'), 0o1777);
  return dir;
}
