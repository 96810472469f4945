import type { Endpoint } from './endpoint.js';
import type { Location } from '../reference/location.js';
import { createRegistryClient, type HostTransport, type RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import { credentialsFor, readDockerConfig } from '../registry/credentials/docker-config.js';
import { withMirrors } from '../registry/mirrors.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { noUserDirectory, userDirectory } from '../internal/home.js';
import { quoted, registryHostOf } from './registry-settings/limits.js';
import { checkHostSettingFiles, loadRegistrySettings, settingsForHost } from './registry-settings/host-settings.js';
import type { EffectiveHostSettings, RegistryMirror, RegistrySettings, RegistrySettingsFiles } from './registry-settings/types.js';
import { openLayout } from '../store/oci-layout.js';
import { openOciArchive } from '../store/oci-archive.js';
import { openDockerArchive } from '../store/docker-archive.js';
import { familiarString, withDefaultTag } from '../reference/reference.js';

/** How polyarch reaches registries; shared by every endpoint one command opens. */
export interface ConnectionOptions {
  /** `true` for every registry, or the hosts that may use plain HTTP or unverified TLS. */
  readonly insecure?: boolean | readonly string[];
  /** A PEM file of CA certificates trusted for every registry, besides the system roots. */
  readonly caFile?: string;
  /** docker's config directory (credentials); the caller resolves the default. */
  readonly registryConfigDir?: string;
  /** The User-Agent header sent to registries. */
  readonly userAgent?: string;
  /** Extra attempts for retryable failures (default 3). */
  readonly retries?: number;
  /** Milliseconds a registry connection may stay silent before it counts as cut (default 60 s). */
  readonly timeoutMs?: number;
  /** Blobs larger than this are uploaded in PATCH chunks of this size (default 64 MiB). */
  readonly chunkSize?: number;
  /** Manifests larger than this are refused (default MAX_MANIFEST_SIZE, 4 MiB). */
  readonly maxManifestSize?: number;
  /**
   * Per-registry settings files (plain HTTP, unverified TLS, CAs, client certificates, mirrors);
   * none are read when absent. `insecure` and `caFile` above beat what the files say.
   */
  readonly registrySettings?: RegistrySettingsFiles;
  /** Stops the opening of a location on this signal (reading an archive's headers, hashing its legacy layers). */
  readonly signal?: AbortSignal;
}

/** Every field of ConnectionOptions: the compiler makes a new field be named here too. */
const CONNECTION_FIELDS = {
  insecure: true,
  caFile: true,
  registryConfigDir: true,
  userAgent: true,
  retries: true,
  timeoutMs: true,
  chunkSize: true,
  maxManifestSize: true,
  registrySettings: true,
  signal: true,
} as const satisfies Record<keyof ConnectionOptions, true>;

/** The connection settings among `options`, and nothing else (for a verb that hands them on to another). */
export function connectionOf(options: ConnectionOptions): ConnectionOptions {
  return Object.fromEntries(Object.entries(options).filter(([key, value]) => key in CONNECTION_FIELDS && value !== undefined)) as ConnectionOptions;
}

/** `edit`: an existing location whose entries are changed in place (a layout's tag removed); never created. */
export type OpenMode = 'read' | 'write' | 'edit';

/** An opened location: where to talk to, and which tag or digest the user named there. */
export interface OpenedLocation {
  readonly endpoint: Endpoint;
  /** The tag or digest the location names; undefined when it names none. */
  readonly reference: string | undefined;
}

export interface EndpointOpener {
  /** Opens a location for reading or writing; the endpoint stays open until `close`. */
  open(location: Location, mode: OpenMode): Promise<OpenedLocation>;
  /** A client for registry-wide calls (catalog, login checks). */
  registryClient(host: string): RegistryClient;
  /** Closes every endpoint and client opened through it. */
  close(): Promise<void>;
}

/** The docker config dir: `$DOCKER_CONFIG`, else `~/.docker` (resolved here, at the edge of the library); USAGE when there is neither (no home, no variable). */
export function defaultRegistryConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = userDirectory(env, 'DOCKER_CONFIG', '.docker');
  if (dir === undefined) throw new PolyarchError('USAGE', `no docker config directory: ${noUserDirectory('DOCKER_CONFIG')}`);
  return dir;
}

/**
 * Picks the backend for each location (regclient's scheme dispatch). Registry clients are
 * shared per host, so a copy within one registry reuses connections and tokens.
 */
export function createEndpointOpener(options: ConnectionOptions = {}): EndpointOpener {
  const clients = new Map<string, RegistryClient>();
  const opened: Endpoint[] = [];
  // With no config directory at all (no DOCKER_CONFIG, no home) there are no stored credentials:
  // registries are asked without any, as docker asks them with no config file.
  const configDir = options.registryConfigDir ?? userDirectory(process.env, 'DOCKER_CONFIG', '.docker');

  let loaded: Promise<RegistrySettings> | undefined;
  const hostSettings = new Map<string, Promise<EffectiveHostSettings>>();
  /** The settings in force for a host: files read once per opener, checked once per host. */
  const settingsOf = (host: string): Promise<EffectiveHostSettings> => {
    let found = hostSettings.get(host);
    if (!found) {
      found = (async () => {
        const settings = await (loaded ??= loadRegistrySettings(options.registrySettings ?? {}));
        const effective = await settingsForHost(settings, host, { flags: flagsFor(options, host) });
        await checkHostSettingFiles(effective);
        return effective;
      })();
      hostSettings.set(host, found);
    }
    return found;
  };

  const makeClient = (host: string, extra: { readonly plainHttp?: boolean; readonly retries?: number }): RegistryClient => {
    const clientOptions: RegistryClientOptions = {
      credentials: async (registry: string) => (configDir === undefined ? undefined : credentialsFor(await readDockerConfig({ dir: configDir }), registry)),
      transport: async () => ({ ...transportOf(await settingsOf(host)), ...(extra.plainHttp === true ? { plainHttp: true } : {}) }),
      ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(extra.retries !== undefined ? { retries: extra.retries } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
      ...(options.maxManifestSize !== undefined ? { maxManifestSize: options.maxManifestSize } : {}),
    };
    return createRegistryClient(host, clientOptions);
  };

  const registryClient = (host: string): RegistryClient => {
    let client = clients.get(host);
    if (!client) {
      client = makeClient(host, {});
      clients.set(host, client);
    }
    return client;
  };

  // Mirrors get clients of their own (own credentials, own settings) and one retry, not three: the
  // next mirror or the registry itself is the better retry, but a blob cut mid-way is still resumed once.
  const mirrorClient = (mirror: RegistryMirror): RegistryClient => {
    const key = `mirror ${mirror.plainHttp ? 'http://' : ''}${mirror.host}`;
    let client = clients.get(key);
    if (!client) {
      client = makeClient(mirror.host, { plainHttp: mirror.plainHttp, retries: Math.min(1, options.retries ?? 1) });
      clients.set(key, client);
    }
    return client;
  };

  /** A repository for reading: through the registry's mirrors when it has any. */
  const readRepository = async (host: string, repository: string): Promise<Endpoint> => {
    const origin = registryClient(host).repository(repository);
    const mirrors = (await settingsOf(host)).mirrors?.value ?? [];
    return withMirrors(
      origin,
      mirrors.map((mirror) => mirrorClient(mirror).repository(mirror.prefix === '' ? repository : `${mirror.prefix}/${repository}`)),
    );
  };

  const open = async (location: Location, mode: OpenMode): Promise<OpenedLocation> => {
    let endpoint: Endpoint;
    let reference: string | undefined;
    switch (location.kind) {
      case 'registry':
        endpoint =
          mode !== 'write'
            ? await readRepository(location.reference.registry, location.reference.repository)
            : registryClient(location.reference.registry).repository(location.reference.repository);
        reference = location.reference.digest ?? location.reference.tag;
        break;
      case 'oci-layout':
        endpoint = await openLayout(location.path, { create: mode === 'write', writable: mode !== 'read' });
        reference = location.digest ?? location.tag;
        break;
      case 'oci-archive':
        if (mode === 'edit') throw archiveEdit(location.path);
        endpoint = await openOciArchive(location.path, { write: mode === 'write', ...(options.signal ? { signal: options.signal } : {}) });
        reference = location.digest ?? location.tag;
        break;
      case 'docker-archive': {
        if (mode === 'edit') throw archiveEdit(location.path);
        // RepoTags are written the way docker prints names: `team/app:1`, `nginx:latest`.
        const named = location.reference ? familiarString(withDefaultTag(location.reference)) : undefined;
        endpoint = await openDockerArchive(location.path, { write: mode === 'write', ...(named !== undefined ? { reference: named } : {}), ...(options.signal ? { signal: options.signal } : {}) });
        reference = named;
        break;
      }
      default:
        throw new PolyarchError('INVALID_LOCATION', `location kind ${JSON.stringify((location as { kind?: unknown }).kind)} is not registry, oci-layout, oci-archive or docker-archive`);
    }
    opened.push(endpoint);
    return { endpoint, reference };
  };

  return {
    open,
    registryClient,
    async close() {
      // Each close is settled on its own: one that throws at once cannot skip the others or hide the error being unwound.
      await Promise.allSettled(opened.map(async (e) => e.close()));
      await Promise.allSettled([...clients.values()].map((c) => c.close()));
    },
  };
}

/** An archive is written whole: nothing in it is changed in place. */
function archiveEdit(path: string): PolyarchError {
  return new PolyarchError('USAGE', `${path}: an archive cannot be changed in place; copy what should stay into a new one (or into an oci: layout)`);
}

/** What the command line says about one host. */
function flagsFor(options: ConnectionOptions, host: string): { insecure?: boolean; caFile?: string } {
  const insecure = options.insecure === true || (Array.isArray(options.insecure) && options.insecure.includes(host));
  return { ...(insecure ? { insecure: true } : {}), ...(options.caFile !== undefined ? { caFile: options.caFile } : {}) };
}

/** The settings for one host as a client's transport: read, checked, then reduced to what the client needs. */
export async function hostTransportFor(host: string, options: Pick<ConnectionOptions, 'insecure' | 'caFile' | 'registrySettings'>): Promise<HostTransport> {
  const effective = await settingsForHost(await loadRegistrySettings(options.registrySettings ?? {}), host, { flags: flagsFor(options, host) });
  await checkHostSettingFiles(effective);
  return transportOf(effective);
}

/** The client's view of a host's settings. */
export function transportOf(settings: EffectiveHostSettings): HostTransport {
  return {
    ...(settings.http?.value === true ? { plainHttp: true } : {}),
    ...(settings.insecure?.value === true ? { insecure: true } : {}),
    ...(settings.ca ? { caFiles: settings.ca.value } : {}),
    ...(settings.keypairs ? { keypairs: settings.keypairs.value } : {}),
  };
}

/** What {@link describeRegistrySettings} takes: the host, and the flags that would be given with it. */
export interface DescribeRegistrySettingsOptions extends Pick<ConnectionOptions, 'insecure' | 'caFile' | 'registrySettings'> {
  /** The registry host, `host[:port]`. */
  readonly registry: string;
  /** Checked before the settings files are read. */
  readonly signal?: AbortSignal;
}

/**
 * The settings in force for one registry host, each with the file (or flag) it came from
 * (`polyarch config show`).
 *
 * {@includeCode ../../examples/api/describeRegistrySettings.ts#example}
 */
export async function describeRegistrySettings(options: DescribeRegistrySettingsOptions): Promise<RegistrySettingsReport> {
  return interruptible(options.signal, async () => {
    const host = options.registry;
    if (registryHostOf(host) === undefined) throw new PolyarchError('INVALID_REFERENCE', `invalid registry host ${quoted(host)}: expected host[:port]`);
    const settings = await loadRegistrySettings(options.registrySettings ?? {});
    const effective = await settingsForHost(settings, host, { flags: flagsFor(options, host) });
    await checkHostSettingFiles(effective);
    return { settings: effective, files: settings.layers.map((layer) => ({ kind: layer.kind, path: layer.path, found: layer.found })) };
  });
}

export interface RegistrySettingsReport {
  readonly settings: EffectiveHostSettings;
  /** Every settings file consulted, highest precedence first. */
  readonly files: readonly { readonly kind: string; readonly path: string; readonly found: boolean }[];
}
