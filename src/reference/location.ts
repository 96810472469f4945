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
  | { readonly kind: 'oci-archive'; readonly path: string; readonly tag?: string }
  | { readonly kind: 'docker-archive'; readonly path: string; readonly reference?: Reference };

const OCI = 'oci:';
const OCI_ARCHIVE = 'oci-archive:';
const DOCKER_ARCHIVE = 'docker-archive:';
const DOCKER = 'docker://';

function invalid(text: string, why: string, cause?: unknown): PolyarchError {
  return new PolyarchError('INVALID_LOCATION', `invalid location "${text}": ${why}`, cause === undefined ? {} : { cause });
}

/**
 * Splits `PATH[:TAG]` on the last `:` when what follows has no `/` (so `./a:b/c` stays a path);
 * that suffix must then be a valid tag.
 */
function splitTag(text: string, rest: string): { path: string; tag?: string } {
  const colon = rest.lastIndexOf(':');
  if (colon < 0) return { path: rest };
  const suffix = rest.slice(colon + 1);
  if (suffix.includes('/')) return { path: rest };
  if (suffix === '') throw invalid(text, 'empty tag after ":"');
  if (!isValidTag(suffix)) throw invalid(text, `tag "${suffix}" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"`);
  return { path: rest.slice(0, colon), tag: suffix };
}

function requirePath(text: string, path: string): string {
  if (path === '') throw invalid(text, 'empty path');
  return path;
}

function parseOciLayout(text: string, rest: string): Location {
  let digest: Digest | undefined;
  const at = rest.lastIndexOf('@');
  // `@` followed by `alg:…` is a digest; any other `@` belongs to the path.
  if (at >= 0 && rest.slice(at + 1).includes(':')) {
    try {
      digest = parseDigest(rest.slice(at + 1));
    } catch (error) {
      throw invalid(text, isPolyarchError(error) ? error.message : 'bad digest', error);
    }
    rest = rest.slice(0, at);
  }
  const { path, tag } = splitTag(text, rest);
  return {
    kind: 'oci-layout',
    path: requirePath(text, path),
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
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
 * Parses `oci:DIR[:TAG][@DIGEST]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REPO:TAG]`,
 * `docker://REF` or a plain registry reference. Bad locations throw PolyarchError('INVALID_LOCATION');
 * a bad registry reference throws PolyarchError('INVALID_REFERENCE').
 */
export function parseLocation(text: string): Location {
  if (text.startsWith(OCI)) return parseOciLayout(text, text.slice(OCI.length));
  if (text.startsWith(OCI_ARCHIVE)) {
    const { path, tag } = splitTag(text, text.slice(OCI_ARCHIVE.length));
    return { kind: 'oci-archive', path: requirePath(text, path), ...(tag !== undefined ? { tag } : {}) };
  }
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
      return `${OCI_ARCHIVE}${location.path}${location.tag !== undefined ? `:${location.tag}` : ''}`;
    case 'docker-archive':
      return `${DOCKER_ARCHIVE}${location.path}${location.reference !== undefined ? `:${familiarString(location.reference)}` : ''}`;
  }
}
