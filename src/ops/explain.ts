import type { ConnectionOptions } from '../endpoint/open-endpoint.js';
import type { Descriptor } from '../image/descriptor.js';
import type { Platform } from '../platform/platform.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { parseImageIndex } from '../image/index.js';
import { isIndex } from '../mediatype/mediatype.js';
import { platformFallbacks, selectEntry } from '../platform/match.js';
import { normalizePlatform } from '../platform/normalize.js';
import { formatPlatform, unknownPlatformReason } from '../platform/platform.js';
import { isAttestationEntry } from './select-platforms.js';
import { platformOfImage } from './resolve-source.js';
import { referenceOrLatest, toLocation, withOpener, type LocationInput } from './session.js';

export interface Explanation {
  readonly host: Platform;
  /** What the host accepts, best first (containerd's `Only` vector). */
  readonly fallbacks: readonly Platform[];
  /** The entry an engine on `host` pulls; undefined when none runs there. */
  readonly chosen?: Descriptor;
  /** One line per entry passed over. */
  readonly why: readonly string[];
  /** The location is a single image, not an index. */
  readonly single: boolean;
}

/** What {@link explainMatch} takes. */
export interface ExplainMatchOptions extends ConnectionOptions {
  /** The index (or image) to explain: `host/repo:tag`, `oci:DIR:tag`, … or a parsed `Location`. */
  readonly location: LocationInput;
  /** The machine that pulls: a platform Go knows (`linux/arm64`, `linux/arm/v7`). */
  readonly host: Platform;
  /** Match only the host's own platform, with none of the fallbacks an engine accepts (arm/v7 on arm64…). */
  readonly strict?: boolean;
  /** Stops the reads: the verb rejects with an `INTERRUPTED` PolyarchError. */
  readonly signal?: AbortSignal;
}

/**
 * Tells which entry of an index an engine on `host` would pull, and why the others were passed
 * over (`polyarch explain`).
 *
 * {@includeCode ../../examples/api/explainMatch.ts#example}
 */
export async function explainMatch(options: ExplainMatchOptions): Promise<Explanation> {
  return interruptible(options.signal, () => explain(options));
}

async function explain(options: ExplainMatchOptions): Promise<Explanation> {
  const { location: input, host } = options;
  const io = options.signal ? { signal: options.signal } : {};
  // An entry may claim any platform, but the host is a machine: `--host foo` is a typo, not linux/foo.
  const unknown = unknownPlatformReason(host);
  if (unknown !== undefined) throw new PolyarchError('INVALID_PLATFORM', `host platform "${formatPlatform(host)}": ${unknown}; a host is one of the platforms Go knows (e.g. linux/amd64, linux/arm64)`);
  return withOpener(options, async (opener) => {
    const { endpoint, reference } = await opener.open(toLocation(input), 'read');
    const raw = await endpoint.getManifest(referenceOrLatest(reference), io);
    const fallbacks = options.strict ? [normalizePlatform(host)] : platformFallbacks(host);
    let entries: Descriptor[];
    const attestations: string[] = [];
    if (isIndex(raw.mediaType)) {
      const all = parseImageIndex(raw).manifests;
      entries = all.filter((d) => !isAttestationEntry(d));
      for (const d of all.filter(isAttestationEntry)) attestations.push(`${d.digest}: an attestation (of ${d.annotations?.['vnd.docker.reference.digest'] ?? 'an image'}), never pulled as an image`);
    } else {
      const platform = await platformOfImage(endpoint, raw, String(typeof input === 'string' ? input : endpoint.description), io);
      entries = [{ mediaType: raw.mediaType, digest: raw.digest, size: raw.size, ...(platform ? { platform } : {}) }];
    }
    const selection = selectEntry(entries, host, options.strict ? { strict: true } : {});
    if (entries.length === 0) throw new PolyarchError('PLATFORM_NOT_IN_INDEX', `${endpoint.description} is an empty index`);
    return { host: normalizePlatform(host), fallbacks, ...(selection.entry ? { chosen: selection.entry } : {}), why: [...selection.why, ...attestations], single: !isIndex(raw.mediaType) };
  });
}
