// What a binary for a declared platform must look like, and the comparison. Only what the
// platform string pins down is compared: arm64 and amd64 variants (v8.x, v2/v3) are CPU features
// no header records; for 32-bit arm the float ABI is compared only where the variant fixes it
// (v7: hard-float as Debian armhf and Alpine armv7 build; v5: soft-float as Debian armel) and the
// binary's EABI flags state one (Go binaries, for one, leave both float bits clear).
import type { Platform } from '../platform/platform.js';
import { normalizePlatform } from '../platform/normalize.js';
import { ElfMachine, describeElf, type ArmFloatAbi, type ElfInfo } from './elf.js';
import { PeMachine, describePe, type PeInfo } from './pe.js';

export interface ExpectedElf {
  readonly bits: 32 | 64;
  readonly endian: 'little' | 'big';
  readonly machine: number;
  readonly armFloat?: ArmFloatAbi;
}

const LINUX_ARCHES: Readonly<Record<string, ExpectedElf>> = {
  amd64: { bits: 64, endian: 'little', machine: ElfMachine.X86_64 },
  '386': { bits: 32, endian: 'little', machine: ElfMachine.I386 },
  arm64: { bits: 64, endian: 'little', machine: ElfMachine.AARCH64 },
  arm: { bits: 32, endian: 'little', machine: ElfMachine.ARM },
  ppc64le: { bits: 64, endian: 'little', machine: ElfMachine.PPC64 },
  ppc64: { bits: 64, endian: 'big', machine: ElfMachine.PPC64 },
  s390x: { bits: 64, endian: 'big', machine: ElfMachine.S390 },
  riscv64: { bits: 64, endian: 'little', machine: ElfMachine.RISCV },
  mips64le: { bits: 64, endian: 'little', machine: ElfMachine.MIPS },
  mips64: { bits: 64, endian: 'big', machine: ElfMachine.MIPS },
  mipsle: { bits: 32, endian: 'little', machine: ElfMachine.MIPS },
  mips: { bits: 32, endian: 'big', machine: ElfMachine.MIPS },
  loong64: { bits: 64, endian: 'little', machine: ElfMachine.LOONGARCH },
};

const WINDOWS_ARCHES: Readonly<Record<string, number>> = {
  amd64: PeMachine.AMD64,
  '386': PeMachine.I386,
  arm64: PeMachine.ARM64,
  arm: PeMachine.ARMNT,
};

/** The ELF a Linux (or other ELF OS) platform runs, or undefined for an architecture polyarch does not know. */
export function expectedElf(platform: Platform): ExpectedElf | undefined {
  const p = normalizePlatform(platform);
  const base = LINUX_ARCHES[p.architecture];
  if (!base) return undefined;
  if (p.architecture === 'arm' && p.variant === 'v7') return { ...base, armFloat: 'hard' };
  if (p.architecture === 'arm' && p.variant === 'v5') return { ...base, armFloat: 'soft' };
  return base;
}

export function expectedPeMachine(platform: Platform): number | undefined {
  return WINDOWS_ARCHES[normalizePlatform(platform).architecture];
}

/** Why an ELF does not fit the expectation, or undefined when it fits. */
export function elfMismatch(info: ElfInfo, expected: ExpectedElf): string | undefined {
  const fits =
    info.bits === expected.bits &&
    info.endian === expected.endian &&
    info.machine === expected.machine &&
    (expected.armFloat === undefined || info.armFloat === undefined || info.armFloat === expected.armFloat);
  return fits ? undefined : `is ${describeElf(info)}, expected ${describeElf(expected)}`;
}

export function peMismatch(info: PeInfo, expected: number): string | undefined {
  return info.machine === expected ? undefined : `is ${describePe(info)}, expected ${describePe({ machine: expected })}`;
}

/** A one-line name for what a platform's binaries look like (for messages). */
export function describeExpected(platform: Platform): string | undefined {
  if (normalizePlatform(platform).os === 'windows') {
    const pe = expectedPeMachine(platform);
    return pe === undefined ? undefined : describePe({ machine: pe });
  }
  const elf = expectedElf(platform);
  return elf && describeElf(elf);
}
