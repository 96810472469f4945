import type { ConnectionOptions } from '../endpoint/open-endpoint.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import { loginRegistry, logoutRegistry, type LoginCredentials } from '../endpoint/registry-account.js';
import { parseRegistryHost } from '../reference/reference.js';
import { referenceOrLatest, toLocation, withOpener, type LocationInput } from './session.js';

type Signal = { readonly signal?: AbortSignal };

export { type LoginCredentials };

/** `login HOST`: verified against the registry before anything is stored. */
export async function login(host: string, credentials: LoginCredentials, options: ConnectionOptions & Signal = {}): Promise<void> {
  if (credentials.username === '' || credentials.password === '') {
    throw new PolyarchError('USAGE', `login to ${host}: username and password must not be empty`);
  }
  await loginRegistry(parseRegistryHost(host), credentials, options);
}

export async function logout(host: string, options: Pick<ConnectionOptions, 'registryConfigDir'> = {}): Promise<void> {
  await logoutRegistry(host, options);
}

/** Tags of a repository or layout, in lexical order. */
export async function listTags(input: LocationInput, options: ConnectionOptions & Signal = {}): Promise<string[]> {
  return withOpener(options, async (opener) => {
    const { endpoint } = await opener.open(toLocation(input), 'read');
    return endpoint.listTags(options.signal ? { signal: options.signal } : {});
  });
}

/** Repositories of a registry (`_catalog`). */
export async function listCatalog(host: string, options: ConnectionOptions & Signal = {}): Promise<string[]> {
  return withOpener(options, async (opener) => opener.registryClient(parseRegistryHost(host)).catalog(options.signal ? { signal: options.signal } : {}));
}

/**
 * Deletes what a location names. A registry deletes manifests by digest, so a tag is resolved
 * first (as crane does); in a layout, a tag entry is removed.
 */
export async function deleteImage(input: LocationInput, options: ConnectionOptions & Signal = {}): Promise<{ readonly deleted: string }> {
  const location = toLocation(input);
  const io = options.signal ? { signal: options.signal } : {};
  return withOpener(options, async (opener) => {
    const { endpoint, reference } = await opener.open(location, 'read');
    const wanted = referenceOrLatest(reference);
    if (endpoint.kind === 'registry') {
      const descriptor = await endpoint.resolve(wanted, io);
      if (!descriptor) throw new PolyarchError('MANIFEST_UNKNOWN', `${endpoint.description}:${wanted}: manifest unknown`);
      await endpoint.deleteManifest(descriptor.digest, io);
      return { deleted: descriptor.digest };
    }
    await endpoint.deleteManifest(wanted, io);
    return { deleted: wanted };
  });
}
