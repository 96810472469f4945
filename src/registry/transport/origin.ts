// The one rule for where credentials may travel (containerd's fix for CVE-2020-15157): a request
// carries Authorization or Cookie headers only to the origin (scheme, host, port) they were meant
// for. Every hop of a redirect is checked again; a token realm must be a plain http(s) URL.
import { PolyarchError } from '../../errors/polyarch-error.js';
import { isSensitiveHeader, redactUrl } from '../../internal/redact.js';

/** `scheme://host:port` of a URL ('null' for schemes without an origin). */
export function originOf(url: string | URL): string {
  try {
    return new URL(url.toString()).origin;
  } catch {
    return 'null';
  }
}

/** `host:port` of a URL, for messages. */
export function hostOf(url: string | URL): string {
  try {
    return new URL(url.toString()).host;
  } catch {
    return '<invalid url>';
  }
}

/** May credentials meant for `owner` (an origin) go with a request to `url`? */
export function mayCarryCredentials(owner: string | undefined, url: string | URL): boolean {
  return owner !== undefined && owner !== 'null' && originOf(url) === owner;
}

/** The headers without Authorization, Proxy-Authorization and Cookie. */
export function withoutCredentials(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).filter(([name]) => !isSensitiveHeader(name)));
}

/**
 * The token realm a registry named: an http(s) URL without user info. Another origin is fine
 * (Docker Hub's realm is auth.docker.io) since the challenge came from the registry itself, but
 * the registry's credentials go there only over https, unless the registry itself is plain HTTP.
 */
export function tokenRealm(realm: string | undefined, registryOrigin: string, registry: string): { readonly url: URL; readonly credentialsAllowed: boolean } {
  let url: URL | undefined;
  try {
    url = realm ? new URL(realm) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new PolyarchError('UNAUTHORIZED', `registry ${registry} asks for a bearer token but names no usable realm (only http and https URLs are)`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new PolyarchError('UNAUTHORIZED', `registry ${registry} names a token realm with user info in its URL (${redactUrl(url)}): refused`);
  }
  return { url, credentialsAllowed: url.protocol === 'https:' || registryOrigin.startsWith('http:') };
}

/** The error for a plain-HTTP realm of an https registry when there are credentials to send. */
export function plainRealmError(realm: URL, registry: string): PolyarchError {
  return new PolyarchError(
    'UNAUTHORIZED',
    `registry ${registry} names a plain-HTTP token realm ${redactUrl(realm)}: credentials for an https registry are sent only over https`,
  );
}
