import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Endpoint } from './endpoint.js';
import type { Location } from '../reference/location.js';
import { createRegistryClient, type RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import { credentialsFor, readDockerConfig } from '../registry/credentials/docker-config.js';
import { openLayout } from '../store/oci-layout.js';
import { openOciArchive } from '../store/oci-archive.js';
import { openDockerArchive } from '../store/docker-archive.js';
import { familiarString, withDefaultTag } from '../reference/reference.js';

/** How polyarch reaches registries; shared by every endpoint one command opens. */
export interface ConnectionOptions {
  /** `true` for every registry, or the hosts that may use plain HTTP or unverified TLS. */
  readonly insecure?: boolean | readonly string[];
  readonly caFile?: string;
  /** docker's config directory (credentials); the caller resolves the default. */
  readonly registryConfigDir?: string;
  readonly userAgent?: string;
  readonly retries?: number;
  /** Milliseconds a registry connection may stay silent before it counts as cut (default 60 s). */
  readonly timeoutMs?: number;
  readonly chunkSize?: number;
  readonly maxManifestSize?: number;
}

export type OpenMode = 'read' | 'write';

/** An opened location: where to talk to, and which tag or digest the user named there. */
export interface OpenedLocation {
  readonly endpoint: Endpoint;
  /** The tag or digest the location names; undefined when it names none. */
  readonly reference: string | undefined;
}

export interface EndpointOpener {
  open(location: Location, mode: OpenMode): Promise<OpenedLocation>;
  /** A client for registry-wide calls (catalog, login checks). */
  registryClient(host: string): RegistryClient;
  close(): Promise<void>;
}

/** The docker config dir: `$DOCKER_CONFIG`, else `~/.docker` (resolved here, at the edge of the library). */
export function defaultRegistryConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG && env.DOCKER_CONFIG !== '' ? env.DOCKER_CONFIG : join(homedir(), '.docker');
}

/**
 * Picks the backend for each location (regclient's scheme dispatch). Registry clients are
 * shared per host, so a copy within one registry reuses connections and tokens.
 */
export function createEndpointOpener(options: ConnectionOptions = {}): EndpointOpener {
  const clients = new Map<string, RegistryClient>();
  const opened: Endpoint[] = [];
  const configDir = options.registryConfigDir ?? defaultRegistryConfigDir();

  const registryClient = (host: string): RegistryClient => {
    let client = clients.get(host);
    if (!client) {
      const insecure = options.insecure === true || (Array.isArray(options.insecure) && options.insecure.includes(host));
      const clientOptions: RegistryClientOptions = {
        insecure,
        credentials: async (registry: string) => credentialsFor(await readDockerConfig({ dir: configDir }), registry),
        ...(options.caFile !== undefined ? { caFile: options.caFile } : {}),
        ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
        ...(options.retries !== undefined ? { retries: options.retries } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
        ...(options.maxManifestSize !== undefined ? { maxManifestSize: options.maxManifestSize } : {}),
      };
      client = createRegistryClient(host, clientOptions);
      clients.set(host, client);
    }
    return client;
  };

  const open = async (location: Location, mode: OpenMode): Promise<OpenedLocation> => {
    let endpoint: Endpoint;
    let reference: string | undefined;
    switch (location.kind) {
      case 'registry':
        endpoint = registryClient(location.reference.registry).repository(location.reference.repository);
        reference = location.reference.digest ?? location.reference.tag;
        break;
      case 'oci-layout':
        endpoint = await openLayout(location.path, { create: mode === 'write' });
        reference = location.digest ?? location.tag;
        break;
      case 'oci-archive':
        endpoint = await openOciArchive(location.path, { write: mode === 'write' });
        reference = location.digest ?? location.tag;
        break;
      case 'docker-archive': {
        // RepoTags are written the way docker prints names: `team/app:1`, `nginx:latest`.
        const named = location.reference ? familiarString(withDefaultTag(location.reference)) : undefined;
        endpoint = await openDockerArchive(location.path, { write: mode === 'write', ...(named !== undefined ? { reference: named } : {}) });
        reference = named;
        break;
      }
    }
    opened.push(endpoint);
    return { endpoint, reference };
  };

  return {
    open,
    registryClient,
    async close() {
      await Promise.allSettled(opened.map((e) => e.close()));
      await Promise.allSettled([...clients.values()].map((c) => c.close()));
    },
  };
}
