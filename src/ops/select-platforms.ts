import type { Descriptor } from '../image/descriptor.js';
import type { ImageIndex } from '../image/index.js';
import type { Platform } from '../platform/platform.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { createMatcher, samePlatform } from '../platform/match.js';
import { formatPlatform } from '../platform/platform.js';

const REFERENCE_TYPE = 'vnd.docker.reference.type';
const REFERENCE_DIGEST = 'vnd.docker.reference.digest';

/** A BuildKit attestation entry (`unknown/unknown` pointing at the image it describes). */
export function isAttestationEntry(d: Descriptor): boolean {
  return d.annotations?.[REFERENCE_TYPE] === 'attestation-manifest';
}

/** Entries that are images for a real platform (not attestations). */
export function imageEntries(index: ImageIndex): Descriptor[] {
  return index.manifests.filter((d) => !isAttestationEntry(d));
}

/**
 * The index entries for the wanted platforms (exact after normalization), plus the attestations
 * of the kept images, in index order. Names what the index has when a platform is missing.
 */
export function filterIndexEntries(index: ImageIndex, wanted: readonly Platform[], what: string): Descriptor[] {
  const matchers = wanted.map((p) => ({ platform: p, matcher: createMatcher(p, { strict: true }) }));
  for (const { platform, matcher } of matchers) {
    if (!index.manifests.some((d) => d.platform !== undefined && !isAttestationEntry(d) && matcher.matches(d.platform))) {
      const has = imageEntries(index).map((d) => (d.platform ? formatPlatform(d.platform) : 'no platform'));
      throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${what} has no image for platform ${formatPlatform(platform)} (it has ${has.join(', ') || 'no entries'})`);
    }
  }
  const kept = index.manifests.filter((d) => d.platform !== undefined && !isAttestationEntry(d) && matchers.some(({ matcher }) => matcher.matches(d.platform as Platform)));
  const keptDigests = new Set(kept.map((d) => d.digest as string));
  return index.manifests.filter((d) => kept.includes(d) || (isAttestationEntry(d) && keptDigests.has(d.annotations?.[REFERENCE_DIGEST] ?? '')));
}

/**
 * A lone image asked for by platform must be that platform, as `docker pull --platform` checks
 * ("does not match the specified platform"): a copy or inspect must not hand over another
 * architecture quietly. An image whose config names no platform cannot be checked.
 */
export function checkImagePlatform(has: Platform | undefined, wanted: readonly Platform[], what: string, options: { readonly strict: boolean }): void {
  if (!has) return;
  for (const platform of wanted) {
    if (!createMatcher(platform, options).matches(has)) {
      throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${what} is one ${formatPlatform(has)} image, not an index: it has no image for platform ${formatPlatform(platform)}`);
    }
  }
}

/** Two entries of one index for the same platform are a mistake worth naming. */
export function findDuplicatePlatform(entries: readonly Descriptor[]): [Descriptor, Descriptor] | undefined {
  const images = entries.filter((d) => d.platform !== undefined && !isAttestationEntry(d));
  for (let i = 0; i < images.length; i++) {
    for (let j = i + 1; j < images.length; j++) {
      const a = images[i] as Descriptor;
      const b = images[j] as Descriptor;
      if (samePlatform(a.platform as Platform, b.platform as Platform)) return [a, b];
    }
  }
  return undefined;
}
