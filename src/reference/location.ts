import type { Digest } from '../digest/digest.js';
import type { Reference } from './reference.js';
import { parseDigest } from '../digest/digest.js';
import { PolyarchError, isPolyarchError } from '../errors/polyarch-error.js';
import { familiarString, formatReference, isValidTag, parseReference, withDefaultTag } from './reference.js';

/**
 * Where an image is read from or written to; one syntax for every command.
 * DESIGN.md §2 "Locations"; transport names as in skopeo (containers-transports(5)).
 */
export type Location =
  | { readonly kind: 'registry'; readonly reference: Reference }
  | { readonly kind: 'oci-layout'; readonly path: string; readonly tag?: string; readonly digest?: Digest }
  | { readonly kind: 'oci-archive'; readonly path: string; readonly tag?: string; readonly digest?: Digest }
  | { readonly kind: 'docker-archive'; readonly path: string; readonly reference?: Reference };

const OCI = 'oci:';
const OCI_ARCHIVE = 'oci-archive:';
const DOCKER_ARCHIVE = 'docker-archive:';
const DOCKER = 'docker://';

function invalid(text: string, why: string, cause?: unknown): PolyarchError {
  return new PolyarchError('INVALID_LOCATION', `invalid location "${text}": ${why}`, cause === undefined ? {} : { cause });
}

// The image-spec's grammar for `org.opencontainers.image.ref.name`, which podman and skopeo
// fill with names like `localhost/app:1`.
// https://github.com/opencontainers/image-spec/blob/v1.1.0/annotations.md#pre-defined-annotation-keys
const REF_NAME_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF_NAME_PATTERN = new RegExp(`^${REF_NAME_COMPONENT}(?:/${REF_NAME_COMPONENT})*$`);

/** A name a layout entry can be selected by: a docker tag, or any ref.name the image-spec allows. */
export function isValidLayoutRef(ref: string): boolean {
  return isValidTag(ref) || REF_NAME_PATTERN.test(ref);
}

/**
 * Splits `PATH[:REF][@DIGEST]` as skopeo's oci and oci-archive transports do: the path ends at
 * the FIRST `:`, so the reference may itself hold `:` and `/` (`oci:out:localhost/app:1`). A
 * trailing `@alg:…` is a digest; any other `@` belongs to the path or the name.
 * https://github.com/containers/image/blob/main/oci/internal/oci_util.go (splitPathAndImageNonWindows)
 */
function splitLayoutLocation(text: string, rest: string): { path: string; tag?: string; digest?: Digest } {
  let digest: Digest | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0 && rest.slice(at + 1).includes(':')) {
    try {
      digest = parseDigest(rest.slice(at + 1));
    } catch (error) {
      throw invalid(text, isPolyarchError(error) ? error.message : 'bad digest', error);
    }
    rest = rest.slice(0, at);
  }
  const colon = rest.indexOf(':');
  const path = requirePath(text, colon < 0 ? rest : rest.slice(0, colon));
  const withDigest = digest !== undefined ? { digest } : {};
  if (colon < 0) return { path, ...withDigest };
  const tag = rest.slice(colon + 1);
  if (tag === '') throw invalid(text, 'empty tag after ":"');
  if (!isValidLayoutRef(tag)) {
    throw invalid(text, `"${tag}" is neither a tag (letters, digits, "_", "." or "-", not starting with "." or "-") nor an image name (components of letters and digits joined by "-", ".", "_", ":", "@", "+" or "--", separated by "/")`);
  }
  return { path, tag, ...withDigest };
}

function requirePath(text: string, path: string): string {
  if (path === '') throw invalid(text, 'empty path');
  return path;
}

function parseDockerArchive(text: string, rest: string): Location {
  // skopeo splits at the first ':' — the reference may itself hold a port and a tag.
  const colon = rest.indexOf(':');
  const path = requirePath(text, colon < 0 ? rest : rest.slice(0, colon));
  if (colon < 0) return { kind: 'docker-archive', path };
  let reference: Reference;
  try {
    reference = parseReference(rest.slice(colon + 1));
  } catch (error) {
    throw invalid(text, isPolyarchError(error) ? error.message : 'bad reference', error);
  }
  // `docker load` tags images by name:tag; a digest has no place in the archive.
  if (reference.digest !== undefined) throw invalid(text, 'a docker-archive reference takes a tag, not a digest');
  return { kind: 'docker-archive', path, reference: withDefaultTag(reference) };
}

/**
 * Parses `oci:DIR[:REF][@DIGEST]`, `oci-archive:FILE[:REF][@DIGEST]`, `docker-archive:FILE[:REPO:TAG]`,
 * `docker://REF` or a plain registry reference. Bad locations throw PolyarchError('INVALID_LOCATION');
 * a bad registry reference throws PolyarchError('INVALID_REFERENCE').
 */
export function parseLocation(text: string): Location {
  if (text.startsWith(OCI)) return { kind: 'oci-layout', ...splitLayoutLocation(text, text.slice(OCI.length)) };
  if (text.startsWith(OCI_ARCHIVE)) return { kind: 'oci-archive', ...splitLayoutLocation(text, text.slice(OCI_ARCHIVE.length)) };
  if (text.startsWith(DOCKER_ARCHIVE)) return parseDockerArchive(text, text.slice(DOCKER_ARCHIVE.length));
  if (text.startsWith(DOCKER)) return { kind: 'registry', reference: parseReference(text.slice(DOCKER.length)) };
  return { kind: 'registry', reference: parseReference(text) };
}

/** The text parseLocation reads back to the same location (registry references in full form). */
export function formatLocation(location: Location): string {
  switch (location.kind) {
    case 'registry':
      return formatReference(location.reference);
    case 'oci-layout':
      return `${OCI}${location.path}${location.tag !== undefined ? `:${location.tag}` : ''}${location.digest !== undefined ? `@${location.digest}` : ''}`;
    case 'oci-archive':
      return `${OCI_ARCHIVE}${location.path}${location.tag !== undefined ? `:${location.tag}` : ''}${location.digest !== undefined ? `@${location.digest}` : ''}`;
    case 'docker-archive':
      return `${DOCKER_ARCHIVE}${location.path}${location.reference !== undefined ? `:${familiarString(location.reference)}` : ''}`;
  }
}
