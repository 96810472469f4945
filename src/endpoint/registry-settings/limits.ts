// Bounds on what a settings file may hold: these files are read on every command, so one that is
// huge or hostile is refused with one line instead of slowing or breaking everything.
import { isIP } from 'node:net';
import { PolyarchError } from '../../errors/polyarch-error.js';

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

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*(?::(\\d{1,5}))?$`);
const BRACKETED_IPV6 = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY_PREFIX = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);

/** `host[:port]` as registries are named, lower-cased; undefined when it is not one. */
export function registryHostOf(text: string): string | undefined {
  const host = text.toLowerCase();
  if (host.length === 0 || host.length > 255) return undefined;
  const v6 = BRACKETED_IPV6.exec(host);
  if (v6) return isIP(v6[1] ?? '') === 6 && portOk(v6[2]) ? host : undefined;
  const named = HOST_NAME.exec(host);
  return named && portOk(named[1]) ? host : undefined;
}

function portOk(port: string | undefined): boolean {
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

/** Docker Hub goes by several names; settings for any of them apply to `docker.io`. */
export function settingsKeyOf(host: string): string {
  const lower = host.toLowerCase();
  return lower === 'index.docker.io' || lower === 'registry-1.docker.io' ? 'docker.io' : lower;
}

export function isRepositoryPrefix(text: string): boolean {
  return text.length <= 255 && REPOSITORY_PREFIX.test(text);
}
