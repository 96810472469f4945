import type { Platform } from './platform.js';
import { normalizePlatform } from './normalize.js';
import { formatPlatformFull } from './platform.js';

/**
 * Answers whether a candidate platform runs where `want` is wanted, and how well.
 * https://github.com/containerd/platforms/blob/main/compare.go (MatchComparer)
 */
export interface PlatformMatcher {
  matches(platform: Platform): boolean;
  /** Index in the fallback vector: 0 is the exact platform, higher is a worse fallback, Infinity is no match. */
  rank(platform: Platform): number;
}

export interface MatchOptions {
  /** No fallback: only the wanted platform itself, after normalization (containerd OnlyStrict). */
  readonly strict?: boolean;
}

/** What selectEntry chose, and one line for each entry it passed over. */
export interface Selection<T> {
  readonly entry?: T;
  /** Index of the chosen entry, -1 when none matches. */
  readonly index: number;
  readonly why: string[];
}

// Windows Server LTSC builds with a stable container ABI, ascending (platform_windows_compat.go).
const LTSC2022 = 20348;
const LTSC2025 = 26100;
const COMPAT_LTSC_RELEASES: readonly number[] = [LTSC2022, LTSC2025];

interface WindowsVersion {
  readonly major: number;
  readonly minor: number;
  readonly build: number;
}

// `major.minor.build[.revision]`; anything else reads as "no version", as containerd does.
function parseWindowsVersion(text: string): WindowsVersion | undefined {
  const parts = text.split('.');
  if (parts.length < 3) return undefined;
  const [major, minor, build] = parts.slice(0, 3).map((part) => (/^\d+$/.test(part) ? Number(part) : NaN)) as [number, number, number];
  if (!(major <= 0xff && minor <= 0xff && build <= 0xffff)) return undefined;
  return { major, minor, build };
}

/**
 * Whether a Windows host with `hostVersion` runs a container built for `candidateVersion`
 * (both `os.version`, e.g. `10.0.20348`). Major and minor must be equal; hosts older than
 * ltsc2022 need the exact build; newer hosts run builds from the newest LTSC release strictly
 * older than themselves up to their own build. An empty version on either side matches.
 * https://github.com/containerd/platforms/blob/main/platform_windows_compat.go
 */
export function windowsVersionCompatible(hostVersion: string | undefined, candidateVersion: string | undefined): boolean {
  if (!hostVersion || !candidateVersion) return true;
  const host = parseWindowsVersion(hostVersion);
  if (!host || (host.major === 0 && host.minor === 0 && host.build === 0)) return true;
  const candidate = parseWindowsVersion(candidateVersion) ?? { major: 0, minor: 0, build: 0 };
  if (host.major !== candidate.major || host.minor !== candidate.minor) return false;
  if (host.build < LTSC2022) return host.build === candidate.build;
  const floor = [...COMPAT_LTSC_RELEASES].reverse().find((release) => host.build > release) ?? LTSC2022;
  return floor <= candidate.build && candidate.build <= host.build;
}

// arm64/vMAJOR.MINOR as containerd's arm64variantToVersion table reads it (`v8` = `v8.0`).
const ARM64_VARIANT = /^v(8|9)(?:\.(\d+))?$/;
const NUMBERED_VARIANT = /^v?(\d+)$/;

/**
 * The ordered list of platforms a host of `platform` runs, best first (containerd Only):
 * amd64/vN → vN…v2, amd64, 386; arm/vN → vN…v5; arm64/v8.x → v8.x…v8.1, arm64, arm/v8…v5;
 * arm64/v9.x → v9.x…v9, v8.(x+5)…v8.1, arm64, arm/v8…v5. Other platforms: only themselves.
 * Entries are normalized, so amd64/v1 and arm64/v8 appear without a variant.
 * https://github.com/containerd/platforms/blob/main/compare.go (platformVector)
 */
export function platformFallbacks(platform: Platform): Platform[] {
  const wanted = normalizePlatform(platform);
  const like = (architecture: string, variant: string): Platform =>
    normalizePlatform({
      architecture,
      os: wanted.os,
      ...(variant ? { variant } : {}),
      ...(wanted['os.version'] !== undefined ? { 'os.version': wanted['os.version'] } : {}),
      ...(wanted['os.features'] !== undefined ? { 'os.features': wanted['os.features'] } : {}),
    });
  const armDown = (from: number): Platform[] => {
    const out: Platform[] = [];
    for (let n = from; n >= 5; n--) out.push(like('arm', `v${n}`));
    return out;
  };

  switch (wanted.architecture) {
    case 'amd64': {
      const vector = [wanted];
      const level = Number(NUMBERED_VARIANT.exec(wanted.variant ?? '')?.[1] ?? 1);
      for (let n = level - 1; n >= 1; n--) vector.push(like('amd64', `v${n}`));
      vector.push(like('386', ''));
      return vector;
    }
    case 'arm': {
      const level = Number(NUMBERED_VARIANT.exec(wanted.variant ?? '')?.[1] ?? 0);
      return level > 5 ? [wanted, ...armDown(level - 1)] : [wanted];
    }
    case 'arm64': {
      const found = ARM64_VARIANT.exec(wanted.variant ?? 'v8');
      if (!found) return [wanted];
      const major = Number(found[1]);
      const minor = Number(found[2] ?? 0);
      const vector: Platform[] = [];
      for (let m = minor; m >= 0; m--) vector.push(like('arm64', m === 0 ? `v${major}` : `v${major}.${m}`));
      // v9.x implements v8.(x+5); v8.9 is the last v8 minor.
      if (major === 9) for (let m = Math.min(minor + 5, 9); m >= 0; m--) vector.push(like('arm64', m === 0 ? 'v8' : `v8.${m}`));
      // Every arm64 CPU runs 32-bit arm up to v8.
      return [...vector, ...armDown(8)];
    }
    default:
      return [wanted];
  }
}

// The candidate's os.features must all be wanted; Windows' win32k is ignored (containerd windowsStripFeaturesMatcher).
function unwantedFeatures(want: Platform, candidate: Platform): string[] {
  const wanted = new Set(want['os.features'] ?? []);
  return (candidate['os.features'] ?? []).filter((f) => !wanted.has(f) && !(candidate.os === 'windows' && f === 'win32k'));
}

// One normalized wanted platform against one normalized candidate (containerd matcher.Match).
function matchesExactly(want: Platform, candidate: Platform): boolean {
  return (
    want.os === candidate.os &&
    want.architecture === candidate.architecture &&
    (want.variant ?? '') === (candidate.variant ?? '') &&
    (want.os !== 'windows' || windowsVersionCompatible(want['os.version'], candidate['os.version'])) &&
    unwantedFeatures(want, candidate).length === 0
  );
}

/**
 * A matcher for `want` and its fallbacks (or `want` alone when strict). Both sides are
 * normalized before comparing, so `linux/x86_64` matches `linux/amd64/v1`.
 * https://github.com/containerd/platforms/blob/main/compare.go (Only, OnlyStrict)
 */
export function createMatcher(want: Platform, options: MatchOptions = {}): PlatformMatcher {
  const vector = options.strict ? [normalizePlatform(want)] : platformFallbacks(want);
  const rank = (platform: Platform): number => {
    const candidate = normalizePlatform(platform);
    const index = vector.findIndex((v) => matchesExactly(v, candidate));
    return index < 0 ? Infinity : index;
  };
  return { rank, matches: (platform) => rank(platform) !== Infinity };
}

function shown(value: string | undefined): string {
  return value ? value : '(none)';
}

// Why a candidate is not in the vector, naming the first field that rules it out.
function mismatchReason(want: Platform, vector: readonly Platform[], candidate: Platform): string {
  if (candidate.os !== want.os) return `os ${shown(candidate.os)} ≠ ${shown(want.os)}`;
  const sameArch = vector.filter((v) => v.architecture === candidate.architecture);
  if (sameArch.length === 0) return `architecture ${shown(candidate.architecture)} ≠ ${shown(want.architecture)}`;
  const variants = sameArch.map((v) => v.variant ?? '');
  if (!variants.includes(candidate.variant ?? '')) {
    return variants.length === 1
      ? `variant ${shown(candidate.variant)} ≠ ${shown(variants[0])}`
      : `variant ${shown(candidate.variant)} not in ${variants.map(shown).join(', ')}`;
  }
  if (want.os === 'windows' && !windowsVersionCompatible(want['os.version'], candidate['os.version'])) {
    return `os.version ${shown(candidate['os.version'])} does not run on ${shown(want['os.version'])}`;
  }
  const extra = unwantedFeatures(want, candidate);
  if (extra.length > 0) return `os.features ${extra.join('+')} not wanted`;
  return 'does not match';
}

/**
 * Picks the entry a host wanting `want` would pull: the best rank wins, and on a tie the first
 * entry (image-spec: "the first matching entry SHOULD be used"). Entries without a platform never
 * match. `why` has one line per entry passed over, e.g. `linux/amd64: architecture amd64 ≠ arm64`.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/image-index.md#image-index-property-descriptions
 */
export function selectEntry<T extends { readonly platform?: Platform | undefined }>(
  entries: readonly T[],
  want: Platform,
  options: MatchOptions = {},
): Selection<T> {
  const matcher = createMatcher(want, options);
  const ranks = entries.map((e) => (e.platform ? matcher.rank(e.platform) : Infinity));
  let best = -1;
  ranks.forEach((rank, i) => {
    if (rank !== Infinity && (best < 0 || rank < (ranks[best] as number))) best = i;
  });

  const normalizedWant = normalizePlatform(want);
  const vector = options.strict ? [normalizedWant] : platformFallbacks(want);
  const chosen = entries[best];
  const why: string[] = [];
  entries.forEach((entry, i) => {
    if (i === best) return;
    if (!entry.platform) {
      why.push(`entry ${i}: no platform`);
      return;
    }
    const label = formatPlatformFull(entry.platform);
    const rank = ranks[i] as number;
    if (rank === Infinity) {
      why.push(`${label}: ${mismatchReason(normalizedWant, vector, normalizePlatform(entry.platform))}`);
    } else {
      const winner = chosen?.platform ? formatPlatformFull(chosen.platform) : `entry ${best}`;
      why.push(rank === ranks[best] ? `${label}: matches too, but entry ${best} (${winner}) comes first` : `${label}: matches, but ${winner} is preferred`);
    }
  });
  return chosen === undefined ? { index: -1, why } : { entry: chosen, index: best, why };
}

/** `platforms` without repeats (samePlatform), first mention kept: `linux/amd64,x86_64` names one platform. */
export function uniquePlatforms(platforms: readonly Platform[]): Platform[] {
  return platforms.filter((p, at) => platforms.findIndex((q) => samePlatform(p, q)) === at);
}

/** Whether two platforms are the same after normalization (feature order and repeats ignored). */
export function samePlatform(a: Platform, b: Platform): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  const sameSet = (p: readonly string[] | undefined, q: readonly string[] | undefined): boolean => {
    const left = [...new Set(p ?? [])].sort();
    const right = [...new Set(q ?? [])].sort();
    return left.length === right.length && left.every((v, i) => v === right[i]);
  };
  return (
    x.os === y.os &&
    x.architecture === y.architecture &&
    (x.variant ?? '') === (y.variant ?? '') &&
    (x['os.version'] ?? '') === (y['os.version'] ?? '') &&
    sameSet(x['os.features'], y['os.features']) &&
    sameSet(x.features, y.features)
  );
}
