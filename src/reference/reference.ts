import type { Digest } from '../digest/digest.js';
import { isDigest, parseDigest } from '../digest/digest.js';
import { PolyarchError, isPolyarchError } from '../errors/polyarch-error.js';

/**
 * A registry image reference, with Docker Hub defaults applied (`docker.io`, `library/`).
 * The tag is left out when the text has none; see withDefaultTag.
 * https://github.com/distribution/reference/blob/main/reference.go (grammar)
 */
export interface Reference {
  /** host[:port] as written; `docker.io` by default, `index.docker.io` is read as `docker.io`. */
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

export const DEFAULT_REGISTRY = 'docker.io';
const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

// distribution/reference regexp.go, piece by piece.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST_PATTERN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6_ADDRESS})(?::[0-9]+)?$`);
const PATH_COMPONENT_PATTERN = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG_PATTERN = /^[\w][\w.-]{0,127}$/;
const IMAGE_ID_PATTERN = /^[a-f0-9]{64}$/;

function invalid(text: string, why: string, cause?: unknown): PolyarchError {
  return new PolyarchError('INVALID_REFERENCE', `invalid reference "${text}": ${why}`, cause === undefined ? {} : { cause });
}

/** Whether `tag` is a valid tag: `[\w][\w.-]{0,127}`. */
export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

// docker treats the first component as a host only if it looks like one.
function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

const PORT_MAX = 65535;

/**
 * distribution's grammar, then what a connection needs: a port from 1 to 65535, and a host a URL
 * can hold (valid IPv6, IPv4 and punycode), so that no reference that parses fails later as UNKNOWN.
 */
function checkHost(text: string, registry: string): void {
  if (!HOST_PATTERN.test(registry)) throw invalid(text, `"${registry}" is not a valid registry host[:port]`);
  const port = /:([0-9]+)$/.exec(registry.startsWith('[') ? registry.slice(registry.indexOf(']') + 1) : registry)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > PORT_MAX)) throw invalid(text, `port ${port} of "${registry}" is out of range (1–${PORT_MAX})`);
  try {
    new URL(`https://${registry}/`);
  } catch {
    throw invalid(text, `"${registry}" is not a valid registry host[:port]`);
  }
}

function checkRepository(text: string, repository: string): void {
  if (repository.toLowerCase() !== repository) throw invalid(text, 'repository name must be lowercase');
  for (const component of repository.split('/')) {
    if (component === '') throw invalid(text, 'empty path component in repository name');
    if (!PATH_COMPONENT_PATTERN.test(component)) {
      throw invalid(text, `path component "${component}" must be lowercase letters and digits, separated by ".", "_", "__" or "-"`);
    }
  }
}

/**
 * Parses `[host[:port]/]path[:tag][@digest]` as docker does: Docker Hub names get `docker.io` and,
 * for one-component names, `library/`. A first component is a host when it contains `.` or `:`
 * or is `localhost`. Throws PolyarchError('INVALID_REFERENCE') quoting the input and saying why.
 * https://github.com/distribution/reference/blob/main/normalize.go (ParseNormalizedNamed)
 */
export function parseReference(text: string): Reference {
  if (text === '') throw invalid(text, 'empty reference');
  if (IMAGE_ID_PATTERN.test(text)) throw invalid(text, 'a 64-character hexadecimal string is an image ID, not a repository name');

  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1));
    } catch (error) {
      throw invalid(text, isPolyarchError(error) ? error.message : 'bad digest', error);
    }
    rest = rest.slice(0, at);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') throw invalid(text, 'empty tag');
    if (!isValidTag(tag)) throw invalid(text, `tag "${tag}" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"`);
  }
  if (rest === '') throw invalid(text, 'empty repository name');

  let registry = DEFAULT_REGISTRY;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0 && looksLikeHost(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    repository = rest.slice(slash + 1);
    checkHost(text, registry);
    if (repository === '') throw invalid(text, 'empty repository name');
  }
  if (registry === LEGACY_DEFAULT_REGISTRY) registry = DEFAULT_REGISTRY;
  checkRepository(text, repository);
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = OFFICIAL_REPO_PREFIX + repository;
  if (registry.length + 1 + repository.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(text, `repository name must not be longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }

  return {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/**
 * A bare registry `host[:port]` (for `login` and `catalog`), checked as the host part of a
 * reference is, and returned as written. Throws PolyarchError('INVALID_REFERENCE').
 */
export function parseRegistryHost(text: string): string {
  if (text === '') throw invalid(text, 'empty registry host');
  checkHost(text, text);
  return text;
}

/**
 * The registry host a login address names, as docker reads it (ConvertToHostname): a scheme and a
 * path are dropped, so `https://registry.example:5000/v2/` is `registry.example:5000`.
 */
export function registryHostOfAddress(text: string): string {
  const bare = text.replace(/^https?:\/\//i, '');
  return parseRegistryHost(bare.includes('/') ? bare.slice(0, bare.indexOf('/')) : bare);
}

/** Adds tag `latest` when the reference has neither tag nor digest (docker's TagNameOnly). */
export function withDefaultTag(ref: Reference): Reference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** The full form `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The name as docker prints it: without `docker.io/`, and without `library/` for official images. */
export function familiarName(ref: Reference): string {
  if (ref.registry !== DEFAULT_REGISTRY) return `${ref.registry}/${ref.repository}`;
  const official = ref.repository.startsWith(OFFICIAL_REPO_PREFIX) ? ref.repository.slice(OFFICIAL_REPO_PREFIX.length) : undefined;
  // library/a/b keeps its prefix: only one-component official names are shortened (docker familiarizeName).
  return official !== undefined && !official.includes('/') ? official : ref.repository;
}

/** familiarName plus `:tag` and `@digest` (docker's FamiliarString), e.g. `nginx:1.25`. */
export function familiarString(ref: Reference): string {
  return `${familiarName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The same reference pinned to `digest`; the tag is kept. */
export function withDigest(ref: Reference, digest: Digest): Reference {
  if (!isDigest(digest)) throw invalid(formatReference(ref), `"${String(digest)}" is not a digest`);
  return { ...ref, digest };
}

/** The same reference with `tag`; a digest is kept. */
export function withTag(ref: Reference, tag: string): Reference {
  if (!isValidTag(tag)) throw invalid(`${formatReference(ref)}`, `tag "${tag}" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"`);
  return { ...ref, tag };
}

/** What to ask the registry for: the digest when there is one, else the tag, else `latest`. */
export function referenceString(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** The host that serves the registry API: Docker Hub's `docker.io` is `registry-1.docker.io`. */
export function registryApiHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}
