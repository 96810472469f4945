import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Platform } from '../../src/platform/platform.js';
import { createMatcher, platformFallbacks, samePlatform, selectEntry, windowsVersionCompatible } from '../../src/platform/match.js';
import { formatPlatformFull, parsePlatform } from '../../src/platform/platform.js';

const p = (text: string): Platform => parsePlatform(text);
// Raw (un-normalized) platforms as they appear in real indexes.
const raw = (os: string, architecture: string, variant?: string): Platform => ({ os, architecture, ...(variant !== undefined ? { variant } : {}) });

const ARM_TAIL = ['linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5'];

describe('platformFallbacks', () => {
  const rows: ReadonlyArray<readonly [string, readonly string[]]> = [
    ['linux/amd64', ['linux/amd64', 'linux/386']],
    ['linux/amd64/v1', ['linux/amd64', 'linux/386']],
    ['linux/amd64/v2', ['linux/amd64/v2', 'linux/amd64', 'linux/386']],
    ['linux/amd64/v3', ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']],
    ['linux/amd64/v4', ['linux/amd64/v4', 'linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']],
    ['linux/386', ['linux/386']],
    ['linux/arm/v5', ['linux/arm/v5']],
    ['linux/arm/v6', ['linux/arm/v6', 'linux/arm/v5']],
    ['linux/arm/v7', ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']],
    ['linux/arm', ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']],
    ['linux/arm/v8', ['linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']],
    ['linux/arm64', ['linux/arm64', ...ARM_TAIL]],
    ['linux/arm64/v8', ['linux/arm64', ...ARM_TAIL]],
    ['linux/arm64/v8.0', ['linux/arm64', ...ARM_TAIL]],
    ['linux/arm64/v8.1', ['linux/arm64/v8.1', 'linux/arm64', ...ARM_TAIL]],
    ['linux/arm64/v8.4', ['linux/arm64/v8.4', 'linux/arm64/v8.3', 'linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64', ...ARM_TAIL]],
    [
      'linux/arm64/v9',
      ['linux/arm64/v9', 'linux/arm64/v8.5', 'linux/arm64/v8.4', 'linux/arm64/v8.3', 'linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64', ...ARM_TAIL],
    ],
    [
      'linux/arm64/v9.2',
      [
        'linux/arm64/v9.2', 'linux/arm64/v9.1', 'linux/arm64/v9',
        'linux/arm64/v8.7', 'linux/arm64/v8.6', 'linux/arm64/v8.5', 'linux/arm64/v8.4', 'linux/arm64/v8.3', 'linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64',
        ...ARM_TAIL,
      ],
    ],
    [
      // v9.5 implements v8.10, but v8.9 is the last v8 minor.
      'linux/arm64/v9.5',
      [
        'linux/arm64/v9.5', 'linux/arm64/v9.4', 'linux/arm64/v9.3', 'linux/arm64/v9.2', 'linux/arm64/v9.1', 'linux/arm64/v9',
        'linux/arm64/v8.9', 'linux/arm64/v8.8', 'linux/arm64/v8.7', 'linux/arm64/v8.6', 'linux/arm64/v8.5', 'linux/arm64/v8.4', 'linux/arm64/v8.3',
        'linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64',
        ...ARM_TAIL,
      ],
    ],
    ['linux/riscv64', ['linux/riscv64']],
    ['linux/s390x', ['linux/s390x']],
    ['linux/ppc64le', ['linux/ppc64le']],
    ['linux/arm64/weird', ['linux/arm64/weird']],
    ['windows(10.0.20348+win32k)/amd64', ['windows(10.0.20348+win32k)/amd64', 'windows(10.0.20348+win32k)/386']],
  ];
  for (const [want, expected] of rows) {
    test(want, () => assert.deepEqual(platformFallbacks(p(want)).map(formatPlatformFull), expected));
  }

  test('normalizes its input first', () => {
    assert.deepEqual(platformFallbacks(raw('Linux', 'x86_64', 'v2')).map(formatPlatformFull), ['linux/amd64/v2', 'linux/amd64', 'linux/386']);
    assert.deepEqual(platformFallbacks(raw('linux', 'armhf')).map(formatPlatformFull), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
  });
});

interface MatchRow {
  readonly want: string;
  readonly strict?: boolean;
  /** Candidates as parsePlatform specifiers or raw index platforms. */
  readonly matches: { readonly true: readonly (string | Platform)[]; readonly false: readonly (string | Platform)[] };
}

const MATCH_ROWS: readonly MatchRow[] = [
  {
    want: 'linux/amd64',
    matches: {
      true: ['linux/amd64', 'linux/amd64/v1', 'linux/x86_64', 'linux/386', 'linux/i386', raw('linux', 'x86_64', 'v1'), raw('Linux', 'AMD64')],
      false: ['linux/amd64/v2', 'linux/amd64/v3', 'linux/arm64', 'windows/amd64', 'darwin/amd64', raw('', 'amd64')],
    },
  },
  {
    want: 'linux/amd64/v3',
    matches: { true: ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/amd64/v1', 'linux/386'], false: ['linux/amd64/v4', 'linux/arm64'] },
  },
  {
    want: 'linux/arm/v8',
    matches: { true: ['linux/arm/v8', 'linux/arm/v7', 'linux/arm', 'linux/arm/v6', 'linux/arm/v5'], false: ['linux/arm64', 'linux/amd64'] },
  },
  {
    want: 'linux/arm/v7',
    matches: {
      true: ['linux/arm', 'linux/arm/v7', 'linux/armhf', 'linux/arm/7', 'linux/arm/v6', 'linux/armel', 'linux/arm/v5', raw('linux', 'arm')],
      false: ['linux/arm/v8', 'linux/arm64', 'linux/amd64', 'windows/arm/v7'],
    },
  },
  {
    // moby/moby#37647: an ARMv6 host must not pull v7.
    want: 'linux/arm/v6',
    matches: { true: ['linux/arm/v6', 'linux/arm/6', 'linux/armel', 'linux/arm/v5'], false: ['linux/arm/v7', 'linux/arm', 'linux/armhf', 'linux/arm/v8', raw('linux', 'arm')] },
  },
  {
    want: 'linux/arm/v5',
    matches: { true: ['linux/arm/v5'], false: ['linux/arm/v6', 'linux/arm/v7'] },
  },
  {
    want: 'linux/arm64',
    matches: {
      true: ['linux/arm64', 'linux/arm64/v8', 'linux/aarch64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm', 'linux/arm/v6', 'linux/arm/v5', raw('linux', 'arm64', 'v8')],
      false: ['linux/arm64/v8.1', 'linux/arm64/v9', 'linux/amd64', 'linux/arm/v9', 'darwin/arm64'],
    },
  },
  {
    want: 'linux/arm64/v8.2',
    matches: { true: ['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm64/v8', 'linux/arm/v7'], false: ['linux/arm64/v8.3', 'linux/arm64/v9'] },
  },
  {
    want: 'linux/arm64/v9',
    matches: {
      true: ['linux/arm64/v9', 'linux/arm64/v9.0', 'linux/arm64/v8.5', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm/v8', 'linux/arm/v5'],
      false: ['linux/arm64/v9.1', 'linux/arm64/v8.6', 'linux/arm/v9'],
    },
  },
  {
    want: 'linux/arm64/v9.2',
    matches: { true: ['linux/arm64/v9.2', 'linux/arm64/v9.1', 'linux/arm64/v9', 'linux/arm64/v8.7', 'linux/arm64'], false: ['linux/arm64/v9.3', 'linux/arm64/v8.8'] },
  },
  {
    want: 'linux/riscv64',
    matches: { true: ['linux/riscv64'], false: ['linux/riscv64/rva22u64', 'linux/amd64'] },
  },
  {
    // Candidate os.features must be a subset of the wanted ones.
    want: 'linux(+gpu)/amd64',
    matches: { true: ['linux/amd64', 'linux(+gpu)/amd64', 'linux(+gpu)/386'], false: ['linux(+gpu+extra)/amd64', 'linux(+extra)/amd64'] },
  },
  {
    // On Windows win32k is ignored, and os.version goes through the compatibility rule.
    want: 'windows(10.0.20348)/amd64',
    matches: {
      true: ['windows/amd64', 'windows(10.0.20348)/amd64', 'windows(10.0.20348.2113)/amd64', 'windows(10.0.20348+win32k)/amd64', 'windows(10.0.20348)/386'],
      false: ['windows(10.0.17763)/amd64', 'windows(10.0.26100)/amd64', 'windows(10.0.20348+other)/amd64', 'linux/amd64'],
    },
  },
  {
    want: 'windows(10.0.26100)/amd64',
    matches: {
      true: ['windows(10.0.20348)/amd64', 'windows(10.0.22621)/amd64', 'windows(10.0.26100)/amd64', 'windows/amd64'],
      false: ['windows(10.0.17763)/amd64', 'windows(10.0.26200)/amd64', 'windows(6.3.20348)/amd64'],
    },
  },
  {
    want: 'windows(10.0.17763)/amd64',
    matches: { true: ['windows(10.0.17763)/amd64', 'windows(10.0.17763.5830)/amd64'], false: ['windows(10.0.17764)/amd64', 'windows(10.0.20348)/amd64', 'windows(10.0.14393)/amd64'] },
  },
  {
    // Outside Windows os.version is not compared.
    want: 'linux(5.15)/amd64',
    matches: { true: ['linux(6.1)/amd64', 'linux/amd64'], false: ['linux(6.1)/arm64'] },
  },
  // Strict: no fallback, but both sides are still normalized.
  {
    want: 'linux/arm/v7',
    strict: true,
    matches: { true: ['linux/arm', 'linux/armhf', 'linux/arm/7', raw('linux', 'arm')], false: ['linux/arm/v6', 'linux/arm/v5', 'linux/arm/v8'] },
  },
  {
    want: 'linux/amd64',
    strict: true,
    matches: { true: ['linux/x86_64', 'linux/amd64/v1'], false: ['linux/386', 'linux/amd64/v2'] },
  },
  {
    want: 'linux/amd64/v3',
    strict: true,
    matches: { true: ['linux/amd64/v3'], false: ['linux/amd64/v2', 'linux/amd64'] },
  },
  {
    want: 'linux/arm64',
    strict: true,
    matches: { true: ['linux/arm64/v8', 'linux/aarch64', 'linux/arm64/v8.0'], false: ['linux/arm/v8', 'linux/arm64/v8.1'] },
  },
];

describe('createMatcher', () => {
  for (const row of MATCH_ROWS) {
    describe(`${row.want}${row.strict ? ' (strict)' : ''}`, () => {
      const matcher = createMatcher(p(row.want), row.strict ? { strict: true } : {});
      for (const [expected, candidates] of [
        [true, row.matches.true],
        [false, row.matches.false],
      ] as const) {
        for (const candidate of candidates) {
          const platform = typeof candidate === 'string' ? p(candidate) : candidate;
          test(`${expected ? 'matches' : 'does not match'} ${typeof candidate === 'string' ? candidate : JSON.stringify(candidate)}`, () => {
            assert.equal(matcher.matches(platform), expected);
            assert.equal(Number.isFinite(matcher.rank(platform)), expected);
          });
        }
      }
    });
  }

  test('rank is the index in the fallback vector', () => {
    const matcher = createMatcher(p('linux/arm/v7'));
    assert.deepEqual(['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5', 'linux/arm/v8'].map((s) => matcher.rank(p(s))), [0, 1, 2, Infinity]);
    const amd = createMatcher(p('linux/amd64/v3'));
    assert.deepEqual(['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386', 'linux/amd64/v4'].map((s) => amd.rank(p(s))), [0, 1, 2, 3, Infinity]);
  });

  test('strict rank is 0 or Infinity', () => {
    const matcher = createMatcher(p('linux/arm/v7'), { strict: true });
    assert.equal(matcher.rank(raw('linux', 'arm', '7')), 0);
    assert.equal(matcher.rank(p('linux/arm/v6')), Infinity);
  });
});

describe('windowsVersionCompatible', () => {
  // [host, candidate, compatible]
  const rows: ReadonlyArray<readonly [string | undefined, string | undefined, boolean]> = [
    [undefined, undefined, true],
    ['', '10.0.17763', true],
    ['10.0.20348', '', true],
    ['10.0.20348', undefined, true],
    ['not-a-version', '10.0.17763', true],
    // Before ltsc2022 (ltsc2019 = 17763) the build must be exact.
    ['10.0.17763', '10.0.17763', true],
    ['10.0.17763', '10.0.17763.5830', true],
    ['10.0.17763.1', '10.0.17763.9', true],
    ['10.0.17763', '10.0.17764', false],
    ['10.0.17763', '10.0.14393', false],
    ['10.0.17763', '10.0.20348', false],
    // ltsc2022 is the floor: an ltsc2022 host needs an exact match.
    ['10.0.20348', '10.0.20348', true],
    ['10.0.20348', '10.0.17763', false],
    ['10.0.20348', '10.0.22621', false],
    // Between the LTSC releases: ltsc2022 up to the host.
    ['10.0.22621', '10.0.20348', true],
    ['10.0.22621', '10.0.22000', true],
    ['10.0.22621', '10.0.22621', true],
    ['10.0.22621', '10.0.26100', false],
    ['10.0.22621', '10.0.17763', false],
    // ltsc2025 runs 20348…26100.
    ['10.0.26100', '10.0.20348', true],
    ['10.0.26100', '10.0.25398', true],
    ['10.0.26100', '10.0.26100', true],
    ['10.0.26100', '10.0.17763', false],
    ['10.0.26100', '10.0.26200', false],
    // After ltsc2025 the floor moves to 26100.
    ['10.0.26200', '10.0.26100', true],
    ['10.0.26200', '10.0.26200', true],
    ['10.0.26200', '10.0.20348', false],
    // Major and minor must be equal; a garbled candidate never matches a real host.
    ['10.1.20348', '10.0.20348', false],
    ['6.3.9600', '10.0.9600', false],
    ['10.0.20348', 'garbage', false],
    ['10.0.20348', '10.0', false],
  ];
  for (const [host, candidate, expected] of rows) {
    test(`host ${host ?? '(none)'} ${expected ? 'runs' : 'does not run'} ${candidate ?? '(none)'}`, () => {
      assert.equal(windowsVersionCompatible(host, candidate), expected);
    });
  }
});

interface Entry {
  readonly name: string;
  readonly platform?: Platform;
}

const entry = (name: string, platform?: string | Platform): Entry =>
  platform === undefined ? { name } : { name, platform: typeof platform === 'string' ? p(platform) : platform };

describe('selectEntry', () => {
  test('picks the exact platform and explains the others', () => {
    const entries = [entry('a', 'linux/amd64'), entry('b', 'linux/arm64'), entry('c', 'linux/arm/v7')];
    const choice = selectEntry(entries, p('linux/arm64'));
    assert.equal(choice.entry?.name, 'b');
    assert.equal(choice.index, 1);
    assert.deepEqual(choice.why, ['linux/amd64: architecture amd64 ≠ arm64', 'linux/arm/v7: matches, but linux/arm64 is preferred']);
  });

  test('the best fallback wins regardless of order', () => {
    const entries = [entry('v5', 'linux/arm/v5'), entry('v6', 'linux/arm/v6'), entry('v8', 'linux/arm/v8')];
    const choice = selectEntry(entries, p('linux/arm/v7'));
    assert.equal(choice.entry?.name, 'v6');
    assert.deepEqual(choice.why, ['linux/arm/v5: matches, but linux/arm/v6 is preferred', 'linux/arm/v8: variant v8 not in v7, v6, v5']);
  });

  test('an ARMv6 host takes v6, not v7 (moby/moby#37647)', () => {
    const choice = selectEntry([entry('v7', raw('linux', 'arm', 'v7')), entry('v6', raw('linux', 'arm', 'v6'))], p('linux/arm/v6'));
    assert.equal(choice.entry?.name, 'v6');
  });

  test('arm64 entries without a variant match arm64/v8 hosts (containers/image#898)', () => {
    const choice = selectEntry([entry('amd', raw('linux', 'amd64')), entry('arm', raw('linux', 'arm64'))], raw('linux', 'arm64', 'v8'));
    assert.equal(choice.entry?.name, 'arm');
  });

  test('on a tie the first entry wins', () => {
    const entries = [entry('first', raw('linux', 'amd64')), entry('second', raw('linux', 'x86_64', 'v1'))];
    const choice = selectEntry(entries, p('linux/amd64'));
    assert.equal(choice.entry?.name, 'first');
    assert.equal(choice.index, 0);
    assert.deepEqual(choice.why, ['linux/x86_64/v1: matches too, but entry 0 (linux/amd64) comes first']);
  });

  test('amd64/v3 host prefers v3, then v2, over baseline', () => {
    const entries = [entry('base', 'linux/amd64'), entry('v2', 'linux/amd64/v2'), entry('v4', 'linux/amd64/v4')];
    assert.equal(selectEntry(entries, p('linux/amd64/v3')).entry?.name, 'v2');
    assert.equal(selectEntry(entries, p('linux/amd64')).entry?.name, 'base');
    assert.equal(selectEntry(entries, p('linux/amd64/v4')).entry?.name, 'v4');
  });

  test('windows: the version the host runs', () => {
    const entries = [entry('2019', 'windows(10.0.17763)/amd64'), entry('2022', 'windows(10.0.20348)/amd64')];
    const choice = selectEntry(entries, p('windows(10.0.20348)/amd64'));
    assert.equal(choice.entry?.name, '2022');
    assert.deepEqual(choice.why, ['windows(10.0.17763)/amd64: os.version 10.0.17763 does not run on 10.0.20348']);
  });

  test('no match: every entry explained, no entry, index -1', () => {
    const entries = [entry('a', 'linux/arm/v7'), entry('b', 'linux/arm64'), entry('c', 'windows/arm/v6'), entry('d'), entry('e', 'linux(+x)/arm/v6')];
    const choice = selectEntry(entries, p('linux/arm/v6'));
    assert.equal(choice.entry, undefined);
    assert.equal('entry' in choice, false);
    assert.equal(choice.index, -1);
    assert.deepEqual(choice.why, [
      'linux/arm/v7: variant v7 not in v6, v5',
      'linux/arm64: architecture arm64 ≠ arm',
      'windows/arm/v6: os windows ≠ linux',
      'entry 3: no platform',
      'linux(+x)/arm/v6: os.features x not wanted',
    ]);
  });

  test('strict: no fallback', () => {
    const entries = [entry('386', 'linux/386'), entry('v6', 'linux/arm/v6')];
    const amd = selectEntry(entries, p('linux/amd64'), { strict: true });
    assert.equal(amd.index, -1);
    assert.equal(amd.why[0], 'linux/386: architecture 386 ≠ amd64');
    const arm = selectEntry(entries, p('linux/arm/v7'), { strict: true });
    assert.equal(arm.index, -1);
    assert.equal(arm.why[1], 'linux/arm/v6: variant v6 ≠ v7');
    assert.equal(selectEntry(entries, p('linux/amd64')).entry?.name, '386');
  });

  test('an empty list selects nothing', () => {
    assert.deepEqual(selectEntry([], p('linux/amd64')), { index: -1, why: [] });
  });
});

describe('samePlatform', () => {
  const same: ReadonlyArray<readonly [Platform, Platform]> = [
    [raw('linux', 'amd64'), raw('linux', 'x86_64', 'v1')],
    [raw('linux', 'arm'), raw('linux', 'armhf')],
    [raw('linux', 'arm64', 'v8'), raw('Linux', 'aarch64')],
    [raw('macos', 'arm64'), raw('darwin', 'arm64')],
    [p('windows(10.0.20348+b+a)/amd64'), { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348', 'os.features': ['a', 'b', 'a'] }],
    [{ os: 'linux', architecture: 'amd64', features: ['y', 'x'] }, { os: 'linux', architecture: 'amd64', features: ['x', 'y'] }],
    [{ os: 'linux', architecture: 'amd64', 'os.features': [] }, raw('linux', 'amd64')],
  ];
  const different: ReadonlyArray<readonly [Platform, Platform]> = [
    [raw('linux', 'amd64'), raw('linux', '386')],
    [raw('linux', 'amd64'), raw('linux', 'amd64', 'v2')],
    [raw('linux', 'arm', 'v7'), raw('linux', 'arm', 'v6')],
    [raw('linux', 'arm64'), raw('linux', 'arm64', 'v8.2')],
    [raw('linux', 'amd64'), raw('windows', 'amd64')],
    [raw('', 'amd64'), raw('', 'arm64')],
    [p('windows(10.0.17763)/amd64'), p('windows(10.0.20348)/amd64')],
    [p('windows(+win32k)/amd64'), p('windows/amd64')],
    [{ os: 'linux', architecture: 'amd64', features: ['x'] }, raw('linux', 'amd64')],
  ];
  for (const [a, b] of same) {
    test(`${JSON.stringify(a)} = ${JSON.stringify(b)}`, () => {
      assert.equal(samePlatform(a, b), true);
      assert.equal(samePlatform(b, a), true);
    });
  }
  for (const [a, b] of different) {
    test(`${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`, () => {
      assert.equal(samePlatform(a, b), false);
      assert.equal(samePlatform(b, a), false);
    });
  }
});
