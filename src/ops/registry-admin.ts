import type { ConnectionOptions } from '../endpoint/open-endpoint.js';
import { PolyarchError, isPolyarchError } from '../errors/polyarch-error.js';
import { interruptible } from '../errors/interrupted.js';
import { isDigest } from '../digest/digest.js';
import { loginRegistry, logoutRegistry, type LoginCredentials } from '../endpoint/registry-account.js';
import { parseRegistryHost, registryHostOfAddress } from '../reference/reference.js';
import { referenceOrLatest, toLocation, withOpener, type LocationInput } from './session.js';

export { type LoginCredentials };

/** What {@link login} takes: the registry, the account, and how to connect. */
export interface LoginOptions extends ConnectionOptions, LoginCredentials {
  /** The registry host, `host[:port]`. */
  readonly registry: string;
  /** Stops the check against the registry: nothing is stored, and the verb rejects with `INTERRUPTED`. */
  readonly signal?: AbortSignal;
}

/** What {@link logout} takes. */
export interface LogoutOptions extends Pick<ConnectionOptions, 'registryConfigDir'> {
  /** The registry host whose stored credentials are removed. */
  readonly registry: string;
  /** Checked before anything is removed. */
  readonly signal?: AbortSignal;
}

/** What {@link listTags} takes. */
export interface ListTagsOptions extends ConnectionOptions {
  /** A repository (`host/repo`) or a layout or archive (`oci:DIR`); a tag or digest in it is ignored. */
  readonly location: LocationInput;
  /** Stops the listing: the verb rejects with an `INTERRUPTED` PolyarchError. */
  readonly signal?: AbortSignal;
}

/** What {@link listCatalog} takes. */
export interface ListCatalogOptions extends ConnectionOptions {
  /** The registry host, `host[:port]`. */
  readonly registry: string;
  /** Stops the listing: the verb rejects with an `INTERRUPTED` PolyarchError. */
  readonly signal?: AbortSignal;
}

/** What {@link deleteImage} takes. */
export interface DeleteImageOptions extends ConnectionOptions {
  /** What to delete: `host/repo:tag`, `host/repo@digest`, `oci:DIR:tag`; no tag means `latest`. */
  readonly location: LocationInput;
  /** Stops before the delete is sent (a delete already sent may still happen): the verb rejects with `INTERRUPTED`. */
  readonly signal?: AbortSignal;
}

/** What {@link deleteImage} deleted. */
export interface DeleteImageResult {
  /** The manifest digest a registry deleted, or the tag a layout no longer lists. */
  readonly deleted: string;
}

/**
 * Stores credentials for a registry (`polyarch login`), after checking them against it: wrong
 * ones are refused and nothing is written.
 *
 * {@includeCode ../../examples/api/login.ts#example}
 */
export async function login(options: LoginOptions): Promise<void> {
  const { registry: host, username, password } = options;
  return interruptible(options.signal, async () => {
    if (username === '' || password === '') {
      throw new PolyarchError('USAGE', `login to ${host}: username and password must not be empty`);
    }
    // `login https://host:5000/v2/` as docker takes it: the host alone.
    await loginRegistry(registryHostOfAddress(host), { username, password }, options).catch((error: unknown) => {
      // Told to "log in" is no help to a login the registry refused.
      if (isPolyarchError(error) && error.code === 'UNAUTHORIZED' && !error.hint) {
        throw new PolyarchError('UNAUTHORIZED', error.message, { cause: error, ...(error.status !== undefined ? { status: error.status } : {}), hint: 'check the username and the password (a token goes where the password does)' });
      }
      throw error;
    });
  });
}

/**
 * Removes the stored credentials for a registry (`polyarch logout`).
 *
 * {@includeCode ../../examples/api/logout.ts#example}
 */
export async function logout(options: LogoutOptions): Promise<void> {
  return interruptible(options.signal, () => logoutRegistry(registryHostOfAddress(options.registry), options.registryConfigDir !== undefined ? { registryConfigDir: options.registryConfigDir } : {}));
}

/**
 * Tags of a repository or layout, in lexical order.
 *
 * {@includeCode ../../examples/api/listTags.ts#example}
 */
export async function listTags(options: ListTagsOptions): Promise<string[]> {
  return interruptible(options.signal, () =>
    withOpener(options, async (opener) => {
      const { endpoint } = await opener.open(toLocation(options.location), 'read');
      return endpoint.listTags(options.signal ? { signal: options.signal } : {});
    }),
  );
}

/**
 * Repositories of a registry (its `_catalog`).
 *
 * {@includeCode ../../examples/api/listCatalog.ts#example}
 */
export async function listCatalog(options: ListCatalogOptions): Promise<string[]> {
  return interruptible(options.signal, () =>
    withOpener(options, async (opener) => opener.registryClient(parseRegistryHost(options.registry)).catalog(options.signal ? { signal: options.signal } : {})),
  );
}

/**
 * Deletes what a location names. A registry deletes manifests by digest, so a tag is resolved
 * first (as crane does); in a layout, a tag entry is removed.
 *
 * {@includeCode ../../examples/api/deleteImage.ts#example}
 */
export async function deleteImage(options: DeleteImageOptions): Promise<DeleteImageResult> {
  const io = options.signal ? { signal: options.signal } : {};
  return interruptible(options.signal, () =>
    withOpener(options, async (opener) => {
      const { endpoint, reference } = await opener.open(toLocation(options.location), 'edit');
      const wanted = referenceOrLatest(reference);
      if (endpoint.kind === 'registry') {
        const descriptor = await endpoint.resolve(wanted, io);
        // A digest is written after "@", a tag after ":", as the reference itself is.
        if (!descriptor) throw new PolyarchError('MANIFEST_UNKNOWN', `${endpoint.description}${isDigest(wanted) ? '@' : ':'}${wanted}: manifest unknown`);
        await endpoint.deleteManifest(descriptor.digest, io);
        return { deleted: descriptor.digest };
      }
      await endpoint.deleteManifest(wanted, io);
      return { deleted: wanted };
    }),
  );
}
