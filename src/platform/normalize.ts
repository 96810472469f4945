import type { Platform } from './platform.js';
import { PolyarchError } from '../errors/polyarch-error.js';

/**
 * An architecture with its variant after normalization; no `variant` key when there is none.
 * https://github.com/opencontainers/image-spec/blob/v1.1.0/image-index.md#platform-variants
 */
export interface NormalizedArch {
  readonly architecture: string;
  readonly variant?: string;
}

/**
 * Lower-cases the OS and maps `macos` to `darwin`. An empty OS stays empty: unlike containerd,
 * no host value is filled in here (DESIGN §5 rule 8).
 * https://github.com/containerd/platforms/blob/main/database.go (normalizeOS)
 */
export function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

/**
 * The one alias table (containerd database.go normalizeArch): both values are lower-cased,
 * then aliases and the implied default variants are resolved.
 */
export function normalizeArch(arch: string, variant: string | undefined): NormalizedArch {
  let a = arch.toLowerCase();
  let v = (variant ?? '').toLowerCase();
  switch (a) {
    case 'i386':
      a = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      a = 'amd64';
      if (v === 'v1') v = ''; // v1 is the baseline every amd64 CPU has
      break;
    case 'aarch64':
    case 'arm64':
      a = 'arm64';
      if (v === '8' || v === 'v8' || v === 'v8.0') v = ''; // v8 is the arm64 baseline
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      a = 'arm';
      v = 'v7';
      break;
    case 'armel':
      a = 'arm';
      v = 'v6';
      break;
    case 'arm':
      // arm without a variant means v7, the common hard-float target
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return v === '' ? { architecture: a } : { architecture: a, variant: v };
}

/**
 * The canonical form used for every comparison: normalized OS and arch/variant, `os.features`
 * sorted and de-duplicated. Empty optional values are dropped rather than kept as `''`/`[]`.
 * https://github.com/containerd/platforms/blob/main/platforms.go (Normalize)
 */
export function normalizePlatform(platform: Platform): Platform {
  // From plain JavaScript a platform is often handed as its text: one coded line, not a TypeError.
  if (typeof platform !== 'object' || platform === null || typeof platform.architecture !== 'string') {
    throw new PolyarchError('INVALID_PLATFORM', `platform ${typeof platform === 'string' ? JSON.stringify(platform) : String(platform)} is not a Platform object ({ os, architecture, variant? }); parse text with parsePlatform`);
  }
  const arch = normalizeArch(platform.architecture, platform.variant);
  const osVersion = platform['os.version'];
  const osFeatures = [...new Set(platform['os.features'] ?? [])].sort();
  return {
    architecture: arch.architecture,
    os: normalizeOs(platform.os),
    ...(arch.variant !== undefined ? { variant: arch.variant } : {}),
    ...(osVersion ? { 'os.version': osVersion } : {}),
    ...(osFeatures.length > 0 ? { 'os.features': osFeatures } : {}),
    ...(platform.features !== undefined ? { features: platform.features } : {}),
  };
}

function quoted(value: string | undefined): string {
  return value ? `"${value}"` : '(none)';
}

/**
 * One line telling the user what normalization changed, e.g.
 * `normalized architecture "x86_64" to "amd64"`; undefined when nothing changed.
 */
export function describeNormalization(input: Platform, output: Platform = normalizePlatform(input)): string | undefined {
  const changes: string[] = [];
  const fields = ['os', 'architecture', 'variant', 'os.version'] as const;
  for (const field of fields) {
    const before = input[field] ?? '';
    const after = output[field] ?? '';
    if (before !== after) changes.push(`${field} ${quoted(before)} to ${quoted(after)}`);
  }
  const featuresBefore = (input['os.features'] ?? []).join(',');
  const featuresAfter = (output['os.features'] ?? []).join(',');
  if (featuresBefore !== featuresAfter) changes.push(`os.features [${featuresBefore}] to [${featuresAfter}]`);
  return changes.length === 0 ? undefined : `normalized ${changes.join(', ')}`;
}
