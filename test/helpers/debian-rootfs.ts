// Debian root filesystems with a C compiler, for tests, examples and benches whose RUN steps compile:
// `mmdebstrap --variant=apt` makes each one through apt (a foreign architecture runs its maintainer
// scripts under the kernel's qemu handlers, about 4 minutes for arm64), once per machine and
// package list, kept as a tar in the test cache ($POLYARCH_TEST_CACHE or ~/.cache/polyarch-test).
// `.ci/run` makes them ahead of the tests with `node build/test/helpers/debian-rootfs.js`.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testCacheDir } from './busybox.js';

/** The Debian architectures the compiler roots exist for, with the platform each is. */
export const DEBIAN_ARCHES = { amd64: 'linux/amd64', arm64: 'linux/arm64' } as const;
export type DebianArch = keyof typeof DEBIAN_ARCHES;

/** gcc and libc headers everywhere; on amd64 also the arm64 cross compiler, for cross-compile builds. */
export function debianPackages(arch: DebianArch): string[] {
  return ['gcc', 'libc6-dev', ...(arch === 'amd64' ? ['gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross'] : [])];
}

const SUITE = 'bookworm';

function run(program: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => void (output = (output + chunk.toString('utf8')).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (error) => resolve({ code: 127, output: String(error) }));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/**
 * The cached rootfs tar for `arch` (an uncompressed tar of `/`, owners numeric), made with
 * mmdebstrap when missing. Fails naming the package to install when mmdebstrap is not there.
 */
export async function debianRootfsTar(arch: DebianArch): Promise<string> {
  const packages = debianPackages(arch);
  const key = createHash('sha256').update(JSON.stringify([SUITE, arch, packages])).digest('hex').slice(0, 12);
  const dir = join(testCacheDir(), 'debian-rootfs');
  const name = `${SUITE}-${arch}-${key}`;
  const final = join(dir, `${name}.tar`);
  if (existsSync(final)) return final;
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${name}-${process.pid}-${Date.now()}.tar`);
  process.stderr.write(`making the Debian ${SUITE} ${arch} root with mmdebstrap (minutes, once per machine) into ${final}\n`);
  // Test files run in parallel processes, and each may ask for the same root: flock(1) lets one
  // make it while the others wait, and the kernel drops the lock if its holder dies. Under the
  // lock nobody else writes, so temps of this root left by a killed run are removed first; a
  // root made while waiting is taken as it is.
  const script = [
    'final=$1 temp=$2 stale=$3; shift 3',
    '[ -e "$final" ] && exit 0',
    'rm -f "$stale"-*.tar',
    'mmdebstrap "$@" "$temp" || exit',
    'mv "$temp" "$final"',
  ].join('\n');
  const args = ['--quiet', '--variant=apt', `--architectures=${arch}`, `--include=${packages.join(',')}`, SUITE];
  try {
    const made = await run('flock', ['--exclusive', `${final}.lock`, 'sh', '-c', script, 'sh', final, temp, join(dir, `.${name}`), ...args]);
    if (made.code === 127) throw new Error('mmdebstrap is not installed: apt-get install mmdebstrap (and qemu-user-static binfmt-support for arm64)');
    if (made.code !== 0) throw new Error(`mmdebstrap for ${arch} failed (exit ${made.code}): ${made.output.trim().split('\n').slice(-5).join(' | ')}`);
    if (!existsSync(final)) throw new Error(`mmdebstrap for ${arch} left no ${final}`);
    return final;
  } finally {
    await rm(temp, { force: true });
  }
}

// `node build/test/helpers/debian-rootfs.js [ARCH…]` makes the roots ahead of the tests.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arches = (process.argv.length > 2 ? process.argv.slice(2) : Object.keys(DEBIAN_ARCHES)) as DebianArch[];
  for (const arch of arches) console.log(await debianRootfsTar(arch));
}
