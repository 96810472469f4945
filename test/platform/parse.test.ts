import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Platform } from '../../src/platform/platform.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { formatPlatform, formatPlatformFull, parsePlatform, parsePlatformList } from '../../src/platform/platform.js';

const AMD64_HOST: Platform = { os: 'linux', architecture: 'amd64' };
const ARMV6_HOST: Platform = { os: 'linux', architecture: 'arm', variant: 'v6' };
const MAC_HOST: Platform = { os: 'darwin', architecture: 'arm64' };

interface GoodRow {
  readonly input: string;
  readonly host?: Platform;
  readonly expected: Platform;
  /** formatPlatformFull of the result. */
  readonly formatted: string;
}

const GOOD: readonly GoodRow[] = [
  // A lone known OS takes the host's arch (and variant).
  { input: 'linux', host: AMD64_HOST, expected: { os: 'linux', architecture: 'amd64' }, formatted: 'linux/amd64' },
  { input: 'windows', host: AMD64_HOST, expected: { os: 'windows', architecture: 'amd64' }, formatted: 'windows/amd64' },
  { input: 'linux', host: ARMV6_HOST, expected: { os: 'linux', architecture: 'arm', variant: 'v6' }, formatted: 'linux/arm/v6' },
  { input: 'macos', host: MAC_HOST, expected: { os: 'darwin', architecture: 'arm64' }, formatted: 'darwin/arm64' },
  { input: 'windows(10.0.17763)', host: AMD64_HOST, expected: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763' }, formatted: 'windows(10.0.17763)/amd64' },
  // A lone other token is an arch, with the host's OS, or linux without a host.
  { input: 'amd64', expected: { os: 'linux', architecture: 'amd64' }, formatted: 'linux/amd64' },
  { input: 'amd64', host: MAC_HOST, expected: { os: 'darwin', architecture: 'amd64' }, formatted: 'darwin/amd64' },
  { input: 'x86_64', expected: { os: 'linux', architecture: 'amd64' }, formatted: 'linux/amd64' },
  { input: 'aarch64', expected: { os: 'linux', architecture: 'arm64' }, formatted: 'linux/arm64' },
  { input: 'armhf', expected: { os: 'linux', architecture: 'arm', variant: 'v7' }, formatted: 'linux/arm/v7' },
  { input: 'armel', expected: { os: 'linux', architecture: 'arm', variant: 'v6' }, formatted: 'linux/arm/v6' },
  { input: 'arm', expected: { os: 'linux', architecture: 'arm', variant: 'v7' }, formatted: 'linux/arm/v7' },
  { input: 'i386', expected: { os: 'linux', architecture: '386' }, formatted: 'linux/386' },
  { input: 'riscv64', expected: { os: 'linux', architecture: 'riscv64' }, formatted: 'linux/riscv64' },
  // os/arch and os/arch/variant, normalized.
  { input: 'linux/amd64', expected: { os: 'linux', architecture: 'amd64' }, formatted: 'linux/amd64' },
  { input: 'Linux/AMD64', expected: { os: 'linux', architecture: 'amd64' }, formatted: 'linux/amd64' },
  { input: 'linux/x86_64', expected: { os: 'linux', architecture: 'amd64' }, formatted: 'linux/amd64' },
  { input: 'linux/x86-64', expected: { os: 'linux', architecture: 'amd64' }, formatted: 'linux/amd64' },
  { input: 'linux/amd64/v1', expected: { os: 'linux', architecture: 'amd64' }, formatted: 'linux/amd64' },
  { input: 'linux/amd64/v2', expected: { os: 'linux', architecture: 'amd64', variant: 'v2' }, formatted: 'linux/amd64/v2' },
  { input: 'linux/amd64/v3', expected: { os: 'linux', architecture: 'amd64', variant: 'v3' }, formatted: 'linux/amd64/v3' },
  { input: 'linux/amd64/v4', expected: { os: 'linux', architecture: 'amd64', variant: 'v4' }, formatted: 'linux/amd64/v4' },
  { input: 'linux/i386', expected: { os: 'linux', architecture: '386' }, formatted: 'linux/386' },
  { input: 'linux/arm', expected: { os: 'linux', architecture: 'arm', variant: 'v7' }, formatted: 'linux/arm/v7' },
  { input: 'linux/armhf', expected: { os: 'linux', architecture: 'arm', variant: 'v7' }, formatted: 'linux/arm/v7' },
  { input: 'linux/armel', expected: { os: 'linux', architecture: 'arm', variant: 'v6' }, formatted: 'linux/arm/v6' },
  { input: 'linux/arm/v5', expected: { os: 'linux', architecture: 'arm', variant: 'v5' }, formatted: 'linux/arm/v5' },
  { input: 'linux/arm/6', expected: { os: 'linux', architecture: 'arm', variant: 'v6' }, formatted: 'linux/arm/v6' },
  { input: 'linux/arm/v7', expected: { os: 'linux', architecture: 'arm', variant: 'v7' }, formatted: 'linux/arm/v7' },
  { input: 'linux/arm/v8', expected: { os: 'linux', architecture: 'arm', variant: 'v8' }, formatted: 'linux/arm/v8' },
  { input: 'linux/arm64', expected: { os: 'linux', architecture: 'arm64' }, formatted: 'linux/arm64' },
  { input: 'linux/aarch64', expected: { os: 'linux', architecture: 'arm64' }, formatted: 'linux/arm64' },
  { input: 'linux/arm64/v8', expected: { os: 'linux', architecture: 'arm64' }, formatted: 'linux/arm64' },
  { input: 'linux/arm64/8', expected: { os: 'linux', architecture: 'arm64' }, formatted: 'linux/arm64' },
  { input: 'linux/arm64/v8.0', expected: { os: 'linux', architecture: 'arm64' }, formatted: 'linux/arm64' },
  { input: 'linux/arm64/v8.2', expected: { os: 'linux', architecture: 'arm64', variant: 'v8.2' }, formatted: 'linux/arm64/v8.2' },
  { input: 'linux/arm64/9', expected: { os: 'linux', architecture: 'arm64', variant: 'v9' }, formatted: 'linux/arm64/v9' },
  { input: 'linux/arm64/v9.0', expected: { os: 'linux', architecture: 'arm64', variant: 'v9' }, formatted: 'linux/arm64/v9' },
  { input: 'linux/arm64/v9.3', expected: { os: 'linux', architecture: 'arm64', variant: 'v9.3' }, formatted: 'linux/arm64/v9.3' },
  { input: 'macos/arm64', expected: { os: 'darwin', architecture: 'arm64' }, formatted: 'darwin/arm64' },
  { input: 'linux/ppc64le', expected: { os: 'linux', architecture: 'ppc64le' }, formatted: 'linux/ppc64le' },
  { input: 'linux/loong64', expected: { os: 'linux', architecture: 'loong64' }, formatted: 'linux/loong64' },
  { input: 'windows/arm64', expected: { os: 'windows', architecture: 'arm64' }, formatted: 'windows/arm64' },
  // No whitelist: unknown names are kept.
  { input: 'plan9/mips64p32le', expected: { os: 'plan9', architecture: 'mips64p32le' }, formatted: 'plan9/mips64p32le' },
  { input: 'myos/myarch/my_variant.1', expected: { os: 'myos', architecture: 'myarch', variant: 'my_variant.1' }, formatted: 'myos/myarch/my_variant.1' },
  // OS options: version, features (sorted, de-duplicated), percent-encoding.
  { input: 'windows(10.0.17763)/amd64', expected: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763' }, formatted: 'windows(10.0.17763)/amd64' },
  {
    input: 'windows(10.0.20348+win32k)/amd64',
    expected: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348', 'os.features': ['win32k'] },
    formatted: 'windows(10.0.20348+win32k)/amd64',
  },
  { input: 'windows(+win32k)/amd64', expected: { os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] }, formatted: 'windows(+win32k)/amd64' },
  { input: 'linux(+b+a+b)/arm64', expected: { os: 'linux', architecture: 'arm64', 'os.features': ['a', 'b'] }, formatted: 'linux(+a+b)/arm64' },
  { input: 'windows()/amd64', expected: { os: 'windows', architecture: 'amd64' }, formatted: 'windows/amd64' },
  {
    input: 'windows(10.0%2B1%28x%29%2Fy%25+f%2Bg)/amd64',
    expected: { os: 'windows', architecture: 'amd64', 'os.version': '10.0+1(x)/y%', 'os.features': ['f+g'] },
    formatted: 'windows(10.0%2B1%28x%29%2Fy%25+f%2Bg)/amd64',
  },
  // `local` is the host, normalized.
  { input: 'local', host: { os: 'linux', architecture: 'aarch64', variant: 'v8' }, expected: { os: 'linux', architecture: 'arm64' }, formatted: 'linux/arm64' },
  { input: 'local', host: ARMV6_HOST, expected: ARMV6_HOST, formatted: 'linux/arm/v6' },
];

describe('parsePlatform accepts', () => {
  for (const row of GOOD) {
    test(`${row.input}${row.host ? ` on ${formatPlatform(row.host)}` : ''}`, () => {
      const parsed = parsePlatform(row.input, row.host ? { host: row.host } : {});
      assert.deepEqual(parsed, row.expected);
      assert.equal(formatPlatformFull(parsed), row.formatted);
      // Format → Parse is stable, without needing the host again.
      assert.deepEqual(parsePlatform(formatPlatformFull(parsed)), parsed);
      const short = parsePlatform(formatPlatform(parsed));
      assert.equal(formatPlatform(short), formatPlatform(parsed));
    });
  }
});

interface BadRow {
  readonly input: string;
  readonly host?: Platform;
  readonly message: string | RegExp;
}

const BAD: readonly BadRow[] = [
  { input: '', message: 'cannot parse platform "": empty specifier' },
  { input: '*', message: 'cannot parse platform "*": wildcards are not supported' },
  { input: 'linux/*', message: 'cannot parse platform "linux/*": wildcards are not supported' },
  { input: 'linux/amd64/v2/x', message: 'cannot parse platform "linux/amd64/v2/x": too many components' },
  { input: 'linux/arm/v7/a/b', message: 'cannot parse platform "linux/arm/v7/a/b": too many components' },
  { input: 'linux/', message: 'cannot parse platform "linux/": empty component' },
  { input: 'linux//v7', message: 'cannot parse platform "linux//v7": empty component' },
  { input: '/amd64', message: 'cannot parse platform "/amd64": empty OS component' },
  { input: 'linux/am d64', message: /^cannot parse platform "linux\/am d64": "am d64" is not a valid component/ },
  { input: 'linux/amd64/v@', message: /^cannot parse platform "linux\/amd64\/v@": "v@" is not a valid component/ },
  { input: 'lin.ux/amd64', message: /^cannot parse platform "lin.ux\/amd64": "lin.ux" is not a valid OS component/ },
  { input: 'windows(10.0/amd64', message: /is not a valid OS component/ },
  { input: 'windows(10 0)/amd64', message: /is not a valid OS component/ },
  { input: 'windows(%zz)/amd64', message: 'cannot parse platform "windows(%zz)/amd64": bad percent-encoding in "%zz"' },
  // A lone word that is neither (containerd: "unknown operating system or architecture"), not linux/<word>.
  { input: 'foo', message: 'cannot parse platform "foo": "foo" is neither an operating system nor an architecture Go knows' },
  { input: 'bogus', host: { os: 'linux', architecture: 'amd64' }, message: /"bogus" is neither an operating system nor an architecture/ },
  // A lone OS needs a host to take the architecture from; so does `local`.
  { input: 'linux', message: /^cannot parse platform "linux": "linux" names only an OS/ },
  { input: 'windows(10.0.20348)', message: /names only an OS/ },
  { input: 'local', message: 'cannot parse platform "local": "local" needs the host platform, and none was given' },
];

describe('parsePlatform rejects', () => {
  for (const row of BAD) {
    test(JSON.stringify(row.input), () => {
      assert.throws(
        () => parsePlatform(row.input, row.host ? { host: row.host } : {}),
        (error: unknown) => {
          assert.ok(isPolyarchError(error));
          assert.equal(error.code, 'INVALID_PLATFORM');
          if (typeof row.message === 'string') assert.equal(error.message, row.message);
          else assert.match(error.message, row.message);
          assert.ok(!error.message.includes('\n'), 'one line');
          return true;
        },
      );
    });
  }
});

describe('parsePlatformList', () => {
  test('splits on commas and trims', () => {
    assert.deepEqual(parsePlatformList('linux/amd64, linux/arm64/v8 ,linux/arm/v7'), [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ]);
  });
  test('a single entry', () => assert.deepEqual(parsePlatformList('linux/s390x'), [{ os: 'linux', architecture: 's390x' }]));
  test('passes the host on', () => assert.deepEqual(parsePlatformList('local,windows', { host: AMD64_HOST }), [AMD64_HOST, { os: 'windows', architecture: 'amd64' }]));
  const bad: ReadonlyArray<readonly [string, string]> = [
    ['', 'cannot parse platform list "": empty entry'],
    ['linux/amd64,', 'cannot parse platform list "linux/amd64,": empty entry'],
    ['linux/amd64,,linux/arm64', 'cannot parse platform list "linux/amd64,,linux/arm64": empty entry'],
    ['linux/amd64,linux/amd64/v2/x', 'cannot parse platform "linux/amd64/v2/x": too many components'],
  ];
  for (const [input, message] of bad) {
    test(`rejects ${JSON.stringify(input)}`, () => assert.throws(() => parsePlatformList(input), { code: 'INVALID_PLATFORM', message }));
  }
});

describe('formatPlatform and formatPlatformFull', () => {
  const rows: ReadonlyArray<readonly [Platform, string, string]> = [
    [{ os: 'linux', architecture: 'amd64' }, 'linux/amd64', 'linux/amd64'],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm/v7', 'linux/arm/v7'],
    [{ os: '', architecture: 'amd64' }, 'unknown', 'unknown'],
    [{ os: '', architecture: '' }, 'unknown', 'unknown'],
    [{ os: 'linux', architecture: '' }, 'linux', 'linux'],
    [{ os: 'linux', architecture: 'amd64', variant: '' }, 'linux/amd64', 'linux/amd64'],
    [{ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.5830' }, 'windows/amd64', 'windows(10.0.17763.5830)/amd64'],
    [{ os: 'windows', architecture: 'amd64', 'os.features': ['win32k', 'a', 'a', ''] }, 'windows/amd64', 'windows(+a+win32k)/amd64'],
    [{ os: 'windows', architecture: 'arm64', variant: 'v8', 'os.version': '1+2' }, 'windows/arm64/v8', 'windows(1%2B2)/arm64/v8'],
  ];
  for (const [platform, short, full] of rows) {
    test(`${JSON.stringify(platform)}`, () => {
      assert.equal(formatPlatform(platform), short);
      assert.equal(formatPlatformFull(platform), full);
    });
  }
});
