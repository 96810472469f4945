// Reading the settings files once, and the settings in force for one host: each field from the
// highest-precedence place that sets it (flags > polyarch > buildkitd.toml > daemon.json).
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { cidrContains, parseCidr, parseDaemonJson } from './daemon-json.js';
import { checkPemFile, readSettingsText } from './settings-file.js';
import { settingsKeyOf } from './limits.js';
import { parseTomlSettings } from './toml-settings.js';
import type { EffectiveHostSettings, HostSection, RegistrySettings, RegistrySettingsFiles, SettingsFileKind, SettingsFileRef, SettingsLayer } from './types.js';

/** Reads the files named (and only those); an absent optional file counts as empty. */
export async function loadRegistrySettings(files: RegistrySettingsFiles): Promise<RegistrySettings> {
  const order: [SettingsFileKind, SettingsFileRef | undefined][] = [
    ['polyarch', files.polyarch],
    ['buildkitd', files.buildkitd],
    ['docker-daemon', files.dockerDaemon],
  ];
  const layers: SettingsLayer[] = [];
  for (const [kind, ref] of order) {
    if (ref === undefined) continue;
    const text = await readSettingsText(ref);
    if (text === undefined) {
      layers.push({ kind, path: ref.path, found: false, hosts: new Map(), insecureNetworks: [] });
    } else if (kind === 'docker-daemon') {
      layers.push(parseDaemonJson(text, ref.path));
    } else {
      layers.push(await parseTomlSettings(text, ref.path, kind));
    }
  }
  return { layers };
}

/** What the command line says, which beats every file. */
export interface SettingsFlags {
  /** `--insecure` for this host. */
  readonly insecure?: boolean;
  /** `--ca-file`. */
  readonly caFile?: string;
}

export interface HostSettingsOptions {
  readonly flags?: SettingsFlags;
  /** The addresses a host name resolves to, for daemon.json's CIDR entries (default: the system resolver). */
  readonly lookup?: (hostname: string) => Promise<readonly string[]>;
}

const FIELDS = ['http', 'insecure', 'ca', 'keypairs', 'mirrors'] as const;

export async function settingsForHost(settings: RegistrySettings, host: string, options: HostSettingsOptions = {}): Promise<EffectiveHostSettings> {
  const key = settingsKeyOf(host);
  const merged: { -readonly [K in keyof HostSection]: HostSection[K] } = {};
  for (const layer of settings.layers) {
    const section = layer.hosts.get(key);
    if (!section) continue;
    for (const field of FIELDS) {
      if (merged[field] === undefined && section[field] !== undefined) Object.assign(merged, { [field]: section[field] });
    }
  }
  if (merged.insecure === undefined) {
    const networks = settings.layers.flatMap((layer) => layer.insecureNetworks);
    if (networks.length > 0) {
      const addresses = await addressesOf(hostnameOf(host), options.lookup ?? systemLookup);
      for (const network of networks) {
        const list = parseCidr(network.cidr);
        const inside = list ? addresses.find((address) => cidrContains(list, address)) : undefined;
        if (inside !== undefined) {
          merged.insecure = { value: true, source: `${network.source} (${network.cidr} holds ${inside})` };
          break;
        }
      }
    }
  }
  if (options.flags?.insecure === true) merged.insecure = { value: true, source: '--insecure' };
  if (options.flags?.caFile !== undefined) merged.ca = { value: [options.flags.caFile], source: '--ca-file' };
  return { host, ...merged };
}

/** Refuses certificate and key files that are missing, not regular files, or too large, naming the setting. */
export async function checkHostSettingFiles(settings: EffectiveHostSettings): Promise<void> {
  for (const file of settings.ca?.value ?? []) await checkPemFile(file, settings.ca?.source ?? 'ca');
  for (const pair of settings.keypairs?.value ?? []) {
    await checkPemFile(pair.cert, settings.keypairs?.source ?? 'keypair');
    await checkPemFile(pair.key, settings.keypairs?.source ?? 'keypair', 'key');
  }
}

/** The name part of `host[:port]` or `[v6]:port`. */
function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon > 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

async function addressesOf(hostname: string, lookup: (hostname: string) => Promise<readonly string[]>): Promise<readonly string[]> {
  if (isIP(hostname) !== 0) return [hostname];
  try {
    return await lookup(hostname);
  } catch {
    return []; // a name that does not resolve is in no network
  }
}

async function systemLookup(hostname: string): Promise<readonly string[]> {
  return (await dnsLookup(hostname, { all: true })).map((entry) => entry.address);
}
