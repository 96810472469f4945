import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Platform } from '../../src/platform/platform.js';
import { describeNormalization, normalizeArch, normalizeOs, normalizePlatform } from '../../src/platform/normalize.js';

describe('normalizeOs', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['linux', 'linux'],
    ['Linux', 'linux'],
    ['WINDOWS', 'windows'],
    ['macos', 'darwin'],
    ['MacOS', 'darwin'],
    ['darwin', 'darwin'],
    ['freebsd', 'freebsd'],
    ['plan9', 'plan9'],
    // No host fallback below the edge: an empty OS stays empty.
    ['', ''],
  ];
  for (const [input, expected] of rows) {
    test(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => assert.equal(normalizeOs(input), expected));
  }
});

describe('normalizeArch', () => {
  // [arch, variant, architecture, variant after]
  const rows: ReadonlyArray<readonly [string, string | undefined, string, string | undefined]> = [
    ['i386', undefined, '386', undefined],
    ['i386', 'v6', '386', undefined],
    ['386', undefined, '386', undefined],
    ['x86_64', undefined, 'amd64', undefined],
    ['x86-64', undefined, 'amd64', undefined],
    ['X86_64', 'V1', 'amd64', undefined],
    ['amd64', 'v1', 'amd64', undefined],
    ['amd64', 'v2', 'amd64', 'v2'],
    ['x86_64', 'v3', 'amd64', 'v3'],
    ['amd64', 'v4', 'amd64', 'v4'],
    ['aarch64', undefined, 'arm64', undefined],
    ['AArch64', undefined, 'arm64', undefined],
    ['arm64', '8', 'arm64', undefined],
    ['arm64', 'v8', 'arm64', undefined],
    ['aarch64', 'v8.0', 'arm64', undefined],
    ['arm64', 'v8.1', 'arm64', 'v8.1'],
    ['arm64', 'v8.2', 'arm64', 'v8.2'],
    ['arm64', '9', 'arm64', 'v9'],
    ['arm64', '9.0', 'arm64', 'v9'],
    ['arm64', 'v9.0', 'arm64', 'v9'],
    ['arm64', 'v9', 'arm64', 'v9'],
    ['arm64', 'v9.2', 'arm64', 'v9.2'],
    ['armhf', undefined, 'arm', 'v7'],
    ['armhf', 'v6', 'arm', 'v7'],
    ['armel', undefined, 'arm', 'v6'],
    ['arm', undefined, 'arm', 'v7'],
    ['arm', '', 'arm', 'v7'],
    ['arm', '7', 'arm', 'v7'],
    ['arm', 'v7', 'arm', 'v7'],
    ['arm', '5', 'arm', 'v5'],
    ['arm', '6', 'arm', 'v6'],
    ['arm', '8', 'arm', 'v8'],
    ['ARM', 'V6', 'arm', 'v6'],
    ['arm', 'v5', 'arm', 'v5'],
    ['ppc64le', undefined, 'ppc64le', undefined],
    ['ppc64le', 'power9', 'ppc64le', 'power9'],
    ['riscv64', 'rva20u64', 'riscv64', 'rva20u64'],
    ['s390x', undefined, 's390x', undefined],
    ['loong64', undefined, 'loong64', undefined],
    // No whitelist: unknown names pass through, lower-cased.
    ['MyArch', 'X', 'myarch', 'x'],
  ];
  for (const [arch, variant, architecture, expectedVariant] of rows) {
    test(`${arch}/${variant ?? ''} → ${architecture}/${expectedVariant ?? ''}`, () => {
      assert.deepEqual(normalizeArch(arch, variant), expectedVariant === undefined ? { architecture } : { architecture, variant: expectedVariant });
    });
  }
});

describe('normalizePlatform', () => {
  const rows: ReadonlyArray<{ readonly input: Platform; readonly expected: Platform }> = [
    { input: { os: 'linux', architecture: 'x86_64' }, expected: { os: 'linux', architecture: 'amd64' } },
    { input: { os: 'Linux', architecture: 'aarch64', variant: 'v8' }, expected: { os: 'linux', architecture: 'arm64' } },
    { input: { os: 'linux', architecture: 'armhf' }, expected: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { input: { os: 'macos', architecture: 'arm64' }, expected: { os: 'darwin', architecture: 'arm64' } },
    { input: { os: '', architecture: 'amd64' }, expected: { os: '', architecture: 'amd64' } },
    { input: { os: 'linux', architecture: 'amd64', variant: '' }, expected: { os: 'linux', architecture: 'amd64' } },
    {
      input: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2113', 'os.features': ['win32k', 'b', 'win32k', 'a'] },
      expected: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2113', 'os.features': ['a', 'b', 'win32k'] },
    },
    { input: { os: 'linux', architecture: 'amd64', 'os.version': '', 'os.features': [] }, expected: { os: 'linux', architecture: 'amd64' } },
    { input: { os: 'linux', architecture: 'amd64', features: ['sse4'] }, expected: { os: 'linux', architecture: 'amd64', features: ['sse4'] } },
  ];
  for (const { input, expected } of rows) {
    test(`${JSON.stringify(input)}`, () => {
      assert.deepEqual(normalizePlatform(input), expected);
      // Normalizing is idempotent.
      assert.deepEqual(normalizePlatform(normalizePlatform(input)), expected);
    });
  }

  test('does not modify its input', () => {
    const features = ['b', 'a'];
    const input: Platform = { os: 'Linux', architecture: 'x86_64', 'os.features': features };
    normalizePlatform(input);
    assert.deepEqual(input, { os: 'Linux', architecture: 'x86_64', 'os.features': ['b', 'a'] });
  });
});

describe('describeNormalization', () => {
  const rows: ReadonlyArray<{ readonly input: Platform; readonly expected: string | undefined }> = [
    { input: { os: 'linux', architecture: 'x86_64' }, expected: 'normalized architecture "x86_64" to "amd64"' },
    { input: { os: 'linux', architecture: 'amd64', variant: 'v1' }, expected: 'normalized variant "v1" to (none)' },
    { input: { os: 'linux', architecture: 'armhf' }, expected: 'normalized architecture "armhf" to "arm", variant (none) to "v7"' },
    { input: { os: 'macos', architecture: 'aarch64', variant: '8' }, expected: 'normalized os "macos" to "darwin", architecture "aarch64" to "arm64", variant "8" to (none)' },
    { input: { os: 'linux', architecture: 'amd64', 'os.features': ['b', 'a'] }, expected: 'normalized os.features [b,a] to [a,b]' },
    // Unchanged: nothing to say.
    { input: { os: 'linux', architecture: 'amd64' }, expected: undefined },
    { input: { os: 'linux', architecture: 'arm', variant: 'v7' }, expected: undefined },
    { input: { os: 'linux', architecture: 'arm64', variant: 'v8.2' }, expected: undefined },
  ];
  for (const { input, expected } of rows) {
    test(`${JSON.stringify(input)}`, () => assert.equal(describeNormalization(input), expected));
  }

  test('takes an explicit output', () => {
    assert.equal(describeNormalization({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }), 'normalized architecture "amd64" to "arm64"');
  });
});
