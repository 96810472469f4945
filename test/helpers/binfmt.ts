// Makes the kernel run foreign binaries for the tests: binfmt_misc mounted, and the qemu-user
// handlers that Debian's qemu-user-static describes in /usr/share/binfmts registered and enabled
// (with the fix-binary flag F, the kernel opens the interpreter at registration, so a sandboxed
// step needs nothing of qemu in its root). i386 gets a handler only when the kernel cannot run
// i386 binaries itself (some x86-64 kernels are built or booted without 32-bit support).
// Root only; changes machine-wide state, as .ci/run does before the tests.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';
const DESCRIPTIONS = '/usr/share/binfmts';

/** The qemu handler each Debian architecture needs on an x86-64 host. */
export const QEMU_HANDLERS: Readonly<Record<string, string>> = {
  arm64: 'qemu-aarch64',
  armhf: 'qemu-arm',
  armel: 'qemu-arm',
  ppc64el: 'qemu-ppc64le',
  s390x: 'qemu-s390x',
  i386: 'qemu-i386',
};

// qemu's scripts/qemu-binfmt-conf.sh i386 entry (Debian ships no description for it on amd64).
const I386_MAGIC = '\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x03\\x00';
const I386_MASK = '\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff';

function fail(why: string): never {
  throw new Error(`cannot prepare binfmt_misc for the tests: ${why}`);
}

export function ensureBinfmtMounted(): void {
  if (existsSync(join(BINFMT_DIR, 'register'))) return;
  const mounted = spawnSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT_DIR], { encoding: 'utf8' });
  if (mounted.status !== 0) fail(`mount -t binfmt_misc binfmt_misc ${BINFMT_DIR}: ${(mounted.stderr || String(mounted.error)).trim()} (run as root)`);
}

function enabled(name: string): boolean {
  const path = join(BINFMT_DIR, name);
  return existsSync(path) && readFileSync(path, 'utf8').startsWith('enabled');
}

function register(line: string, name: string): void {
  try {
    writeFileSync(join(BINFMT_DIR, 'register'), line);
  } catch (error) {
    if (!existsSync(join(BINFMT_DIR, name))) fail(`registering ${name}: ${String(error)}`);
  }
  if (!enabled(name)) writeFileSync(join(BINFMT_DIR, name), '1');
}

/** Registers (or re-enables) the handler `name` from Debian's description of it. */
export function ensureQemuHandler(name: string): void {
  ensureBinfmtMounted();
  if (enabled(name)) return;
  if (existsSync(join(BINFMT_DIR, name))) {
    writeFileSync(join(BINFMT_DIR, name), '1');
    return;
  }
  const description = join(DESCRIPTIONS, name);
  if (!existsSync(description)) fail(`${description} is missing: install the Debian package qemu-user-static`);
  const fields = new Map(
    readFileSync(description, 'utf8')
      .split('\n')
      .map((line) => line.trim().split(/\s+/, 2) as [string, string | undefined])
      .filter(([key, value]) => key !== '' && value !== undefined) as [string, string][],
  );
  const flags = (fields.get('fix_binary') === 'yes' ? 'F' : '') + (fields.get('preserve') === 'yes' ? 'P' : '') + (fields.get('credentials') === 'yes' ? 'C' : '');
  const line = `:${name}:M:${fields.get('offset') ?? ''}:${fields.get('magic') ?? ''}:${fields.get('mask') ?? ''}:${fields.get('interpreter') ?? ''}:${flags}`;
  register(line, name);
}

/** True when the kernel runs `binary` (a static i386 program) directly, without any handler. */
function kernelRunsI386(binary: string): boolean {
  const result = spawnSync(binary, ['true']);
  return result.error === undefined && result.status === 0;
}

/**
 * Makes i386 binaries runnable: nothing to do where the kernel runs them (or a handler exists),
 * else a qemu-i386 handler with the F flag. `busybox` is a static i386 busybox to try with.
 */
export function ensureI386(busybox: string): 'native' | 'qemu' {
  ensureBinfmtMounted();
  if (enabled('qemu-i386')) return 'qemu';
  if (kernelRunsI386(busybox)) return 'native';
  if (!existsSync('/usr/bin/qemu-i386-static')) fail('/usr/bin/qemu-i386-static is missing: install the Debian package qemu-user-static');
  register(`:qemu-i386:M::${I386_MAGIC}:${I386_MASK}:/usr/bin/qemu-i386-static:F`, 'qemu-i386');
  if (!kernelRunsI386(busybox)) fail('i386 binaries still do not run after registering qemu-i386');
  return 'qemu';
}
