// Which platforms this machine can run binaries of, and the binfmt_misc handlers that let the
// kernel hand foreign binaries to qemu-user. A RUN step for a foreign platform executes the
// image's own binaries inside a chroot, so it works only when the kernel finds a handler for
// them whose interpreter it opened at registration (the F flag): inside the chroot the
// interpreter's path does not exist.
// https://docs.kernel.org/admin-guide/binfmt-misc.html
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, chmod, lstat, mkdtemp, open, readFile, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { interruptible } from '../../errors/interrupted.js';
import { normalizePlatform } from '../../platform/normalize.js';
import { formatPlatform, type Platform } from '../../platform/platform.js';

/** How an architecture's programs are encoded and how one asks its kernel to exit. */
interface ArchSpec {
  /** GOARCH name. */
  readonly architecture: string;
  /** The variants that share this spec (arm/v5, v6, v7 run the same ELF). */
  readonly variants: readonly (string | undefined)[];
  /** qemu's name for the architecture: qemu-<qemu>-static, handler qemu-<qemu>. */
  readonly qemu: string;
  readonly elfClass: 32 | 64;
  readonly bigEndian: boolean;
  /** e_machine (ELF gABI, "Machine" table). */
  readonly machine: number;
  readonly flags: number;
  /** Instructions that end the process with the given exit status. */
  readonly code: (status: number) => Buffer;
  /** The binfmt_misc magic and mask, as hex (the way the kernel shows them). */
  readonly magic: string;
  readonly mask: string;
}

function words(bigEndian: boolean, values: readonly number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => (bigEndian ? out.writeUInt32BE(v >>> 0, i * 4) : out.writeUInt32LE(v >>> 0, i * 4)));
  return out;
}

function le32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value >>> 0);
  return out;
}

/**
 * The architectures polyarch builds for. Magic and mask are those of qemu's
 * scripts/qemu-binfmt-conf.sh (also used by tonistiigi/binfmt's cmd/binfmt/config.go and Debian's
 * /usr/share/binfmts/qemu-*): the ELF identification bytes, the e_type (ET_EXEC or ET_DYN) and
 * e_machine, with the OS ABI byte left free. The exit sequences call each kernel's exit
 * syscall: exit is 60 on x86-64, 1 on i386, arm (EABI, number in r7), ppc and s390, 93 on the
 * generic table (arm64, riscv64, loong64), 5058 on mips n64.
 */
const ARCHES: readonly ArchSpec[] = [
  {
    architecture: 'amd64', variants: [undefined], qemu: 'x86_64', elfClass: 64, bigEndian: false, machine: 62, flags: 0,
    // mov edi, status; mov eax, 60; syscall
    code: (s) => Buffer.concat([Buffer.from([0xbf]), le32(s), Buffer.from([0xb8, 60, 0, 0, 0, 0x0f, 0x05])]),
    magic: '7f454c460201010000000000000000000200' + '3e00', mask: 'fffffffffffefe00fffffffffffffffffeffffff',
  },
  {
    architecture: '386', variants: [undefined], qemu: 'i386', elfClass: 32, bigEndian: false, machine: 3, flags: 0,
    // mov ebx, status; mov eax, 1; int 0x80
    code: (s) => Buffer.concat([Buffer.from([0xbb]), le32(s), Buffer.from([0xb8, 1, 0, 0, 0, 0xcd, 0x80])]),
    magic: '7f454c460101010000000000000000000200' + '0300', mask: 'fffffffffffefe00fffffffffffffffffeffffff',
  },
  {
    architecture: 'arm64', variants: [undefined], qemu: 'aarch64', elfClass: 64, bigEndian: false, machine: 183, flags: 0,
    // movz x0, #status; movz x8, #93; svc #0
    code: (s) => words(false, [0xd2800000 | (s << 5), 0xd2800000 | (93 << 5) | 8, 0xd4000001]),
    magic: '7f454c460201010000000000000000000200' + 'b700', mask: 'ffffffffffffff00fffffffffffffffffeffffff',
  },
  {
    architecture: 'arm', variants: ['v7', 'v6', 'v5'], qemu: 'arm', elfClass: 32, bigEndian: false, machine: 40, flags: 0x05000000,
    // mov r0, #status; mov r7, #1; svc #0 (ARM state, EABI version 5 in e_flags)
    code: (s) => words(false, [0xe3a00000 | s, 0xe3a07001, 0xef000000]),
    magic: '7f454c460101010000000000000000000200' + '2800', mask: 'ffffffffffffff00fffffffffffffffffeffffff',
  },
  {
    architecture: 'ppc64le', variants: [undefined], qemu: 'ppc64le', elfClass: 64, bigEndian: false, machine: 21, flags: 2,
    // li r0, 1; li r3, status; sc (ELFv2 ABI in e_flags: the entry point is code, not a descriptor)
    code: (s) => words(false, [0x38000001, 0x38600000 | s, 0x44000002]),
    magic: '7f454c460201010000000000000000000200' + '1500', mask: 'ffffffffffffff00fffffffffffffffffeffff00',
  },
  {
    architecture: 's390x', variants: [undefined], qemu: 's390x', elfClass: 64, bigEndian: true, machine: 22, flags: 0,
    // lghi %r2, status; svc 1
    code: (s) => Buffer.from([0xa7, 0x29, (s >> 8) & 0xff, s & 0xff, 0x0a, 0x01]),
    magic: '7f454c460202010000000000000000000002' + '0016', mask: 'ffffffffffffff00fffffffffffffffffffeffff',
  },
  {
    architecture: 'riscv64', variants: [undefined], qemu: 'riscv64', elfClass: 64, bigEndian: false, machine: 243, flags: 0,
    // addi a0, zero, status; addi a7, zero, 93; ecall
    code: (s) => words(false, [(s << 20) | (10 << 7) | 0x13, (93 << 20) | (17 << 7) | 0x13, 0x00000073]),
    magic: '7f454c460201010000000000000000000200' + 'f300', mask: 'ffffffffffffff00fffffffffffffffffeffffff',
  },
  {
    architecture: 'mips64le', variants: [undefined], qemu: 'mips64el', elfClass: 64, bigEndian: false, machine: 8, flags: 0x80000000,
    // addiu a0, zero, status; addiu v0, zero, 5058; syscall (n64 ABI, MIPS64r2 in e_flags)
    code: (s) => words(false, [0x24040000 | s, 0x24020000 | 5058, 0x0000000c]),
    magic: '7f454c460201010000000000000000000200' + '0800', mask: 'ffffffffffffff0000fffffffffffffffeffffff',
  },
  {
    architecture: 'loong64', variants: [undefined], qemu: 'loongarch64', elfClass: 64, bigEndian: false, machine: 258, flags: 0x43,
    // addi.w a0, zero, status; addi.w a7, zero, 93; syscall 0 (LP64D, object ABI v1 in e_flags)
    code: (s) => words(false, [0x02800000 | (s << 10) | 4, 0x02800000 | (93 << 10) | 11, 0x002b0000]),
    magic: '7f454c460201010000000000000000000200' + '0201', mask: 'fffffffffffffffc00fffffffffffffffeffffff',
  },
];

/** Every platform whose emulation polyarch knows how to detect and register, in display order. */
export const EMULATION_PLATFORMS: readonly Platform[] = ARCHES.flatMap((a) =>
  a.variants.map((variant) => ({ os: 'linux', architecture: a.architecture, ...(variant ? { variant } : {}) })),
);

function specFor(platform: Platform): ArchSpec | undefined {
  const p = normalizePlatform(platform);
  if (p.os !== 'linux') return undefined;
  // A variant (amd64/v3, arm/v8) needs the same executable format and the same handler.
  return ARCHES.find((a) => a.architecture === p.architecture);
}

/** The platforms of `platforms`, or every known one for 'all'; each must be one polyarch knows. */
function platformsOf(platforms: readonly Platform[] | 'all'): { platform: Platform; spec: ArchSpec }[] {
  const list = platforms === 'all' ? EMULATION_PLATFORMS : platforms;
  return list.map((platform) => {
    const spec = specFor(platform);
    if (!spec) {
      throw new PolyarchError(
        'INVALID_PLATFORM',
        `platform "${formatPlatform(platform)}": polyarch knows no emulation for it (known: ${EMULATION_PLATFORMS.map(formatPlatform).join(', ')})`,
      );
    }
    return { platform: normalizePlatform(platform), spec };
  });
}

const PROBE_BASE = 0x10000000;

export interface TinyElfOptions {
  /** The exit status the program ends with (0–255). */
  readonly exitStatus?: number;
  /**
   * Sets a byte of e_ident's padding that the kernel's own ELF loader ignores and that every
   * qemu handler's mask requires to be zero, so no handler claims the file: if it runs, the
   * kernel ran it natively.
   */
  readonly bypassHandlers?: boolean;
}

/**
 * A complete static ELF executable for `platform` whose only instructions end the process with
 * `exitStatus`: the ELF header, one PT_LOAD program header mapping the whole file read+execute,
 * and the code right after them.
 */
export function tinyElf(platform: Platform, options: TinyElfOptions = {}): Buffer {
  const spec = specFor(platform);
  if (!spec) throw new PolyarchError('INVALID_PLATFORM', `platform "${formatPlatform(platform)}": polyarch cannot make an executable for it`);
  const status = options.exitStatus ?? 0;
  if (!Number.isInteger(status) || status < 0 || status > 255) throw new PolyarchError('USAGE', `exit status ${status}: must be 0–255`);
  const is64 = spec.elfClass === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const code = spec.code(status);
  const size = ehsize + phentsize + code.length;
  const out = Buffer.alloc(size);
  const u16 = (v: number, at: number): number => (spec.bigEndian ? out.writeUInt16BE(v, at) : out.writeUInt16LE(v, at));
  const u32 = (v: number, at: number): number => (spec.bigEndian ? out.writeUInt32BE(v >>> 0, at) : out.writeUInt32LE(v >>> 0, at));
  const u64 = (v: number, at: number): number => (spec.bigEndian ? out.writeBigUInt64BE(BigInt(v), at) : out.writeBigUInt64LE(BigInt(v), at));
  const word = is64 ? u64 : u32;
  const entry = PROBE_BASE + ehsize + phentsize;
  // e_ident
  out.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, spec.bigEndian ? 2 : 1, 1], 0);
  if (options.bypassHandlers) out[15] = 1;
  u16(2, 16); // e_type ET_EXEC
  u16(spec.machine, 18);
  u32(1, 20); // e_version
  let at = 24;
  word(entry, at); // e_entry
  at += is64 ? 8 : 4;
  word(ehsize, at); // e_phoff
  at += is64 ? 8 : 4;
  word(0, at); // e_shoff
  at += is64 ? 8 : 4;
  u32(spec.flags, at);
  u16(ehsize, at + 4);
  u16(phentsize, at + 6);
  u16(1, at + 8); // e_phnum
  // e_shentsize, e_shnum, e_shstrndx stay 0
  const ph = ehsize;
  u32(1, ph); // PT_LOAD
  if (is64) {
    u32(5, ph + 4); // PF_R | PF_X
    u64(0, ph + 8); // p_offset
    u64(PROBE_BASE, ph + 16);
    u64(PROBE_BASE, ph + 24);
    u64(size, ph + 32);
    u64(size, ph + 40);
    u64(0x10000, ph + 48);
  } else {
    u32(0, ph + 4);
    u32(PROBE_BASE, ph + 8);
    u32(PROBE_BASE, ph + 12);
    u32(size, ph + 16);
    u32(size, ph + 20);
    u32(5, ph + 24);
    u32(0x10000, ph + 28);
  }
  code.copy(out, ehsize + phentsize);
  return out;
}

/**
 * One entry of /proc/sys/fs/binfmt_misc, as the kernel shows it.
 * https://docs.kernel.org/admin-guide/binfmt-misc.html
 */
export interface BinfmtHandler {
  readonly name: string;
  readonly enabled: boolean;
  readonly interpreter: string;
  /** The flag letters as the kernel lists them (`POCF`); empty when none. */
  readonly flags: string;
  /** F: the kernel opened the interpreter at registration, so it runs inside any chroot or namespace. */
  readonly fixBinary: boolean;
  /** Magic handlers match bytes at an offset; extension handlers match a file name suffix. */
  readonly kind: 'magic' | 'extension';
  readonly offset: number;
  /** Hex, as the kernel shows it; for an extension handler, the extension. */
  readonly magic: string;
  /** Hex; absent when the handler has no mask (every bit counts). */
  readonly mask?: string;
}

const HEX = /^(?:[0-9a-f]{2})+$/;

/**
 * Reads the text of one handler file (`enabled`, `interpreter …`, `flags: …`, `offset …`,
 * `magic …`, `mask …` or `extension .…`). Undefined when the text is not a handler: a kernel
 * that writes something else, a truncated read, or the `register`/`status` files.
 */
export function parseBinfmtHandler(name: string, text: string): BinfmtHandler | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const state = lines[0];
  if (state !== 'enabled' && state !== 'disabled') return undefined;
  let interpreter: string | undefined;
  let flags: string | undefined;
  let offset = 0;
  let magic: string | undefined;
  let mask: string | undefined;
  let extension: string | undefined;
  for (const line of lines.slice(1)) {
    const found = /^(interpreter|flags:|offset|magic|mask|extension)(?:\s+(.*))?$/.exec(line);
    if (!found) continue; // a field a later kernel may add
    const value = (found[2] ?? '').trim();
    switch (found[1]) {
      case 'interpreter':
        if (value === '') return undefined;
        interpreter = value;
        break;
      case 'flags:':
        if (!/^[A-Z]*$/.test(value)) return undefined;
        flags = value;
        break;
      case 'offset':
        if (!/^\d+$/.test(value) || Number(value) > 127) return undefined;
        offset = Number(value);
        break;
      case 'magic':
        if (!HEX.test(value)) return undefined;
        magic = value;
        break;
      case 'mask':
        if (!HEX.test(value)) return undefined;
        mask = value;
        break;
      case 'extension':
        if (value === '') return undefined;
        extension = value;
        break;
    }
  }
  if (interpreter === undefined || flags === undefined) return undefined;
  if ((magic === undefined) === (extension === undefined)) return undefined;
  if (mask !== undefined && (magic === undefined || mask.length !== magic.length)) return undefined;
  const common = { name, enabled: state === 'enabled', interpreter, flags, fixBinary: flags.includes('F') };
  if (extension !== undefined) return { ...common, kind: 'extension', offset: 0, magic: extension };
  return { ...common, kind: 'magic', offset, magic: magic as string, ...(mask !== undefined ? { mask } : {}) };
}

/** Whether the handler claims a file that starts with `header` (the kernel's rule: every masked bit equal). */
export function handlerMatches(handler: BinfmtHandler, header: Uint8Array): boolean {
  if (handler.kind !== 'magic') return false;
  const magic = Buffer.from(handler.magic, 'hex');
  const mask = handler.mask !== undefined ? Buffer.from(handler.mask, 'hex') : undefined;
  if (handler.offset + magic.length > header.length) return false;
  for (let i = 0; i < magic.length; i++) {
    const m = mask ? (mask[i] as number) : 0xff;
    if ((((header[handler.offset + i] as number) ^ (magic[i] as number)) & m) !== 0) return false;
  }
  return true;
}

export interface BinfmtOptions {
  /** Where procfs is mounted (default `/proc`); a directory laid out like it serves for tests. */
  readonly procRoot?: string;
  /** Where the probe executables are written (default: the system temp directory); must allow exec. */
  readonly tempDir?: string;
  readonly signal?: AbortSignal;
}

/** The state of binfmt_misc: not mounted, mounted but switched off (`status` is `disabled`), or on. */
export type BinfmtMiscState = 'unmounted' | 'disabled' | 'enabled';

/** How this machine runs one platform's programs. */
export interface EmulationStatus {
  readonly platform: Platform;
  /**
   * `native`: the kernel executes them itself; `emulated`: an enabled binfmt_misc handler claims
   * them and a program run through it really ends as it should (binfmt_misc is consulted before
   * the kernel's own ELF loader, so a handler wins even for an architecture the kernel could run);
   * `broken`: a handler claims them but a program run through it fails (its interpreter is
   * missing or is no emulator); `missing`: neither.
   */
  readonly status: 'native' | 'emulated' | 'missing' | 'broken';
  /** For `broken`: why the handler that claims the platform's programs does not run them. */
  readonly reason?: string;
  /** Whether the kernel itself executed the probe (whatever handlers say). */
  readonly kernel: boolean;
  /** The enabled handler that claims this platform's programs, when there is one. */
  readonly handler?: BinfmtHandler;
}

export interface EmulationReport {
  readonly binfmtMisc: BinfmtMiscState;
  readonly platforms: readonly EmulationStatus[];
  /** Every handler found, including disabled ones and those for other formats. */
  readonly handlers: readonly BinfmtHandler[];
}

function binfmtDir(options: BinfmtOptions): string {
  return join(options.procRoot ?? '/proc', 'sys', 'fs', 'binfmt_misc');
}

/** The handlers in binfmt_misc and its state; an unmounted or unreadable directory has none. */
export async function readBinfmtHandlers(options: BinfmtOptions = {}): Promise<{ state: BinfmtMiscState; handlers: BinfmtHandler[] }> {
  const dir = binfmtDir(options);
  let status: string;
  try {
    status = (await readFile(join(dir, 'status'), 'utf8')).trim();
  } catch {
    return { state: 'unmounted', handlers: [] };
  }
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { state: 'unmounted', handlers: [] };
  }
  const handlers: BinfmtHandler[] = [];
  for (const name of names.sort()) {
    if (name === 'register' || name === 'status') continue;
    options.signal?.throwIfAborted();
    let text: string;
    try {
      // binfmt_misc holds regular files only; anything else (a link in a directory laid out like it) is not a handler.
      if (!(await lstat(join(dir, name))).isFile()) continue;
      text = await readFile(join(dir, name), 'utf8');
    } catch {
      continue; // removed meanwhile
    }
    const handler = parseBinfmtHandler(name, text);
    if (handler) handlers.push(handler);
  }
  return { state: status === 'disabled' ? 'disabled' : 'enabled', handlers };
}

/**
 * What the probes' outcome depends on, as one hash: the kernel's boot, binfmt_misc's state, every
 * handler (magic, mask, flags, interpreter, enabled) and each interpreter file as it is on disk.
 * Reading it runs nothing; the same hash means a probe run now would see what the last one saw.
 */
export async function emulationFingerprint(options: BinfmtOptions = {}): Promise<string> {
  const boot = await readFile(join(options.procRoot ?? '/proc', 'sys', 'kernel', 'random', 'boot_id'), 'utf8').catch(() => '');
  const { state, handlers } = await readBinfmtHandlers(options);
  const interpreters = await Promise.all(
    handlers.map(async (h) => {
      const s = await stat(h.interpreter, { bigint: true }).catch(() => undefined);
      return [h.interpreter, s ? [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].map(String) : null];
    }),
  );
  return createHash('sha256').update(JSON.stringify([1, boot.trim(), state, handlers, interpreters])).digest('hex');
}

/** Runs a file and resolves with its exit status, or undefined when the kernel would not execute it. */
function execute(path: string, signal: AbortSignal | undefined): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, [], { stdio: 'ignore', ...(signal ? { signal } : {}) });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (signal?.aborted) reject(signal.reason as Error);
      else if (error.code === 'EACCES') {
        // Not the format: the directory refuses to execute anything (a noexec mount).
        reject(new PolyarchError('DENIED', `cannot execute a probe in ${dirname(path)} (EACCES, a noexec mount?): set TMPDIR to a directory that allows it`, { cause: error }));
      } else resolve(undefined); // ENOEXEC (unknown format), EINVAL, ENOENT (no interpreter)…
    });
    child.on('close', (code) => resolve(code ?? undefined));
  });
}

/** A status the probes end with that no shell or loader failure gives. */
const PROBE_STATUS = 42;

/**
 * Runs probes for real: for each spec, whether the kernel runs its handlers-bypassing ELF natively,
 * and for each spec in `claimed`, whether its plain ELF (the one a handler claims) ends with the
 * probe's status, i.e. whether the handler really runs programs.
 */
async function probeKernel(specs: readonly ArchSpec[], claimed: ReadonlySet<ArchSpec>, options: BinfmtOptions): Promise<{ native: Set<ArchSpec>; runs: Set<ArchSpec> }> {
  const dir = await mkdtemp(join(options.tempDir ?? tmpdir(), 'polyarch-probe-'));
  try {
    // Every file is written and closed before any runs: a child forked while another probe is
    // still open for writing would make that probe's exec fail with ETXTBSY.
    const probes: { spec: ArchSpec; path: string; through: boolean }[] = [];
    for (const spec of specs) {
      const platform: Platform = { os: 'linux', architecture: spec.architecture, ...(spec.variants[0] ? { variant: spec.variants[0] } : {}) };
      for (const through of claimed.has(spec) ? [false, true] : [false]) {
        const path = join(dir, `probe-${spec.architecture}${through ? '-handler' : ''}`);
        await writeFile(path, tinyElf(platform, { exitStatus: PROBE_STATUS, bypassHandlers: !through }), { mode: 0o700 });
        await chmod(path, 0o700);
        probes.push({ spec, path, through });
      }
    }
    const results = await Promise.all(probes.map(async (probe) => ({ ...probe, ok: (await execute(probe.path, options.signal)) === PROBE_STATUS })));
    return {
      native: new Set(results.filter((r) => r.ok && !r.through).map((r) => r.spec)),
      runs: new Set(results.filter((r) => r.ok && r.through).map((r) => r.spec)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The enabled handler that claims this architecture's executables, when binfmt_misc is on. */
function claimingHandler(spec: ArchSpec, handlers: readonly BinfmtHandler[], state: BinfmtMiscState): BinfmtHandler | undefined {
  if (state !== 'enabled') return undefined;
  const platform: Platform = { os: 'linux', architecture: spec.architecture, ...(spec.variants[0] ? { variant: spec.variants[0] } : {}) };
  const header = tinyElf(platform);
  return handlers.find((h) => h.enabled && handlerMatches(h, header));
}

export interface DetectEmulationOptions extends BinfmtOptions {
  /** The platforms to report on (default: every one polyarch knows, EMULATION_PLATFORMS). */
  readonly platforms?: readonly Platform[];
}

/**
 * How this machine runs each platform polyarch knows (or each of `platforms`): the kernel is
 * asked, by executing a tiny static program for that architecture, and binfmt_misc is read.
 *
 * {@includeCode ../../../examples/api/detectEmulation.ts#example}
 */
export async function detectEmulation(options: DetectEmulationOptions = {}): Promise<EmulationReport> {
  return interruptible(options.signal, () => detect(options));
}

async function detect(options: DetectEmulationOptions): Promise<EmulationReport> {
  const wanted = platformsOf(options.platforms ?? 'all');
  const { state, handlers } = await readBinfmtHandlers(options);
  const specs = [...new Set(wanted.map((w) => w.spec))];
  const claimed = new Set(specs.filter((spec) => claimingHandler(spec, handlers, state) !== undefined));
  // A handler is trusted only once a program run through it ended as it should.
  const { native, runs } = await probeKernel(specs, claimed, options);
  const platforms: EmulationStatus[] = [];
  for (const { platform, spec } of wanted) {
    const handler = claimingHandler(spec, handlers, state);
    const kernel = native.has(spec);
    if (!handler) {
      platforms.push({ platform, status: kernel ? 'native' : 'missing', kernel });
    } else if (runs.has(spec)) {
      platforms.push({ platform, status: 'emulated', kernel, handler });
    } else {
      const present = await exists(handler.interpreter);
      const reason = present ? `a program run through handler ${handler.name} fails` : `handler ${handler.name}'s interpreter ${handler.interpreter} is missing`;
      platforms.push({ platform, status: 'broken', kernel, handler, reason });
    }
  }
  return { binfmtMisc: state, handlers, platforms };
}

/** Why a platform's RUN steps cannot run here, or undefined when they can. */
function problemOf(status: EmulationStatus): string | undefined {
  if (status.status === 'native') return undefined;
  if (status.status === 'missing') return 'no binfmt_misc handler';
  if (status.status === 'broken') return status.reason ?? `handler ${status.handler?.name ?? '?'} does not run its programs`;
  if (!status.handler?.fixBinary) return `handler ${status.handler?.name ?? '?'} lacks the F flag`;
  return undefined;
}

export interface RequireEmulationOptions extends BinfmtOptions {
  /** The platforms whose programs must run here. */
  readonly platforms: readonly Platform[];
}

/**
 * Throws one line naming every platform of `platforms` this machine cannot run programs of (no
 * handler, or a handler without the F flag, which cannot work inside a chroot), and the fix.
 */
export async function requireEmulation(options: RequireEmulationOptions): Promise<void> {
  const report = await detectEmulation(options);
  const problems = report.platforms.flatMap((s) => {
    const why = problemOf(s);
    return why ? [{ name: formatPlatform(s.platform), why }] : [];
  });
  if (problems.length === 0) return;
  const list = problems.map((p) => `${p.name} (${p.why})`).join(', ');
  const names = problems.map((p) => p.name).join(',');
  const off = report.binfmtMisc === 'unmounted' ? '; binfmt_misc is not mounted' : report.binfmtMisc === 'disabled' ? '; binfmt_misc is disabled' : '';
  throw new PolyarchError(
    'EMULATION_MISSING',
    `cannot run programs for ${list} on this machine${off}: run "polyarch binfmt --install ${names}" as root, or "apt-get install qemu-user-static binfmt-support"`,
    { detail: report },
  );
}

export interface InstallEmulationOptions extends BinfmtOptions {
  /** The platforms to register handlers for, or `all` (those whose qemu binary is installed). */
  readonly platforms: readonly Platform[] | 'all';
  /** Where the static qemu binaries are (default `/usr/bin`, where Debian's qemu-user-static puts `qemu-<arch>-static`). */
  readonly qemuDir?: string;
}

/** What `installEmulation` did for one platform. */
export interface InstallResult {
  readonly platform: Platform;
  /** `native`: nothing to do; `present`: a handler with the F flag was there; `installed`: registered now; `no-qemu`: skipped for `all`, its qemu binary is not installed. */
  readonly action: 'native' | 'present' | 'installed' | 'no-qemu';
  readonly handler?: string;
}

function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new PolyarchError('DENIED', `${what} binfmt_misc handlers needs root: run it as root, or use update-binfmts (Debian binfmt-support)`);
  }
}

function deniedOr(error: unknown, what: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new PolyarchError('DENIED', `${what} binfmt_misc handlers needs root: run it as root, or use update-binfmts (Debian binfmt-support)`, { cause: error });
  }
  return error;
}

function run(command: string, args: readonly string[], signal: AbortSignal | undefined): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Mounts binfmt_misc where procfs expects it, unless it is there already. */
async function mountBinfmtMisc(options: BinfmtOptions): Promise<void> {
  const dir = binfmtDir(options);
  try {
    await access(join(dir, 'register'));
    return;
  } catch {
    // not mounted
  }
  let result: { code: number | null; stderr: string };
  try {
    result = await run('mount', ['-t', 'binfmt_misc', 'binfmt_misc', dir], options.signal);
  } catch (error) {
    throw new PolyarchError('EMULATION_MISSING', `cannot mount binfmt_misc at ${dir}: ${(error as Error).message}`, { cause: error });
  }
  if (result.code !== 0) {
    // util-linux ends with a hint to read dmesg; the reason is the line before it, after the path.
    const lines = result.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^dmesg\(1\)/.test(l));
    const why = lines.at(-1)?.replace(/^mount: [^:]*: /, '') ?? `mount exited with ${result.code}`;
    const kernel = /unknown filesystem type/i.test(why) ? ' (the kernel needs CONFIG_BINFMT_MISC)' : '';
    throw new PolyarchError('EMULATION_MISSING', `cannot mount binfmt_misc at ${dir}: ${why}${kernel}`);
  }
}

/** statfs f_type of binfmt_misc (include/uapi/linux/magic.h BINFMTFS_MAGIC). */
const BINFMTFS_MAGIC = 0x42494e4d;

/**
 * Writes `text` to an entry of binfmt_misc (`register`, or a handler's file): only when `dir` is a
 * mounted binfmt_misc, and never through a link, so nothing outside it is ever written.
 */
async function writeEntry(dir: string, name: string, text: string): Promise<void> {
  const facts = await statfs(dir).catch(() => undefined);
  if (facts?.type !== BINFMTFS_MAGIC) {
    throw new PolyarchError('DENIED', `refusing to write ${JSON.stringify(name)} in ${JSON.stringify(dir)}: it is not a mounted binfmt_misc`);
  }
  const handle = await open(join(dir, name), constants.O_WRONLY | constants.O_NOFOLLOW);
  try {
    await handle.write(text);
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The register line (`:name:type:offset:magic:mask:interpreter:flags`), every byte escaped. */
export function registerLine(name: string, spec: { readonly magic: string; readonly mask: string }, interpreter: string, flags: string): string {
  const escape = (hex: string): string => hex.replace(/../g, '\\x$&');
  return `:${name}:M:0:${escape(spec.magic)}:${escape(spec.mask)}:${interpreter}:${flags}`;
}

/**
 * Registers qemu-user handlers for `platforms` (or every known one) the way tonistiigi/binfmt
 * does: named `qemu-<arch>`, flags C and F (the interpreter is opened now, so it works inside
 * chroots and containers; credentials come from the binary). Platforms the kernel runs natively
 * and those with a working handler are left alone; an enabled handler without the F flag, or a
 * disabled one, is replaced. Mounts binfmt_misc first when needed. Needs root.
 */
export async function installEmulation(options: InstallEmulationOptions): Promise<InstallResult[]> {
  return interruptible(options.signal, () => install(options.platforms, options));
}

async function install(platforms: readonly Platform[] | 'all', options: InstallEmulationOptions): Promise<InstallResult[]> {
  const wanted = platformsOf(platforms);
  requireRoot('registering');
  const qemuDir = options.qemuDir ?? '/usr/bin';
  const interpreterOf = (spec: ArchSpec): string => join(qemuDir, `qemu-${spec.qemu}-static`);
  const available = new Map<ArchSpec, boolean>();
  for (const { spec } of wanted) if (!available.has(spec)) available.set(spec, await exists(interpreterOf(spec)));
  const absent = [...available].filter(([, ok]) => !ok).map(([spec]) => spec);
  if (platforms !== 'all' ? absent.length > 0 : absent.length === available.size) {
    const names = [...new Set(absent.map((s) => `qemu-${s.qemu}-static`))].join(', ');
    throw new PolyarchError('EMULATION_MISSING', `${names} not found in ${qemuDir}: install the Debian package qemu-user-static`);
  }
  await mountBinfmtMisc(options);
  const dir = binfmtDir(options);
  const report = await detectEmulation({ ...options, platforms: wanted.map((w) => w.platform) });
  const done = new Map<ArchSpec, InstallResult['action']>();
  const results: InstallResult[] = [];
  for (const [i, { platform, spec }] of wanted.entries()) {
    options.signal?.throwIfAborted();
    const status = report.platforms[i] as EmulationStatus;
    const name = `qemu-${spec.qemu}`;
    let action = done.get(spec);
    if (action === undefined) {
      if (status.kernel && status.status !== 'emulated') action = 'native';
      else if (status.status === 'emulated' && status.handler?.fixBinary) action = 'present';
      else if (!available.get(spec)) action = 'no-qemu';
      else {
        // A disabled handler of that name, or one without F that claims the same programs, goes first.
        for (const old of report.handlers) {
          if (old.name === name || (old.enabled && handlerMatches(old, tinyElf(platform)))) {
            await writeEntry(dir, old.name, '-1').catch((error: NodeJS.ErrnoException) => {
              if (error.code !== 'ENOENT') throw deniedOr(error, 'registering');
            });
          }
        }
        try {
          await writeEntry(dir, 'register', registerLine(name, spec, interpreterOf(spec), 'CF'));
          action = 'installed';
        } catch (error) {
          // Someone else registered it meanwhile: what is there counts.
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') action = 'present';
          else throw deniedOr(error, 'registering');
        }
      }
      done.set(spec, action);
    }
    results.push({ platform, action, ...(action === 'installed' || action === 'present' ? { handler: status.handler?.name ?? name } : {}) });
  }
  return results;
}

/** What `uninstallEmulation` removed for one platform (the handler names; empty when none was there). */
export interface UninstallResult {
  readonly platform: Platform;
  readonly removed: readonly string[];
}

export interface UninstallEmulationOptions extends BinfmtOptions {
  /** The platforms whose handlers go, or `all`. */
  readonly platforms: readonly Platform[] | 'all';
}

/**
 * Removes the handlers for `platforms` (or every known one): the one named `qemu-<arch>` and any
 * other that claims the platform's programs, by writing -1 to it. Needs root.
 */
export async function uninstallEmulation(options: UninstallEmulationOptions): Promise<UninstallResult[]> {
  return interruptible(options.signal, () => uninstall(options.platforms, options));
}

async function uninstall(platforms: readonly Platform[] | 'all', options: BinfmtOptions): Promise<UninstallResult[]> {
  const wanted = platformsOf(platforms);
  requireRoot('removing');
  const dir = binfmtDir(options);
  const { handlers } = await readBinfmtHandlers(options);
  const gone = new Set<string>();
  const results: UninstallResult[] = [];
  for (const { platform, spec } of wanted) {
    options.signal?.throwIfAborted();
    const header = tinyElf(platform);
    const removed: string[] = [];
    for (const handler of handlers) {
      if (handler.name !== `qemu-${spec.qemu}` && !handlerMatches(handler, header)) continue;
      if (!gone.has(handler.name)) {
        try {
          await writeEntry(dir, handler.name, '-1');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw deniedOr(error, 'removing');
        }
        gone.add(handler.name);
      }
      removed.push(handler.name);
    }
    results.push({ platform, removed });
  }
  return results;
}
