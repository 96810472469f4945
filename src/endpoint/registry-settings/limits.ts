// Bounds on what a settings file may hold: these files are read on every command, so one that is
// huge or hostile is refused with one line instead of slowing or breaking everything.
import { PolyarchError } from '../../errors/polyarch-error.js';
import { parseRegistryHost } from '../../reference/reference.js';

export const MAX_SETTINGS_FILE_BYTES = 1024 * 1024;
export const MAX_HOSTS = 1000;
export const MAX_LIST_ENTRIES = 32;
export const MAX_PATH_LENGTH = 4096;
/** A CA bundle or certificate file. */
export const MAX_PEM_FILE_BYTES = 1024 * 1024;

/** A value for a message: quoted, and cut short so a huge value never floods the terminal. */
export function quoted(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 60)}…" (${value.length} characters)` : text;
}

export function invalidSetting(file: string, key: string, why: string): PolyarchError {
  return new PolyarchError('CONFIG_INVALID', `registry settings file "${file}": ${key} ${why}`);
}

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY_PREFIX = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);

/** `host[:port]` as references name registries, lower-cased; undefined when it is not one. */
export function registryHostOf(text: string): string | undefined {
  const host = text.toLowerCase();
  if (host.length === 0 || host.length > 255) return undefined;
  try {
    return parseRegistryHost(host);
  } catch {
    return undefined;
  }
}

/** Docker Hub goes by several names; settings for any of them apply to `docker.io`. */
export function settingsKeyOf(host: string): string {
  const lower = host.toLowerCase();
  return lower === 'index.docker.io' || lower === 'registry-1.docker.io' ? 'docker.io' : lower;
}

export function isRepositoryPrefix(text: string): boolean {
  return text.length <= 255 && REPOSITORY_PREFIX.test(text);
}
