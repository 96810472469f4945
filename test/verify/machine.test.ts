// The header reading and the platform table against Debian's real static busybox for all seven
// platforms: each binary fits its own platform and no other (armel's soft-float against armhf's
// hard-float included), and the parts a header does not pin down (arm64/amd64 variants) are not compared.
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePlatform } from '../../src/platform/platform.js';
import { parseElf, type ElfInfo } from '../../src/verify/elf.js';
import { elfMismatch, expectedElf } from '../../src/verify/machine.js';
import { BUSYBOX_ARCHES, busyboxRoot, type BusyboxArch } from '../helpers/busybox.js';

async function head(path: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(8192);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

test('each Debian busybox-static fits its own platform and no other', async () => {
  const arches = Object.keys(BUSYBOX_ARCHES) as BusyboxArch[];
  const headers = new Map<BusyboxArch, ElfInfo>();
  for (const arch of arches) {
    const parsed = parseElf(await head(join(await busyboxRoot(arch), 'bin', 'busybox')));
    assert.equal(parsed.format, 'elf', arch);
    headers.set(arch, parsed as ElfInfo);
  }
  assert.equal(headers.get('armhf')?.armFloat, 'hard');
  assert.equal(headers.get('armel')?.armFloat, 'soft');
  assert.equal(headers.get('amd64')?.interpreter, undefined, 'static: no PT_INTERP');
  for (const binary of arches) {
    for (const declared of arches) {
      const expected = expectedElf(parsePlatform(BUSYBOX_ARCHES[declared].platform));
      assert.ok(expected, declared);
      const mismatch = elfMismatch(headers.get(binary) as ElfInfo, expected);
      if (binary === declared) assert.equal(mismatch, undefined, `${binary} on its own platform`);
      else assert.match(mismatch ?? '', /^is ELF .* expected ELF /, `${binary} labelled ${BUSYBOX_ARCHES[declared].platform}`);
    }
  }
  // Variants no header records are not compared; arm/v6 takes either float ABI.
  assert.equal(elfMismatch(headers.get('arm64') as ElfInfo, expectedElf(parsePlatform('linux/arm64/v8.2'))!), undefined);
  assert.equal(elfMismatch(headers.get('amd64') as ElfInfo, expectedElf(parsePlatform('linux/amd64/v3'))!), undefined);
  assert.equal(elfMismatch(headers.get('armel') as ElfInfo, expectedElf(parsePlatform('linux/arm/v6'))!), undefined);
  assert.equal(elfMismatch(headers.get('armhf') as ElfInfo, expectedElf(parsePlatform('linux/arm/v6'))!), undefined);
});

test('hostile headers are named, not followed', () => {
  const elf64 = (mutate: (b: Buffer) => void): Buffer => {
    const b = Buffer.alloc(64);
    b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    b.writeUInt16LE(62, 18);
    mutate(b);
    return b;
  };
  assert.deepEqual(parseElf(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2])), { format: 'elf-invalid', why: 'truncated ELF header (5 bytes)' });
  assert.equal(parseElf(elf64((b) => (b[4] = 9))).format, 'elf-invalid');
  // Program headers far beyond the bytes read: the header still says x86-64, PT_INTERP is unknown.
  const far = parseElf(
    elf64((b) => {
      b.writeBigUInt64LE(0xffffffffffffn, 32);
      b.writeUInt16LE(56, 54);
      b.writeUInt16LE(0xffff, 56);
    }),
  );
  assert.deepEqual(far, { format: 'elf', bits: 64, endian: 'little', machine: 62, flags: 0, headersUnread: true });
  // A PT_INTERP whose size is absurd.
  const interp = Buffer.concat([
    elf64((b) => {
      b.writeBigUInt64LE(64n, 32);
      b.writeUInt16LE(56, 54);
      b.writeUInt16LE(1, 56);
    }),
    Buffer.alloc(56),
  ]);
  interp.writeUInt32LE(3, 64);
  interp.writeBigUInt64LE(0x7fffffffn, 64 + 32);
  assert.equal(parseElf(interp).format, 'elf-invalid');
});
