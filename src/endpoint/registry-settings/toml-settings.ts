// `[registry."host"]` sections of buildkitd.toml, and polyarch's own registries.toml in the same
// shape. buildkitd.toml holds much else (workers, gc, grpc): only `registry` is read there, and
// keys BuildKit knows but polyarch does not (tlsconfigdir) are left alone. polyarch's file is
// strict: an unknown key is a typo to report, not something to skip.
import { dirname, isAbsolute, resolve } from 'node:path';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { MAX_HOSTS, MAX_LIST_ENTRIES, MAX_PATH_LENGTH, invalidSetting, quoted, registryHostOf, settingsKeyOf } from './limits.js';
import { parseMirror } from './mirror.js';
import type { ClientKeypair, HostSection, RegistryMirror, SettingsLayer } from './types.js';

type Table = Record<string, unknown>;

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Reads the TOML text of `path` (already read) into a layer; `strict` for polyarch's own file. */
export async function parseTomlSettings(text: string, path: string, kind: 'polyarch' | 'buildkitd'): Promise<SettingsLayer> {
  const { parse } = await import('smol-toml');
  let document: Table;
  try {
    document = parse(text) as Table;
  } catch (error) {
    const reason = ((error as Error).message.split('\n')[0] ?? '').trim();
    throw new PolyarchError('CONFIG_INVALID', `registry settings file "${path}": not valid TOML (${reason})`, { cause: error });
  }
  const strict = kind === 'polyarch';
  if (strict) {
    const unknown = Object.keys(document).find((key) => key !== 'registry');
    if (unknown !== undefined) throw invalidSetting(path, quoted(unknown), 'is not a setting polyarch knows (only [registry."host"] sections)');
  }
  const hosts = new Map<string, HostSection>();
  const registry = document.registry;
  if (registry !== undefined) {
    if (!isTable(registry)) throw invalidSetting(path, 'registry', 'must be a table of [registry."host"] sections');
    const names = Object.keys(registry);
    if (names.length > MAX_HOSTS) throw invalidSetting(path, 'registry', `has ${names.length} hosts, over the limit of ${MAX_HOSTS}`);
    for (const name of names) {
      const host = registryHostOf(name);
      if (host === undefined) throw invalidSetting(path, `[registry.${quoted(name)}]`, 'does not name a registry host[:port]');
      const section = registry[name];
      const key = `registry.${JSON.stringify(name)}`;
      if (!isTable(section)) throw invalidSetting(path, key, 'must be a table');
      hosts.set(settingsKeyOf(host), readSection(section, { path, key, strict, base: dirname(path) }));
    }
  }
  return { kind, path, found: true, hosts, insecureNetworks: [] };
}

interface SectionContext {
  readonly path: string;
  /** `registry."host"` */
  readonly key: string;
  readonly strict: boolean;
  /** Relative file names are taken from the settings file's directory. */
  readonly base: string;
}

const KNOWN_KEYS = new Set(['http', 'insecure', 'ca', 'keypair', 'mirrors']);

function readSection(section: Table, ctx: SectionContext): HostSection {
  if (ctx.strict) {
    const unknown = Object.keys(section).find((name) => !KNOWN_KEYS.has(name));
    if (unknown !== undefined) throw invalidSetting(ctx.path, `${ctx.key}.${quoted(unknown)}`, 'is not a setting polyarch knows (http, insecure, ca, keypair, mirrors)');
  }
  const source = (name: string): string => `${ctx.path} ${ctx.key}.${name}`;
  const result: {
    http?: { value: boolean; source: string };
    insecure?: { value: boolean; source: string };
    ca?: { value: readonly string[]; source: string };
    keypairs?: { value: readonly ClientKeypair[]; source: string };
    mirrors?: { value: readonly RegistryMirror[]; source: string };
  } = {};
  for (const name of ['http', 'insecure'] as const) {
    const value = section[name];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw invalidSetting(ctx.path, `${ctx.key}.${name}`, 'must be true or false');
    result[name] = { value, source: source(name) };
  }
  if (section.ca !== undefined) {
    const files = stringList(section.ca, ctx, 'ca').map((file) => filePath(file, ctx, 'ca'));
    result.ca = { value: files, source: source('ca') };
  }
  if (section.keypair !== undefined) {
    const entries = section.keypair;
    if (!Array.isArray(entries) || !entries.every(isTable)) throw invalidSetting(ctx.path, `${ctx.key}.keypair`, 'must be [[keypair]] tables with key and cert');
    if (entries.length > MAX_LIST_ENTRIES) throw invalidSetting(ctx.path, `${ctx.key}.keypair`, `has ${entries.length} entries, over the limit of ${MAX_LIST_ENTRIES}`);
    const keypairs = entries.map((entry, index): ClientKeypair => {
      const where = `${ctx.key}.keypair[${index}]`;
      if (ctx.strict) {
        const unknown = Object.keys(entry).find((name) => name !== 'key' && name !== 'cert');
        if (unknown !== undefined) throw invalidSetting(ctx.path, `${where}.${quoted(unknown)}`, 'is not a keypair setting (key, cert)');
      }
      const { key, cert } = entry;
      if (typeof key !== 'string' || typeof cert !== 'string') throw invalidSetting(ctx.path, where, 'needs both key and cert file names');
      return { key: filePath(key, ctx, `keypair[${index}].key`), cert: filePath(cert, ctx, `keypair[${index}].cert`) };
    });
    result.keypairs = { value: keypairs, source: source('keypair') };
  }
  if (section.mirrors !== undefined) {
    const mirrors = stringList(section.mirrors, ctx, 'mirrors').map((text, index) => {
      const mirror = parseMirror(text, { allowPrefix: true });
      if (!mirror) throw invalidSetting(ctx.path, `${ctx.key}.mirrors[${index}]`, `${quoted(text)} is not a registry host[:port][/prefix]`);
      return mirror;
    });
    result.mirrors = { value: mirrors, source: source('mirrors') };
  }
  return result;
}

function stringList(value: unknown, ctx: SectionContext, name: string): string[] {
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw invalidSetting(ctx.path, `${ctx.key}.${name}`, 'must be a list of strings');
  }
  if (value.length > MAX_LIST_ENTRIES) throw invalidSetting(ctx.path, `${ctx.key}.${name}`, `has ${value.length} entries, over the limit of ${MAX_LIST_ENTRIES}`);
  return value;
}

function filePath(value: string, ctx: SectionContext, name: string): string {
  if (value === '' || value.length > MAX_PATH_LENGTH || value.includes('\0')) {
    throw invalidSetting(ctx.path, `${ctx.key}.${name}`, `${quoted(value)} is not a usable file name`);
  }
  return isAbsolute(value) ? value : resolve(ctx.base, value);
}
