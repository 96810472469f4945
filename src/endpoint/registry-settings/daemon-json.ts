// docker's daemon.json: `insecure-registries` (host[:port] names, or CIDR networks matched against
// the addresses a registry's name resolves to, as dockerd does) and `registry-mirrors`, which
// dockerd applies to Docker Hub only. Every other key belongs to dockerd and is left alone.
import { BlockList, isIP } from 'node:net';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { MAX_HOSTS, MAX_LIST_ENTRIES, invalidSetting, quoted, registryHostOf, settingsKeyOf } from './limits.js';
import { parseMirror } from './mirror.js';
import type { HostSection, InsecureNetwork, RegistryMirror, SettingsLayer } from './types.js';

export function parseDaemonJson(text: string, path: string): SettingsLayer {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    // JSON.parse quotes the text around the fault, line feeds and all: the reason stays one line.
    const reason = (error as Error).message.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    throw new PolyarchError('CONFIG_INVALID', `registry settings file "${path}": not valid JSON (${reason})`, { cause: error });
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new PolyarchError('CONFIG_INVALID', `registry settings file "${path}": must hold a JSON object`);
  }
  const fields = document as Record<string, unknown>;
  const hosts = new Map<string, HostSection>();
  const insecureNetworks: InsecureNetwork[] = [];

  const insecure = listOf(fields['insecure-registries'], path, 'insecure-registries', MAX_HOSTS);
  insecure.forEach((entry, index) => {
    const source = `${path} insecure-registries[${index}]`;
    if (entry.includes('/') && !entry.includes('://')) {
      if (parseCidr(entry) === undefined) throw invalidSetting(path, `insecure-registries[${index}]`, `${quoted(entry)} is not a CIDR network`);
      insecureNetworks.push({ cidr: entry, source });
      return;
    }
    // dockerd drops an http:// or https:// in front of an entry, and refuses any other scheme.
    const name = entry.replace(/^https?:\/\//i, '');
    const host = registryHostOf(name);
    if (host === undefined) throw invalidSetting(path, `insecure-registries[${index}]`, `${quoted(entry)} is not a registry host[:port] or CIDR network`);
    hosts.set(settingsKeyOf(host), { insecure: { value: true, source } });
  });

  const mirrorTexts = listOf(fields['registry-mirrors'], path, 'registry-mirrors', MAX_LIST_ENTRIES);
  if (mirrorTexts.length > 0) {
    const mirrors: RegistryMirror[] = mirrorTexts.map((text, index) => {
      const mirror = parseMirror(text, { allowPrefix: false });
      if (!mirror) throw invalidSetting(path, `registry-mirrors[${index}]`, `${quoted(text)} is not an http(s)://host[:port] URL`);
      return mirror;
    });
    hosts.set('docker.io', { ...hosts.get('docker.io'), mirrors: { value: mirrors, source: `${path} registry-mirrors` } });
  }
  return { kind: 'docker-daemon', path, found: true, hosts, insecureNetworks };
}

function listOf(value: unknown, path: string, key: string, max: number): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) throw invalidSetting(path, key, 'must be a list of strings');
  if (value.length > max) throw invalidSetting(path, key, `has ${value.length} entries, over the limit of ${max}`);
  return value;
}

/** A CIDR network as a BlockList that answers whether an address falls in it; undefined when malformed. */
export function parseCidr(text: string): BlockList | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!match) return undefined;
  const address = match[1] ?? '';
  const prefix = Number(match[2]);
  const family = isIP(address);
  if (family === 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
  const list = new BlockList();
  list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return list;
}

/** Whether an address (v4 or v6) lies in the network. */
export function cidrContains(network: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return network.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
