// docker's config.json: where `docker login` keeps credentials. Lookup order (docker/cli
// configfile): credHelpers[host], then credsStore, then auths[host]. The caller chooses the
// directory ($DOCKER_CONFIG or ~/.docker); nothing here reads the environment.
import { chmod, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { MAX_SMALL_FILE_BYTES, RegularFileError, readProblem, readRegularFile } from '../../internal/regular-file.js';
import { tempPathIn } from '../../internal/temp-path.js';
import type { RegistryCredentials } from '../transport/auth.js';
import { runCredentialHelper, type HelperOptions } from './helper.js';
import { makeDirectories } from '../../internal/make-directories.js';

/** One `auths` entry as docker writes it. */
export interface DockerAuthEntry {
  readonly auth?: string;
  readonly username?: string;
  readonly password?: string;
  readonly identitytoken?: string;
  readonly registrytoken?: string;
}

export interface DockerConfig {
  /** The config.json path (it may not exist). */
  readonly path: string;
  readonly auths: Readonly<Record<string, DockerAuthEntry>>;
  readonly credHelpers: Readonly<Record<string, string>>;
  readonly credsStore?: string;
}

export interface ConfigDirOptions {
  readonly dir: string;
}

/** docker's key for Docker Hub. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** A config key reduced to its host: `https://host/v2/` → `host`; Docker Hub's names → `docker.io`. */
export function normalizeConfigKey(key: string): string {
  let host = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  return HUB_NAMES.has(host) ? 'docker.io' : host;
}

/** The key docker itself uses when it writes credentials for `host`. */
export function configKeyFor(host: string): string {
  return normalizeConfigKey(host) === 'docker.io' ? DOCKER_HUB_KEY : host;
}

async function readRaw(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readRegularFile(path, MAX_SMALL_FILE_BYTES);
  } catch (error) {
    if (error instanceof RegularFileError && error.problem === 'missing') return {};
    throw new PolyarchError('CONFIG_INVALID', `cannot read docker config ${path}: ${readProblem(error)}`, { cause: error });
  }
  if (text.trim() === '') return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new PolyarchError('CONFIG_INVALID', `cannot parse docker config ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function objectOf(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export async function readDockerConfig(options: ConfigDirOptions): Promise<DockerConfig> {
  const path = join(options.dir, 'config.json');
  const raw = await readRaw(path);
  const auths: Record<string, DockerAuthEntry> = {};
  for (const [key, value] of Object.entries(objectOf(raw.auths))) {
    const entry = objectOf(value);
    const pick = (field: string): Record<string, string> => (typeof entry[field] === 'string' ? { [field]: entry[field] as string } : {});
    auths[key] = { ...pick('auth'), ...pick('username'), ...pick('password'), ...pick('identitytoken'), ...pick('registrytoken') };
  }
  const credHelpers: Record<string, string> = {};
  for (const [key, value] of Object.entries(objectOf(raw.credHelpers))) if (typeof value === 'string' && value !== '') credHelpers[key] = value;
  return {
    path,
    auths,
    credHelpers,
    ...(typeof raw.credsStore === 'string' && raw.credsStore !== '' ? { credsStore: raw.credsStore } : {}),
  };
}

/** The value stored under `host`, trying the exact key first, then keys written as URLs. */
function findByHost<T>(map: Readonly<Record<string, T>>, host: string): T | undefined {
  const exact = map[host] ?? map[configKeyFor(host)];
  if (exact !== undefined) return exact;
  const wanted = normalizeConfigKey(host);
  const key = Object.keys(map).find((k) => normalizeConfigKey(k) === wanted);
  return key === undefined ? undefined : map[key];
}

function fromHelper(result: { username: string; secret: string } | undefined): RegistryCredentials | undefined {
  if (!result) return undefined;
  // A helper's "<token>" user means the secret is an identity (refresh) token.
  if (result.username === '<token>') return { identityToken: result.secret };
  return { username: result.username, password: result.secret };
}

function fromEntry(entry: DockerAuthEntry | undefined): RegistryCredentials | undefined {
  if (!entry) return undefined;
  let username = entry.username;
  let password = entry.password;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
  }
  const found: RegistryCredentials = {
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(entry.identitytoken ? { identityToken: entry.identitytoken } : {}),
    ...(entry.registrytoken ? { registryToken: entry.registrytoken } : {}),
  };
  return Object.keys(found).length > 0 ? found : undefined;
}

/** Credentials for a registry host, or undefined when none are configured. */
export async function credentialsFor(config: DockerConfig, host: string, options: Omit<HelperOptions, 'credentials'> = {}): Promise<RegistryCredentials | undefined> {
  const serverUrl = configKeyFor(host);
  const helper = findByHost(config.credHelpers, host);
  if (helper !== undefined) {
    const found = fromHelper(await runCredentialHelper(helper, serverUrl, 'get', options));
    if (found) return found;
  }
  if (config.credsStore !== undefined) {
    const found = fromHelper(await runCredentialHelper(config.credsStore, serverUrl, 'get', options));
    if (found) return found;
  }
  return fromEntry(findByHost(config.auths, host));
}

/** Writes config.json atomically (temp file in the same directory, mode 0600, rename). */
async function writeConfig(dir: string, raw: Record<string, unknown>): Promise<void> {
  await makeDirectories(dir, 0o700);
  const temp = tempPathIn(dir, 'config.json');
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(raw, null, '\t')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(temp, 0o600);
    await rename(temp, join(dir, 'config.json'));
  } finally {
    await rm(temp, { force: true });
  }
}

/** Stores credentials the way `docker login` does: through the configured helper, else in auths. */
export async function storeCredentials(
  options: ConfigDirOptions & Omit<HelperOptions, 'credentials'>,
  host: string,
  credentials: { readonly username: string; readonly password: string },
): Promise<void> {
  const path = join(options.dir, 'config.json');
  const raw = await readRaw(path);
  const config = await readDockerConfig(options);
  const key = configKeyFor(host);
  const auths = { ...objectOf(raw.auths) };
  for (const k of Object.keys(auths)) if (k !== key && normalizeConfigKey(k) === normalizeConfigKey(host)) delete auths[k];
  const helper = findByHost(config.credHelpers, host) ?? config.credsStore;
  if (helper !== undefined) {
    await runCredentialHelper(helper, key, 'store', { ...options, credentials: { username: credentials.username, secret: credentials.password } });
    auths[key] = {}; // docker keeps an empty entry, so `docker login` lists the registry
  } else {
    auths[key] = { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') };
  }
  await writeConfig(options.dir, { ...raw, auths });
}

/** Forgets credentials for `host` (helper erase, and every auths key naming that host). */
export async function removeCredentials(options: ConfigDirOptions & Omit<HelperOptions, 'credentials'>, host: string): Promise<void> {
  const path = join(options.dir, 'config.json');
  const raw = await readRaw(path);
  const config = await readDockerConfig(options);
  const helper = findByHost(config.credHelpers, host) ?? config.credsStore;
  if (helper !== undefined) await runCredentialHelper(helper, configKeyFor(host), 'erase', options);
  const auths = { ...objectOf(raw.auths) };
  const before = Object.keys(auths).length;
  for (const k of Object.keys(auths)) if (normalizeConfigKey(k) === normalizeConfigKey(host)) delete auths[k];
  if (Object.keys(auths).length !== before) await writeConfig(options.dir, { ...raw, auths });
}
