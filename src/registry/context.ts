// What the per-concern files (manifests, blobs, uploads, tags, referrers) need from a client:
// one authenticated `send` with the registry's base URL resolved, and the limits.
import { isDigest } from '../digest/digest.js';
import type { HttpBody, HttpResponse } from './transport/http.js';

export interface RegistryRequest {
  readonly method: string;
  /** A path under the registry (`/v2/…?…`) or an absolute URL it sent (Location, Link). */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly body?: HttpBody | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Token scopes the request needs. */
  readonly scopes: readonly string[];
  readonly retry?: boolean | undefined;
  readonly maxRedirects?: number | undefined;
  /** The answer's body is a blob (see HttpRequest.bulk). */
  readonly bulk?: boolean | undefined;
}

export interface RegistryContext {
  /** The registry as the user named it (messages, credentials). */
  readonly host: string;
  readonly retries: number;
  readonly chunkSize: number;
  readonly maxManifestSize: number;
  send(request: RegistryRequest): Promise<HttpResponse>;
}

export interface RepositoryContext extends RegistryContext {
  readonly repository: string;
}

export interface IoOptions {
  readonly signal?: AbortSignal | undefined;
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

export function deleteScope(repository: string): string {
  return `repository:${repository}:delete`;
}

/** `/v2/<name>/<rest>` */
export function repoPath(ctx: RepositoryContext, rest: string): string {
  return `/v2/${ctx.repository}/${rest}`;
}

/** `host/repo:tag` or `host/repo@sha256:…`, for messages. */
export function describeReference(ctx: RepositoryContext, reference: string): string {
  return `${ctx.host}/${ctx.repository}${isDigest(reference) ? '@' : ':'}${reference}`;
}
