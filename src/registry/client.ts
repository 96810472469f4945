// A client for one registry host: the HTTP stack (TLS/scheme → retry → auth), the scheme
// decided by pinging /v2/ on first use, and repository objects shaped like an Endpoint.
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.js';
import { PolyarchError } from '../errors/polyarch-error.js';
import type { Descriptor } from '../image/descriptor.js';
import { MAX_MANIFEST_SIZE, type RawManifest } from '../image/raw-manifest.js';
import { subjectOf } from '../image/referrer.js';
import { deleteBlob, headBlob, mountBlob, openBlob, readBlobInto } from './blobs.js';
import type { PieceTaker } from '../internal/streams.js';
import type { IoOptions, RegistryContext, RegistryRequest, RepositoryContext } from './context.js';
import { deleteManifest, getManifest, headManifest, putManifest } from './manifests.js';
import { addToReferrersTag, hasReferrersApi, listReferrers, type ReferrersOptions } from './referrers.js';
import { errorFromHttp } from './response-error.js';
import { listCatalog, listTags, type ListOptions } from './tags.js';
import { withAuth, type AuthFetcher, type RegistryCredentials } from './transport/auth.js';
import { causeCodes, createFetcher, discardBody, headerValue, isClientCertificateRefusal, isTlsProtocolError, isTlsVerifyError, PieceBody, type TlsSettings } from './transport/http.js';
import { withRetry } from './transport/retry.js';
import { DEFAULT_CHUNK_SIZE, uploadBlob } from './uploads.js';

export interface RegistryClientOptions {
  /** Plain HTTP or unverified TLS for this registry. */
  readonly insecure?: boolean;
  readonly caFile?: string;
  readonly credentials?: (host: string) => Promise<RegistryCredentials | undefined>;
  readonly userAgent?: string;
  /** Extra attempts for retryable failures (default 3). */
  readonly retries?: number;
  /** Milliseconds a connection may stay silent before the request counts as cut (default 60 s). */
  readonly timeoutMs?: number;
  /** Blobs larger than this are uploaded in PATCH chunks of this size (default 64 MiB). */
  readonly chunkSize?: number;
  readonly maxManifestSize?: number;
  /** Accepted for callers that bound their own parallelism; connections are not capped, so a copy within one registry cannot deadlock. */
  readonly concurrency?: number;
  /**
   * Settings read from settings files (which take a file read, maybe a DNS look-up): asked for
   * once, on first contact, and added to `insecure` and `caFile` above.
   */
  readonly transport?: () => Promise<HostTransport>;
}

/** How to reach one registry, as settings files describe it. */
export interface HostTransport extends TlsSettings {
  /** Speak plain HTTP (BuildKit's `http = true`): no TLS is tried. */
  readonly plainHttp?: boolean;
}

export interface PingResult {
  readonly scheme: 'http' | 'https';
  /** 'basic' or 'bearer' when the registry asks for credentials. */
  readonly authScheme?: string;
}

export interface RegistryRepository {
  readonly kind: 'registry';
  readonly description: string;
  readonly registry: { readonly host: string; readonly repository: string };
  resolve(reference: string, options?: IoOptions): Promise<Descriptor | undefined>;
  getManifest(reference: string, options?: IoOptions): Promise<RawManifest>;
  headManifest(reference: string, options?: IoOptions): Promise<Descriptor | undefined>;
  putManifest(manifest: RawManifest, options?: IoOptions & { readonly tag?: string }): Promise<void>;
  deleteManifest(reference: string, options?: IoOptions): Promise<void>;
  hasBlob(descriptor: Descriptor, options?: IoOptions): Promise<boolean>;
  openBlob(descriptor: Descriptor, options?: IoOptions): Promise<Readable>;
  readBlobInto(descriptor: Descriptor, take: PieceTaker, options?: IoOptions): Promise<void>;
  putBlob(descriptor: Descriptor, content: Readable, options?: IoOptions): Promise<void>;
  putBlobFrom(descriptor: Descriptor, read: (take: PieceTaker) => Promise<void>, options?: IoOptions): Promise<void>;
  mountBlob(descriptor: Descriptor, fromRepository: string, options?: IoOptions): Promise<boolean>;
  deleteBlob(digest: Digest, options?: IoOptions): Promise<void>;
  listTags(options?: ListOptions): Promise<string[]>;
  listReferrers(digest: Digest, options?: ReferrersOptions): Promise<Descriptor[]>;
  close(options?: IoOptions & { readonly discard?: boolean }): Promise<void>;
}

export interface RegistryClient {
  /** The registry as named by the caller (`docker.io` stays `docker.io`). */
  readonly host: string;
  ping(options?: IoOptions): Promise<PingResult>;
  /** Proves the credentials against the registry (what `login` does); UNAUTHORIZED when refused. */
  checkCredentials(options?: IoOptions): Promise<void>;
  repository(name: string): RegistryRepository;
  catalog(options?: ListOptions): Promise<string[]>;
  close(): Promise<void>;
}

/** Docker Hub's API lives on another host than its name. */
export function registryApiHost(host: string): string {
  return host === 'docker.io' || host === 'index.docker.io' ? 'registry-1.docker.io' : host;
}

/** localhost, 127.0.0.0/8 and ::1 may speak plain HTTP without a flag (docker's rule). */
export function isLoopbackHost(host: string): boolean {
  let name = host;
  if (name.startsWith('[')) name = name.slice(1, name.indexOf(']'));
  else if (name.split(':').length === 2) name = name.slice(0, name.indexOf(':'));
  name = name.toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

interface Base {
  readonly url: string;
  readonly scheme: 'http' | 'https';
  readonly authScheme?: string;
}

export function createRegistryClient(host: string, options: RegistryClientOptions = {}): RegistryClient {
  if (host === '' || /[/\s@]/.test(host)) throw new PolyarchError('INVALID_REFERENCE', `invalid registry host "${host}"`);
  const apiHost = registryApiHost(host);
  const retries = options.retries ?? 3;
  let transport: Promise<HostTransport> | undefined;
  const hostTransport = (): Promise<HostTransport> => (transport ??= options.transport ? options.transport() : Promise.resolve({}));
  const fetcher = withRetry(
    createFetcher({
      ...(options.insecure !== undefined ? { insecure: options.insecure } : {}),
      ...(options.caFile !== undefined ? { caFile: options.caFile } : {}),
      ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.transport !== undefined ? { tls: hostTransport } : {}),
    }),
    { retries },
  );
  const auth: AuthFetcher = withAuth(fetcher, { host, credentials: options.credentials });
  let base: Promise<Base> | undefined;

  const probe = async (scheme: 'http' | 'https', signal: AbortSignal | undefined): Promise<Base> => {
    const url = `${scheme}://${apiHost}`;
    const response = await fetcher.fetch({ method: 'GET', url: `${url}/v2/`, signal, maxRedirects: 0 });
    await discardBody(response.body);
    const challenge = response.status === 401 ? headerValue(response.headers, 'www-authenticate') : undefined;
    auth.setRegistry(new URL(url).origin, challenge);
    return { url, scheme, ...(auth.scheme !== 'none' ? { authScheme: auth.scheme } : {}) };
  };

  const detect = async (signal: AbortSignal | undefined): Promise<Base> => {
    const settings = await hostTransport();
    if (settings.plainHttp === true) {
      try {
        return await probe('http', signal);
      } catch (error) {
        throw rename(error, host);
      }
    }
    const plainAllowed = options.insecure === true || settings.insecure === true || isLoopbackHost(apiHost);
    try {
      return await probe('https', signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      const refused = causeCodes(error).includes('ECONNREFUSED');
      if (isTlsVerifyError(error)) {
        throw new PolyarchError('TLS', `registry ${host}: TLS certificate not trusted (${tlsReason(error)})`, { cause: error });
      }
      // A registry that wants a client certificate (mutual TLS) and gets none or one it rejects
      // ends the handshake with an alert saying so.
      if (isClientCertificateRefusal(error)) {
        const why = (settings.keypairs?.length ?? 0) > 0 ? 'it does not accept the client certificate given' : `it requires a client certificate ([[registry."${host}".keypair]] in a settings file)`;
        throw new PolyarchError('TLS', `registry ${host} refused the TLS handshake: ${why}`, { cause: error });
      }
      if (plainAllowed && (isTlsProtocolError(error) || refused || causeCodes(error).includes('ECONNRESET'))) {
        try {
          return await probe('http', signal);
        } catch (plainError) {
          throw rename(plainError, host);
        }
      }
      if (isTlsProtocolError(error)) {
        throw new PolyarchError('TLS', `registry ${host} does not answer TLS; a plain-HTTP registry needs --insecure (insecure)`, { cause: error });
      }
      throw rename(error, host);
    }
  };

  const resolveBase = (signal: AbortSignal | undefined): Promise<Base> => {
    if (!base) {
      base = detect(signal);
      base.catch(() => {
        base = undefined; // try again on the next call
      });
    }
    return base;
  };

  const send = async (request: RegistryRequest) => {
    const { url } = await resolveBase(request.signal);
    const target = /^https?:\/\//i.test(request.path) ? request.path : `${url}${request.path}`;
    return auth.fetch({
      method: request.method,
      url: target,
      headers: request.headers,
      body: request.body,
      signal: request.signal,
      scopes: request.scopes,
      retry: request.retry,
      maxRedirects: request.maxRedirects,
      bulk: request.bulk,
    });
  };

  const registryContext: RegistryContext = {
    host,
    retries,
    chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
    maxManifestSize: options.maxManifestSize ?? MAX_MANIFEST_SIZE,
    send,
  };

  const repository = (name: string): RegistryRepository => {
    if (name === '' || name.startsWith('/') || name.endsWith('/') || /\s|\.\.|[A-Z]/.test(name)) {
      throw new PolyarchError('INVALID_REFERENCE', `invalid repository name "${name}" for registry ${host}`);
    }
    const ctx: RepositoryContext = { ...registryContext, repository: name };
    // Learned on the first referrer pushed without an OCI-Subject answer: whether to keep the fallback tag.
    let referrersApi: boolean | undefined;
    return {
      kind: 'registry',
      description: `registry ${host}/${name}`,
      registry: { host, repository: name },
      resolve: (reference, o = {}) => headManifest(ctx, reference, o),
      getManifest: (reference, o = {}) => getManifest(ctx, reference, o),
      headManifest: (reference, o = {}) => headManifest(ctx, reference, o),
      putManifest: async (manifest, o = {}) => {
        const pushed = await putManifest(ctx, manifest, o);
        const subject = subjectOf(manifest);
        if (subject === undefined || pushed.ociSubject !== undefined) return;
        referrersApi ??= await hasReferrersApi(ctx, subject.digest, o);
        if (!referrersApi) await addToReferrersTag(ctx, manifest, subject.digest, o);
      },
      deleteManifest: (reference, o = {}) => deleteManifest(ctx, reference, o),
      hasBlob: async (descriptor, o = {}) => (await headBlob(ctx, descriptor.digest, o)) !== undefined,
      openBlob: (descriptor, o = {}) => openBlob(ctx, descriptor, o),
      readBlobInto: (descriptor, take, o = {}) => readBlobInto(ctx, descriptor, take, o),
      putBlob: (descriptor, content, o = {}) => uploadBlob(ctx, content, { digest: descriptor.digest, size: descriptor.size, signal: o.signal }),
      putBlobFrom: (descriptor, read, o = {}) => uploadBlob(ctx, new PieceBody(read), { digest: descriptor.digest, size: descriptor.size, signal: o.signal }),
      mountBlob: (descriptor, from, o = {}) => mountBlob(ctx, descriptor, from, o),
      deleteBlob: (digest, o = {}) => deleteBlob(ctx, digest, o),
      listTags: (o = {}) => listTags(ctx, o),
      listReferrers: (digest, o = {}) => listReferrers(ctx, digest, o),
      close: async () => {
        // Connections belong to the client, shared by its repositories.
      },
    };
  };

  return {
    host,
    async ping(o = {}) {
      const found = await resolveBase(o.signal);
      return { scheme: found.scheme, ...(found.authScheme !== undefined ? { authScheme: found.authScheme } : {}) };
    },
    async checkCredentials(o = {}) {
      const found = await resolveBase(o.signal);
      if (found.authScheme === undefined) return; // an open registry takes anyone
      const credentials = options.credentials ? await options.credentials(host) : undefined;
      if (!credentials || Object.values(credentials).every((v) => v === undefined || v === '')) {
        throw new PolyarchError('UNAUTHORIZED', `registry ${host} asks for credentials and none were given`);
      }
      // Basic: /v2/ with the credentials. Bearer: a token issued for them, then /v2/ with it.
      const response = await send({ method: 'GET', path: '/v2/', scopes: [], signal: o.signal });
      if (response.status !== 200) throw await errorFromHttp('GET', response, `logging in to ${host}`);
      await discardBody(response.body);
    },
    repository,
    catalog: (o = {}) => listCatalog(registryContext, o),
    close: () => fetcher.close(),
  };
}

function tlsReason(error: unknown): string {
  for (let e = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (!(e instanceof PolyarchError)) return (e.message.split('\n')[0] ?? '').trim();
  }
  return 'verification failed';
}

/** Re-words a network failure on the first contact so it names the registry. */
function rename(error: unknown, host: string): unknown {
  if (!(error instanceof PolyarchError) || (error.code !== 'NETWORK' && error.code !== 'TLS')) return error;
  const reason = error.message.slice(error.message.lastIndexOf(': ') + 2);
  return new PolyarchError(error.code, `registry ${host}: ${reason}`, { cause: error });
}
