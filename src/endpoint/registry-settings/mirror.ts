import { registryHostOf, isRepositoryPrefix } from './limits.js';
import type { RegistryMirror } from './types.js';

/**
 * A mirror as written in a settings file: `host[:port][/prefix]` (BuildKit) or an
 * `http(s)://host[:port]` URL (docker's registry-mirrors). Undefined when it is neither.
 */
export function parseMirror(text: string, options: { readonly allowPrefix: boolean }): RegistryMirror | undefined {
  let rest = text.trim();
  let plainHttp = false;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (scheme) {
    const name = (scheme[1] ?? '').toLowerCase();
    if (name !== 'http' && name !== 'https') return undefined;
    plainHttp = name === 'http';
    rest = rest.slice(scheme[0].length);
  }
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  const slash = rest.indexOf('/');
  const hostText = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  const host = registryHostOf(hostText);
  if (host === undefined) return undefined;
  if (prefix !== '' && (!options.allowPrefix || !isRepositoryPrefix(prefix))) return undefined;
  return { host, prefix, plainHttp };
}

/** The mirror as polyarch prints it. */
export function formatMirror(mirror: RegistryMirror): string {
  return `${mirror.plainHttp ? 'http://' : ''}${mirror.host}${mirror.prefix !== '' ? `/${mirror.prefix}` : ''}`;
}
