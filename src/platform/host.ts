import { readFileSync } from 'node:fs';
import { endianness, machine, release } from 'node:os';
import type { Platform } from './platform.js';
import { normalizeArch, normalizePlatform } from './normalize.js';

export interface DetectHostOptions {
  /** Text of /proc/cpuinfo; read from disk only when absent and the arch is arm or arm64. */
  readonly cpuinfo?: string;
  /** A Node `process.arch` value (`x64`, `arm64`, …); defaults to `process.arch`. */
  readonly arch?: string;
  /** A Node `process.platform` value (`linux`, `darwin`, `win32`, …); defaults to `process.platform`. */
  readonly platform?: string;
  /** `uname -m` (e.g. `armv7l`), used when cpuinfo has no `CPU architecture` line; defaults to `os.machine()` only when cpuinfo is not given. */
  readonly machine?: string;
  /** Windows `os.version` (`10.0.20348`); defaults to `os.release()` when the host is Windows and `platform` is not given. */
  readonly osVersion?: string;
}

// Node's process.arch names → GOARCH names.
const NODE_ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  ia32: '386',
  arm: 'arm',
  arm64: 'arm64',
  ppc: 'ppc',
  s390: 's390',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

// Node's process.platform names → GOOS names.
const NODE_OS: Readonly<Record<string, string>> = {
  win32: 'windows',
  sunos: 'solaris',
};

function cpuinfoField(cpuinfo: string, name: string): string | undefined {
  for (const line of cpuinfo.split('\n')) {
    const parts = line.split(':');
    if (parts.length > 1 && (parts[0] ?? '').trim().toLowerCase() === name.toLowerCase()) return (parts[1] ?? '').trim();
  }
  return undefined;
}

// `uname -m` such as armv7l or aarch64 → the cpuinfo-style architecture number (containerd getCPUVariantFromArch).
function variantFromMachine(value: string): string | undefined {
  const lower = value.toLowerCase();
  if (lower === 'aarch64') return '8';
  const found = /^armv(\d)/.exec(lower);
  return found ? found[1] : undefined;
}

// cpuinfo "CPU architecture" value → variant (containerd cpuinfo_linux.go getCPUVariant).
function variantFromCpuArchitecture(value: string): string | undefined {
  switch (value.toLowerCase()) {
    case '8':
    case 'aarch64':
      return 'v8';
    case '7':
    case '7m':
    case '?(12)':
    case '?(13)':
    case '?(14)':
    case '?(15)':
    case '?(16)':
    case '?(17)':
      return 'v7';
    case '6':
    case '6tej':
      return 'v6';
    case '5':
    case '5t':
    case '5te':
    case '5tej':
      return 'v5';
    case '4':
    case '4t':
      return 'v4';
    case '3':
      return 'v3';
    default:
      return undefined;
  }
}

function armVariant(arch: string, options: DetectHostOptions): string | undefined {
  let cpuinfo = options.cpuinfo;
  if (cpuinfo === undefined) {
    try {
      cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      cpuinfo = '';
    }
  }
  let value = cpuinfoField(cpuinfo, 'CPU architecture');
  if (value === undefined) {
    // Emulated ARM (qemu-user on x86) has no such line; fall back to the machine name.
    const name = options.machine ?? (options.cpuinfo === undefined ? machine() : undefined);
    value = name === undefined ? undefined : variantFromMachine(name);
  }
  // ARMv6 Raspberry Pis report "7" because of a kernel quirk; the model name tells the truth.
  if (arch === 'arm' && value === '7' && (cpuinfoField(cpuinfo, 'model name') ?? '').toLowerCase().startsWith('armv6-compatible')) value = '6';
  return value === undefined ? undefined : variantFromCpuArchitecture(value);
}

/**
 * The platform this process runs on. The only function in platform/ that reads ambient state;
 * everything else takes the host as an argument, and only ops/ and cli/ call this as a default.
 * https://github.com/containerd/platforms/blob/main/defaults_unix.go (DefaultSpec)
 */
export function detectHostPlatform(options: DetectHostOptions = {}): Platform {
  const nodeArch = options.arch ?? process.arch;
  const nodeOs = options.platform ?? process.platform;
  const os = NODE_OS[nodeOs] ?? nodeOs;
  const architecture = nodeArch === 'ppc64' ? (endianness() === 'LE' ? 'ppc64le' : 'ppc64') : (NODE_ARCH[nodeArch] ?? normalizeArch(nodeArch, undefined).architecture);
  const variant = architecture === 'arm' || architecture === 'arm64' ? armVariant(architecture, options) : undefined;
  const osVersion = options.osVersion ?? (os === 'windows' && options.platform === undefined ? release() : undefined);
  return normalizePlatform({
    architecture,
    os,
    ...(variant !== undefined ? { variant } : {}),
    ...(osVersion ? { 'os.version': osVersion } : {}),
  });
}
