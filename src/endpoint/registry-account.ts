import type { ConnectionOptions } from './open-endpoint.js';
import { defaultRegistryConfigDir, hostTransportFor } from './open-endpoint.js';
import { createRegistryClient } from '../registry/client.js';
import { removeCredentials, storeCredentials } from '../registry/credentials/docker-config.js';

/** An account on a registry (a token is given as the password, as docker takes it). */
export interface LoginCredentials {
  /** The account name; must not be empty. */
  readonly username: string;
  /** The password or access token; must not be empty. */
  readonly password: string;
}

/** Checks the credentials against the registry, then stores them in docker's config (as `docker login`). */
export async function loginRegistry(host: string, credentials: LoginCredentials, options: ConnectionOptions & { signal?: AbortSignal } = {}): Promise<void> {
  const client = createRegistryClient(host, {
    credentials: async () => credentials,
    transport: () => hostTransportFor(host, options),
    ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
  });
  try {
    await client.checkCredentials(options.signal ? { signal: options.signal } : {});
  } finally {
    await client.close();
  }
  await storeCredentials({ dir: options.registryConfigDir ?? defaultRegistryConfigDir() }, host, credentials);
}

/** Forgets stored credentials for a registry (as `docker logout`). */
export async function logoutRegistry(host: string, options: Pick<ConnectionOptions, 'registryConfigDir'> = {}): Promise<void> {
  await removeCredentials({ dir: options.registryConfigDir ?? defaultRegistryConfigDir() }, host);
}
