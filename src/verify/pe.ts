// The PE/COFF `Machine` of a Windows executable, from its first bytes: the DOS header's
// e_lfanew points at `PE\0\0`, followed by the COFF header whose first field is Machine.
// e_lfanew is hostile: a pointer beyond the bytes read is reported, never followed.
// https://learn.microsoft.com/en-us/windows/win32/debug/pe-format

export const PeMachine = {
  I386: 0x14c,
  ARMNT: 0x1c4,
  AMD64: 0x8664,
  ARM64: 0xaa64,
} as const;

const NAMES: Readonly<Record<number, string>> = {
  [PeMachine.I386]: 'i386',
  [PeMachine.ARMNT]: 'ARMNT',
  [PeMachine.AMD64]: 'AMD64',
  [PeMachine.ARM64]: 'ARM64',
};

export interface PeInfo {
  readonly format: 'pe';
  readonly machine: number;
}

export type PeParse = PeInfo | { readonly format: 'pe-invalid'; readonly why: string };

export function isMz(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a;
}

export function parsePe(head: Buffer): PeParse {
  if (!isMz(head)) return { format: 'pe-invalid', why: 'no MZ signature' };
  if (head.length < 0x40) return { format: 'pe-invalid', why: `truncated DOS header (${head.length} bytes)` };
  const peOffset = head.readUInt32LE(0x3c);
  if (peOffset < 0x40 || peOffset + 6 > head.length) return { format: 'pe-invalid', why: `PE header offset ${peOffset} outside the ${head.length} bytes read` };
  if (head.readUInt32BE(peOffset) !== 0x50450000) return { format: 'pe-invalid', why: `no PE signature at offset ${peOffset}` };
  return { format: 'pe', machine: head.readUInt16LE(peOffset + 4) };
}

export function describePe(info: Pick<PeInfo, 'machine'>): string {
  return `PE ${NAMES[info.machine] ?? `machine 0x${info.machine.toString(16)}`}`;
}
