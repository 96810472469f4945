// The ELF header fields that say which machine a binary runs on, read from the first bytes of a
// file (never the whole file). Every offset comes from hostile bytes: each read is bounds-checked,
// and a header that does not fit what was read is "truncated", not a crash.
// https://refspecs.linuxfoundation.org/elf/gabi4+/ch4.eheader.html

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** e_machine values polyarch knows by name (elf.h). */
export const ElfMachine = {
  I386: 3,
  MIPS: 8,
  PPC: 20,
  PPC64: 21,
  S390: 22,
  ARM: 40,
  X86_64: 62,
  AARCH64: 183,
  RISCV: 243,
  LOONGARCH: 258,
} as const;

const MACHINE_NAMES: Readonly<Record<number, string>> = {
  [ElfMachine.I386]: 'Intel 80386',
  [ElfMachine.MIPS]: 'MIPS',
  [ElfMachine.PPC]: 'PowerPC',
  [ElfMachine.PPC64]: 'PowerPC64',
  [ElfMachine.S390]: 'IBM S/390',
  [ElfMachine.ARM]: 'ARM',
  [ElfMachine.X86_64]: 'x86-64',
  [ElfMachine.AARCH64]: 'AArch64',
  [ElfMachine.RISCV]: 'RISC-V',
  [ElfMachine.LOONGARCH]: 'LoongArch',
};

/** ARM EABI e_flags: which float calling convention the binary was built for (arm ELF ABI §5.2). */
export const EF_ARM_ABI_FLOAT_SOFT = 0x200;
export const EF_ARM_ABI_FLOAT_HARD = 0x400;
const EF_ARM_EABIMASK = 0xff000000;

export type ArmFloatAbi = 'hard' | 'soft';

export interface ElfInfo {
  readonly format: 'elf';
  readonly bits: 32 | 64;
  readonly endian: 'little' | 'big';
  readonly machine: number;
  readonly flags: number;
  /** For ARM EABI binaries that say so; absent when the flags carry neither float bit. */
  readonly armFloat?: ArmFloatAbi;
  /** PT_INTERP: the dynamic loader's path; absent for static binaries. */
  readonly interpreter?: string;
  /** True when the program headers lay beyond the bytes read, so PT_INTERP could not be looked for. */
  readonly headersUnread?: boolean;
}

export type ElfParse = ElfInfo | { readonly format: 'elf-invalid'; readonly why: string };

const PT_INTERP = 3;
/** No loader path is longer than this (Linux's own limit is PATH_MAX; real ones are ~30 bytes). */
const MAX_INTERPRETER = 256;

export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head.subarray(0, 4).equals(ELF_MAGIC);
}

/** Parses the ELF identification, header and program headers found in `head` (a file's first bytes). */
export function parseElf(head: Buffer): ElfParse {
  if (!isElf(head)) return { format: 'elf-invalid', why: 'no ELF magic' };
  if (head.length < 52) return { format: 'elf-invalid', why: `truncated ELF header (${head.length} bytes)` };
  const cls = head[4];
  const data = head[5];
  if (cls !== 1 && cls !== 2) return { format: 'elf-invalid', why: `bad ELF class ${cls}` };
  if (data !== 1 && data !== 2) return { format: 'elf-invalid', why: `bad ELF data encoding ${data}` };
  const bits = cls === 1 ? 32 : 64;
  const endian = data === 1 ? 'little' : 'big';
  if (bits === 64 && head.length < 64) return { format: 'elf-invalid', why: `truncated ELF header (${head.length} bytes)` };
  const u16 = (at: number): number => (endian === 'little' ? head.readUInt16LE(at) : head.readUInt16BE(at));
  const u32 = (at: number): number => (endian === 'little' ? head.readUInt32LE(at) : head.readUInt32BE(at));
  // Offsets beyond 2^53 cannot be in the bytes we hold anyway; Number keeps the arithmetic simple.
  const u64 = (at: number): number => Number(endian === 'little' ? head.readBigUInt64LE(at) : head.readBigUInt64BE(at));
  const machine = u16(18);
  const flags = u32(bits === 32 ? 36 : 48);
  const phoff = bits === 32 ? u32(28) : u64(32);
  const phentsize = u16(bits === 32 ? 42 : 54);
  const phnum = u16(bits === 32 ? 44 : 56);
  const info = {
    format: 'elf' as const,
    bits: bits as 32 | 64,
    endian: endian as 'little' | 'big',
    machine,
    flags,
    ...(machine === ElfMachine.ARM ? armFloatOf(flags) : {}),
  };
  const minEntry = bits === 32 ? 32 : 56;
  if (phnum === 0) return info;
  if (phentsize < minEntry) return { format: 'elf-invalid', why: `program header entries of ${phentsize} bytes` };
  if (phoff + phentsize * phnum > head.length) return { ...info, headersUnread: true };
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (u32(at) !== PT_INTERP) continue;
    const offset = bits === 32 ? u32(at + 4) : u64(at + 8);
    const size = bits === 32 ? u32(at + 16) : u64(at + 32);
    if (size === 0 || size > MAX_INTERPRETER) return { format: 'elf-invalid', why: `PT_INTERP of ${size} bytes` };
    if (offset + size > head.length) return { ...info, headersUnread: true };
    const text = head.subarray(offset, offset + size).toString('latin1');
    const end = text.indexOf('\0');
    return { ...info, interpreter: end < 0 ? text : text.slice(0, end) };
  }
  return info;
}

function armFloatOf(flags: number): { armFloat?: ArmFloatAbi } {
  // The float bits mean this only in EABI version 5 headers; older ones used the bits otherwise.
  if ((flags & EF_ARM_EABIMASK) >>> 0 !== 0x05000000) return {};
  if (flags & EF_ARM_ABI_FLOAT_HARD) return { armFloat: 'hard' };
  if (flags & EF_ARM_ABI_FLOAT_SOFT) return { armFloat: 'soft' };
  return {};
}

/** `ELF 64-bit LSB x86-64`, as `file` would put it. */
export function describeElf(info: Pick<ElfInfo, 'bits' | 'endian' | 'machine' | 'armFloat'>): string {
  const name = MACHINE_NAMES[info.machine] ?? `machine ${info.machine}`;
  return `ELF ${info.bits}-bit ${info.endian === 'little' ? 'LSB' : 'MSB'} ${name}${info.armFloat ? ` ${info.armFloat}-float` : ''}`;
}
