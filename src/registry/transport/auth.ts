// Registry authentication, chosen from the registry's challenge: none, Basic on every request,
// or Bearer tokens per scope set (token GET, or the OAuth2 POST for identity tokens).
// Credentials go only to the registry's own origin and to the realm it names; only a challenge
// from the registry's own origin is answered (origin.ts holds the rule).
import { RegistryError } from '../../errors/registry-error.js';
import { PolyarchError } from '../../errors/polyarch-error.js';
import { redactUrl } from '../../internal/redact.js';
import { errorFromResponse, readErrorText } from '../response-error.js';
import { parseWwwAuthenticate, type Challenge } from './challenge.js';
import { discardBody, headerValue, type Fetcher, type HttpRequest, type HttpResponse } from './http.js';
import { hostOf, mayCarryCredentials, plainRealmError, tokenRealm, withoutCredentials } from './origin.js';
import { isReplayable } from './retry.js';

/** What a credential source may know for a registry (docker config fields). */
export interface RegistryCredentials {
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user). */
  readonly identityToken?: string | undefined;
  /** A bearer token sent as is (`registrytoken`). */
  readonly registryToken?: string | undefined;
}

export type CredentialSource = (host: string) => Promise<RegistryCredentials | undefined>;

export interface AuthOptions {
  /** The registry as the user named it: credentials are looked up under this name. */
  readonly host: string;
  readonly credentials?: CredentialSource | undefined;
  /** OAuth2 client_id (default 'polyarch'). */
  readonly clientId?: string;
  /** Exchange username/password through the OAuth2 password grant, as `docker login` does. */
  readonly oauthPassword?: boolean;
  /** Clock in milliseconds (tests). */
  readonly now?: () => number;
}

export interface AuthRequest extends HttpRequest {
  /** Token scopes this request needs, e.g. `repository:app:pull`. */
  readonly scopes?: readonly string[] | undefined;
}

export interface AuthFetcher {
  fetch(request: AuthRequest): Promise<HttpResponse>;
  /** Where the registry lives and the challenge its `/v2/` answered with (none when open). */
  setRegistry(origin: string, challengeHeader: string | undefined): void;
  /** 'none' until a challenge is seen. */
  readonly scheme: 'none' | 'basic' | 'bearer';
  close(): Promise<void>;
}

const DEFAULT_EXPIRES_IN = 60;
const TOKEN_USERNAME = '<token>';

/** Merges actions per resource and sorts, so equal needs give one cache key. */
export function normalizeScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes) {
    for (const one of scope.split(' ')) {
      if (one === '') continue;
      const last = one.lastIndexOf(':');
      const resource = last > 0 ? one.slice(0, last) : one;
      const actions = last > 0 ? one.slice(last + 1).split(',') : [];
      const set = byResource.get(resource) ?? new Set<string>();
      for (const action of actions) if (action !== '') set.add(action);
      byResource.set(resource, set);
    }
  }
  return [...byResource.entries()].map(([resource, actions]) => (actions.size > 0 ? `${resource}:${[...actions].sort().join(',')}` : resource)).sort();
}

function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

function hasPassword(c: RegistryCredentials | undefined): c is RegistryCredentials & { username: string; password: string } {
  return c !== undefined && c.username !== undefined && c.username !== '' && c.username !== TOKEN_USERNAME && c.password !== undefined;
}

function refreshTokenOf(c: RegistryCredentials | undefined): string | undefined {
  if (c?.identityToken) return c.identityToken;
  if (c?.username === TOKEN_USERNAME && c.password) return c.password;
  return undefined;
}

interface CachedToken {
  readonly value: string;
  readonly refreshAt: number;
}

export function withAuth(fetcher: Fetcher, options: AuthOptions): AuthFetcher {
  const now = options.now ?? Date.now;
  const clientId = options.clientId ?? 'polyarch';
  let origin: string | undefined;
  let challenge: Challenge | undefined;
  let credentials: Promise<RegistryCredentials | undefined> | undefined;
  let refreshToken: string | undefined;
  const tokens = new Map<string, CachedToken>();
  const pending = new Map<string, Promise<string>>();

  const lookup = (): Promise<RegistryCredentials | undefined> => {
    if (!credentials) {
      credentials = (options.credentials ? options.credentials(options.host) : Promise.resolve(undefined)).catch((error: unknown) => {
        credentials = undefined; // a failing helper is asked again next time
        throw error;
      });
    }
    return credentials;
  };

  const adopt = (next: Challenge): void => {
    if (challenge?.scheme !== next.scheme || challenge.params.realm !== next.params.realm || challenge.params.service !== next.params.service) tokens.clear();
    challenge = next;
  };

  const who = (c: RegistryCredentials | undefined): string => (hasPassword(c) ? ` as ${c.username}` : '');

  const tokenError = async (method: string, response: HttpResponse, creds: RegistryCredentials | undefined): Promise<RegistryError> => {
    const text = await readErrorText(response.body);
    const what = `authenticating to ${options.host}${who(creds)}`;
    // OAuth2 answers {"error","error_description"} (400 invalid_grant included): that is a refusal.
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      let said: string | undefined;
      try {
        const body = JSON.parse(text) as { error?: unknown; error_description?: unknown; details?: unknown };
        said = [body.error_description, body.details, body.error].find((v): v is string => typeof v === 'string' && v !== '');
      } catch {
        // not JSON
      }
      const fromRegistry = errorFromResponse(method, response.url, response.status, text, what);
      if (fromRegistry.code === 'UNAUTHORIZED' || fromRegistry.code === 'DENIED') return fromRegistry;
      return new RegistryError({
        method,
        url: response.url,
        status: response.status,
        what,
        errors: [{ code: 'UNAUTHORIZED', message: said?.replace(/\s+/g, ' ') ?? 'credentials refused by the token server' }],
      });
    }
    return errorFromResponse(method, response.url, response.status, text, what);
  };

  const fetchToken = async (scopes: readonly string[], signal: AbortSignal | undefined): Promise<string> => {
    const c = challenge as Challenge;
    const realm = tokenRealm(c.params.realm, origin ?? 'null', options.host);
    const realmUrl = realm.url;
    let creds = await lookup();
    if (!realm.credentialsAllowed) {
      if (creds !== undefined && Object.values(creds).some((v) => v !== undefined && v !== '')) throw plainRealmError(realmUrl, options.host);
      creds = undefined;
    }
    const service = c.params.service;
    const refresh = realm.credentialsAllowed ? (refreshToken ?? refreshTokenOf(creds)) : undefined;
    let response: HttpResponse | undefined;
    let method = 'POST';
    if (refresh !== undefined || (options.oauthPassword === true && hasPassword(creds))) {
      const form = new URLSearchParams();
      if (refresh !== undefined) {
        form.set('grant_type', 'refresh_token');
        form.set('refresh_token', refresh);
      } else if (hasPassword(creds)) {
        form.set('grant_type', 'password');
        form.set('username', creds.username);
        form.set('password', creds.password);
      }
      if (service !== undefined) form.set('service', service);
      form.set('client_id', clientId);
      form.set('access_type', 'offline');
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      response = await fetcher.fetch({
        method: 'POST',
        url: realmUrl.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        secretBody: true,
        signal,
      });
      // Not every token server speaks OAuth2: a 404 (or 405) means "use GET".
      if (response.status === 404 || response.status === 405) {
        await discardBody(response.body);
        response = undefined;
      }
    }
    if (!response) {
      method = 'GET';
      const url = new URL(realmUrl);
      if (service !== undefined) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (hasPassword(creds)) headers.authorization = basicHeader(creds.username, creds.password);
      else if (refresh !== undefined && creds?.username === TOKEN_USERNAME) headers.authorization = basicHeader(TOKEN_USERNAME, refresh);
      response = await fetcher.fetch({ method: 'GET', url: url.toString(), headers, signal });
    }
    if (response.status !== 200) throw await tokenError(method, response, creds);
    const text = await readErrorText(response.body);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new PolyarchError('UNAUTHORIZED', `token server for ${options.host} answered with something that is not JSON`);
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (token === '') throw new PolyarchError('UNAUTHORIZED', `token server for ${options.host} sent no token`);
    if (typeof body.refresh_token === 'string' && body.refresh_token !== '') refreshToken = body.refresh_token;
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_EXPIRES_IN;
    const ms = seconds * 1000;
    // Refresh ahead of expiry, so a token never runs out in the middle of a request.
    tokens.set(scopeKey(scopes), { value: token, refreshAt: now() + ms - Math.min(30_000, ms / 4) });
    return token;
  };

  const scopeKey = (scopes: readonly string[]): string => `${challenge?.params.realm ?? ''} ${challenge?.params.service ?? ''} ${scopes.join(' ')}`;

  const bearer = async (scopes: readonly string[], signal: AbortSignal | undefined): Promise<string> => {
    const key = scopeKey(scopes);
    const cached = tokens.get(key);
    if (cached && now() < cached.refreshAt) return cached.value;
    let inflight = pending.get(key);
    if (!inflight) {
      inflight = fetchToken(scopes, signal).finally(() => pending.delete(key));
      pending.set(key, inflight);
    }
    return inflight;
  };

  const authorization = async (scopes: readonly string[], signal: AbortSignal | undefined): Promise<string | undefined> => {
    if (!challenge) return undefined;
    const creds = await lookup();
    if (challenge.scheme === 'basic') return hasPassword(creds) ? basicHeader(creds.username, creds.password) : undefined;
    if (challenge.scheme !== 'bearer') return undefined;
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    return `Bearer ${await bearer(scopes, signal)}`;
  };

  const send = (request: AuthRequest, auth: string | undefined): Promise<HttpResponse> => {
    const { scopes: _scopes, ...plain } = request;
    const headers = withoutCredentials(request.headers); // only this layer decides what to send
    return fetcher.fetch({ ...plain, headers: auth === undefined ? headers : { ...headers, authorization: auth } });
  };

  /** A 401 from a host the request was redirected to is never a login: it is an error naming that host. */
  const strangerRefused = async (request: AuthRequest, response: HttpResponse): Promise<never> => {
    await discardBody(response.body);
    throw new PolyarchError(
      'UNAUTHORIZED',
      `${request.method} ${redactUrl(request.url)} was redirected to ${hostOf(response.url)}, which asks for credentials; credentials for ${options.host} are sent to it alone`,
      { status: 401 },
    );
  };

  return {
    get scheme() {
      return challenge?.scheme === 'basic' ? 'basic' : challenge?.scheme === 'bearer' ? 'bearer' : 'none';
    },
    setRegistry(registryOrigin, header) {
      origin = registryOrigin;
      const picked = pickChallenge(parseWwwAuthenticate(header));
      if (picked) adopt(picked);
    },
    async fetch(request) {
      if (origin === undefined) origin = new URL(request.url).origin;
      if (!mayCarryCredentials(origin, request.url)) {
        // Never credentials for another origin (an upload Location or a Link elsewhere), nor a login there.
        const response = await send(request, undefined);
        return response.status === 401 ? strangerRefused(request, response) : response;
      }
      const scopes = normalizeScopes(request.scopes ?? []);
      const auth = await authorization(scopes, request.signal);
      const response = await send(request, auth);
      if (response.status !== 401) return response;
      if (!mayCarryCredentials(origin, response.url)) return strangerRefused(request, response);
      if (!isReplayable(request)) return response;
      const picked = pickChallenge(parseWwwAuthenticate(headerValue(response.headers, 'www-authenticate')));
      if (!picked) return response;

      let retryScopes = scopes;
      if (picked.scheme === 'bearer') {
        // The challenge may name a scope we did not ask for (ggcr maybeUpdateScopes).
        retryScopes = normalizeScopes([...scopes, ...(picked.params.scope ? [picked.params.scope] : [])]);
        const sameScopes = retryScopes.join(' ') === scopes.join(' ');
        const changed = challenge?.scheme !== 'bearer' || challenge.params.realm !== picked.params.realm;
        adopt(picked);
        if (sameScopes && !changed) {
          if (auth === undefined) return response;
          // The token we sent was refused (expired or revoked early): get a fresh one, once.
          tokens.delete(scopeKey(retryScopes));
        }
      } else if (picked.scheme === 'basic') {
        const creds = await lookup();
        if (auth !== undefined || !hasPassword(creds)) return response; // sent and refused, or nothing to send
        adopt(picked);
      } else {
        return response;
      }
      const retryAuth = await authorization(retryScopes, request.signal);
      if (retryAuth === undefined) return response;
      await discardBody(response.body);
      return send(request, retryAuth);
    },
    close: () => fetcher.close(),
  };
}
