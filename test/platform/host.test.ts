import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { describe, test } from 'node:test';
import type { DetectHostOptions } from '../../src/platform/host.js';
import type { Platform } from '../../src/platform/platform.js';
import { detectHostPlatform } from '../../src/platform/host.js';

const cpuinfo = (architecture: string, model = 'ARMv7 Processor rev 4 (v7l)'): string =>
  `processor\t: 0\nmodel name\t: ${model}\nBogoMIPS\t: 38.40\nCPU architecture: ${architecture}\nCPU variant\t: 0x0\n`;

describe('detectHostPlatform', () => {
  const rows: ReadonlyArray<{ readonly name: string; readonly options: DetectHostOptions; readonly expected: Platform }> = [
    { name: 'x64 on linux', options: { arch: 'x64', platform: 'linux' }, expected: { os: 'linux', architecture: 'amd64' } },
    { name: 'ia32', options: { arch: 'ia32', platform: 'linux' }, expected: { os: 'linux', architecture: '386' } },
    { name: 's390x', options: { arch: 's390x', platform: 'linux' }, expected: { os: 'linux', architecture: 's390x' } },
    { name: 'riscv64', options: { arch: 'riscv64', platform: 'linux' }, expected: { os: 'linux', architecture: 'riscv64' } },
    { name: 'loong64', options: { arch: 'loong64', platform: 'linux' }, expected: { os: 'linux', architecture: 'loong64' } },
    { name: 'mipsel', options: { arch: 'mipsel', platform: 'linux' }, expected: { os: 'linux', architecture: 'mipsle' } },
    { name: 'darwin', options: { arch: 'arm64', platform: 'darwin', cpuinfo: '' }, expected: { os: 'darwin', architecture: 'arm64' } },
    { name: 'win32', options: { arch: 'x64', platform: 'win32', osVersion: '10.0.20348' }, expected: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348' } },
    { name: 'win32 without a version', options: { arch: 'x64', platform: 'win32' }, expected: { os: 'windows', architecture: 'amd64' } },
    // arm64 kernels report 8, which is the arm64 baseline: no variant.
    { name: 'arm64 (CPU architecture 8)', options: { arch: 'arm64', platform: 'linux', cpuinfo: cpuinfo('8') }, expected: { os: 'linux', architecture: 'arm64' } },
    { name: 'arm (CPU architecture 7)', options: { arch: 'arm', platform: 'linux', cpuinfo: cpuinfo('7') }, expected: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { name: 'arm on an arm64 kernel', options: { arch: 'arm', platform: 'linux', cpuinfo: cpuinfo('8') }, expected: { os: 'linux', architecture: 'arm', variant: 'v8' } },
    { name: 'arm (6TEJ)', options: { arch: 'arm', platform: 'linux', cpuinfo: cpuinfo('6TEJ') }, expected: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    { name: 'arm (5TE)', options: { arch: 'arm', platform: 'linux', cpuinfo: cpuinfo('5TE') }, expected: { os: 'linux', architecture: 'arm', variant: 'v5' } },
    { name: 'arm (7M)', options: { arch: 'arm', platform: 'linux', cpuinfo: cpuinfo('7M') }, expected: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    {
      name: 'Raspberry Pi ARMv6 reporting 7',
      options: { arch: 'arm', platform: 'linux', cpuinfo: cpuinfo('7', 'ARMv6-compatible processor rev 7 (v6l)') },
      expected: { os: 'linux', architecture: 'arm', variant: 'v6' },
    },
    {
      name: 'no CPU architecture line: the machine name',
      options: { arch: 'arm', platform: 'linux', cpuinfo: 'processor\t: 0\n', machine: 'armv6l' },
      expected: { os: 'linux', architecture: 'arm', variant: 'v6' },
    },
    { name: 'nothing known: arm means v7', options: { arch: 'arm', platform: 'linux', cpuinfo: '' }, expected: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { name: 'case-insensitive key', options: { arch: 'arm', platform: 'linux', cpuinfo: 'Cpu Architecture : 6\n' }, expected: { os: 'linux', architecture: 'arm', variant: 'v6' } },
  ];
  for (const { name, options, expected } of rows) {
    test(name, () => assert.deepEqual(detectHostPlatform(options), expected));
  }

  test('ppc64 follows the byte order', () => {
    assert.equal(detectHostPlatform({ arch: 'ppc64', platform: 'linux' }).architecture, endianness() === 'LE' ? 'ppc64le' : 'ppc64');
  });

  test('this machine', () => {
    const host = detectHostPlatform();
    assert.match(host.os, /^[a-z0-9]+$/);
    assert.match(host.architecture, /^[a-z0-9]+$/);
  });
});
