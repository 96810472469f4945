// Index lint: what is wrong with an index (or image) as a published object, from its manifests
// and configs alone. Each rule is one function's worth of code; README lists them with examples.
import type { Descriptor } from '../image/descriptor.js';
import type { ImageConfig } from '../image/config.js';
import type { ImageManifest } from '../image/manifest.js';
import type { Platform } from '../platform/platform.js';
import { platformOfConfig } from '../image/config.js';
import { MediaType, baseMediaType, isDistributable, isDockerMediaType, isIndex, layerCompression } from '../mediatype/mediatype.js';
import { createMatcher, samePlatform } from '../platform/match.js';
import { normalizePlatform } from '../platform/normalize.js';
import { formatPlatform } from '../platform/platform.js';
import { finding, type Finding } from './finding.js';

const REFERENCE_TYPE = 'vnd.docker.reference.type';

/** Manifests and configs are hostile JSON: a platform whose fields are not strings is named, never normalized. */
export function isWellFormedPlatform(value: unknown): value is Platform {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const p = value as Record<string, unknown>;
  const optionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';
  const features = p['os.features'];
  return (
    typeof p.os === 'string' &&
    typeof p.architecture === 'string' &&
    optionalString(p.variant) &&
    optionalString(p['os.version']) &&
    (features === undefined || (Array.isArray(features) && features.every((f) => typeof f === 'string')))
  );
}

/** The platform a config declares, when its fields are well formed. */
export function configPlatform(config: ImageConfig | undefined): Platform | undefined {
  const platform = config ? platformOfConfig(config) : undefined;
  return platform && isWellFormedPlatform(platform) ? platform : undefined;
}

function isUnknownPlatform(p: Platform | undefined): boolean {
  return p !== undefined && p.os === 'unknown' && p.architecture === 'unknown';
}

/** How an entry is named in findings: its platform, or its digest when it has none. */
export function entryLabel(d: Descriptor): string {
  return isWellFormedPlatform(d.platform) && d.platform.os && d.platform.architecture ? formatPlatform(d.platform) : d.digest;
}

/** Rules about the index's own list of entries; `isAttestation` tells BuildKit's attestation entries apart. */
export function lintIndexEntries(indexMediaType: string, entries: readonly Descriptor[], isAttestation: (d: Descriptor) => boolean): Finding[] {
  const findings: Finding[] = [];
  const dockerList = baseMediaType(indexMediaType) === MediaType.DockerManifestList;
  const images: Descriptor[] = [];
  for (const d of entries) {
    const label = entryLabel(d);
    if (isAttestation(d)) continue;
    if (isIndex(d.mediaType)) {
      findings.push(finding('warning', 'nested-index', `entry ${d.digest} is itself an index; most clients do not descend into it`, label));
    }
    if (dockerList && !isDockerMediaType(d.mediaType)) {
      findings.push(finding('warning', 'mixed-media-types', `Docker manifest list holds ${d.mediaType} ${d.digest}; some registries reject OCI manifests in a Docker list`, label));
    } else if (!dockerList && isDockerMediaType(d.mediaType)) {
      findings.push(finding('warning', 'mixed-media-types', `OCI index holds ${d.mediaType} ${d.digest}; some clients reject Docker manifests in an OCI index`, label));
    }
    if (d.platform === undefined) {
      findings.push(finding('error', 'platform-incomplete', `entry ${d.digest} has no platform; no client can select it`, label));
      continue;
    }
    if (!isWellFormedPlatform(d.platform)) {
      findings.push(finding('error', 'platform-incomplete', `entry ${d.digest} has a malformed platform ${JSON.stringify(d.platform)}`, d.digest));
      continue;
    }
    if (!d.platform.os || !d.platform.architecture) {
      findings.push(finding('error', 'platform-incomplete', `entry ${d.digest} has platform ${JSON.stringify(d.platform)} without ${!d.platform.os ? 'os' : 'architecture'}`, label));
      continue;
    }
    if (isUnknownPlatform(d.platform)) {
      findings.push(finding('warning', 'unmarked-unknown-platform', `entry ${d.digest} is unknown/unknown but not annotated as an attestation (${REFERENCE_TYPE})`, label));
      continue;
    }
    if (normalizePlatform({ ...d.platform, variant: '' }).architecture === 'arm' && !d.platform.variant) {
      findings.push(finding('warning', 'arm-without-variant', `entry ${d.digest} is arm with no variant; clients assume v7 and a v6 or v5 host will not pick it`, label));
    }
    images.push(d);
  }
  for (let i = 0; i < images.length; i++) {
    for (let j = i + 1; j < images.length; j++) {
      const a = images[i] as Descriptor;
      const b = images[j] as Descriptor;
      if (samePlatform(a.platform as Platform, b.platform as Platform)) {
        findings.push(finding('error', 'duplicate-platform', `entries ${a.digest} and ${b.digest} are both ${formatPlatform(a.platform as Platform)}; a client pulls whichever comes first`, entryLabel(a)));
      }
    }
  }
  return findings;
}

/**
 * Rules about one image: its config's platform against the index entry's, and its layers.
 * `declared` is the entry's platform (undefined for an image not in an index).
 */
export function lintImage(manifestMediaType: string, manifest: ImageManifest, config: ImageConfig | undefined, declared: Platform | undefined, label: string): Finding[] {
  const findings: Finding[] = [];
  const fromConfig = configPlatform(config);
  if (config && !fromConfig) {
    findings.push(finding('error', 'platform-incomplete', `config ${manifest.config.digest} has no well-formed os and architecture`, label));
  }
  if (declared && fromConfig && isWellFormedPlatform(declared) && declared.os && declared.architecture) {
    const a = normalizePlatform(declared);
    const b = normalizePlatform(fromConfig);
    if (a.os !== b.os || a.architecture !== b.architecture || (a.variant ?? '') !== (b.variant ?? '')) {
      findings.push(finding('error', 'config-platform-mismatch', `index says ${formatPlatform(declared)}, the image's config says ${formatPlatform(fromConfig)}`, label));
    }
  }
  if (!declared && fromConfig && normalizePlatform({ ...fromConfig, variant: '' }).architecture === 'arm' && !fromConfig.variant) {
    findings.push(finding('warning', 'arm-without-variant', `config ${manifest.config.digest} is arm with no variant; clients assume v7`, label));
  }
  const docker = isDockerMediaType(manifestMediaType);
  const foreignParts = [manifest.config, ...manifest.layers].filter((d) => isDockerMediaType(d.mediaType) !== docker && !baseMediaType(d.mediaType).startsWith('application/vnd.in-toto'));
  if (foreignParts.length > 0) {
    findings.push(finding('warning', 'mixed-media-types', `${docker ? 'Docker' : 'OCI'} manifest names ${foreignParts[0]?.mediaType} content; some registries reject the mix`, label));
  }
  for (const layer of manifest.layers) {
    if (layerCompression(layer.mediaType) === 'zstd') {
      findings.push(finding('warning', 'zstd-layer', `layer ${layer.digest} is zstd-compressed; Docker before 23 and containerd before 1.5 cannot pull it`, label));
    }
    if (!isDistributable(layer.mediaType)) {
      findings.push(finding('warning', 'non-distributable-layer', `layer ${layer.digest} is non-distributable (${layer.mediaType}); registries and copies may leave it out`, label));
    }
  }
  return findings;
}

/** `--require`: each wanted platform must be among the image platforms (exact after normalization). */
export function lintRequired(available: readonly Platform[], required: readonly Platform[]): Finding[] {
  const findings: Finding[] = [];
  for (const want of required) {
    const matcher = createMatcher(want, { strict: true });
    if (!available.some((p) => matcher.matches(p))) {
      findings.push(finding('error', 'required-platform-missing', `required platform ${formatPlatform(want)} is not there (have ${available.map(formatPlatform).join(', ') || 'none'})`, formatPlatform(want)));
    }
  }
  return findings;
}
