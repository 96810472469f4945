// An in-process token server for distribution's `auth.token`: RS256 JWTs whose `x5c` header
// holds this server's self-signed certificate (listed as distribution's rootcertbundle).
// Anonymous callers get `pull`; known users get everything. Counts what it issues.
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeSelfSignedCert } from './tls.js';
import { tempDir } from './temp-dir.js';

export interface TokenRequestRecord {
  readonly method: string;
  readonly grantType: string | undefined;
  readonly user: string | undefined;
  readonly scopes: readonly string[];
  readonly status: number;
}

export interface TokenServer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM certificate distribution trusts (rootcertbundle). */
  readonly certFile: string;
  /** Tokens issued so far. */
  readonly issued: number;
  readonly requests: readonly TokenRequestRecord[];
  /** Answer POSTs with 404, as token servers without OAuth2 do. */
  rejectPost: boolean;
  /** Lifetime of issued tokens, in seconds. */
  expiresIn: number;
  /** Forgets the request log and the counter. */
  reset(): void;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  readonly users?: Readonly<Record<string, string>>;
  readonly expiresIn?: number;
  readonly service?: string;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = await tempDir('polyarch-token-');
  const cert = await makeSelfSignedCert(dir.path, { hosts: ['token-issuer.test'], keyType: 'rsa', name: 'token', commonName: 'polyarch token issuer' });
  const key: KeyObject = createPrivateKey(cert.keyPem);
  const x5c = new X509Certificate(cert.certPem).raw.toString('base64');
  const users = options.users ?? {};
  const service = options.service ?? 'polyarch-test-registry';
  const issuer = 'polyarch-test-token-server';
  const refreshTokens = new Map<string, string>();
  const requests: TokenRequestRecord[] = [];
  let issued = 0;

  const grant = (user: string | undefined, scopes: string[]): Access[] =>
    scopes.flatMap((scope) => {
      const access = parseScope(scope);
      if (!access) return [];
      const allowed = user !== undefined ? access.actions : access.type === 'repository' ? access.actions.filter((a) => a === 'pull') : [];
      return allowed.length > 0 ? [{ ...access, actions: allowed }] : [];
    });

  const jwt = (user: string | undefined, access: Access[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [x5c] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + state.expiresIn, nbf: now - 5, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token');
    const record = (grantType: string | undefined, user: string | undefined, scopes: string[], status: number): void => {
      requests.push({ method: req.method ?? '', grantType, user, scopes, status });
    };
    if (url.pathname !== '/token') {
      send(res, 404, { error: 'not found' });
      return;
    }
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const grantType = form.get('grant_type') ?? undefined;
      const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      if (state.rejectPost) {
        record(grantType, undefined, scopes, 404);
        send(res, 404, { error: 'not found' });
        return;
      }
      let user: string | undefined;
      if (grantType === 'password') {
        const name = form.get('username') ?? '';
        if (users[name] === undefined || users[name] !== form.get('password')) {
          record(grantType, undefined, scopes, 401);
          send(res, 401, { error: 'invalid_grant', error_description: 'wrong username or password' });
          return;
        }
        user = name;
      } else if (grantType === 'refresh_token') {
        user = refreshTokens.get(form.get('refresh_token') ?? '');
        if (user === undefined) {
          record(grantType, undefined, scopes, 400);
          send(res, 400, { error: 'invalid_grant', error_description: 'unknown refresh token' });
          return;
        }
      } else {
        record(grantType, undefined, scopes, 400);
        send(res, 400, { error: 'unsupported_grant_type' });
        return;
      }
      const body: Record<string, unknown> = { access_token: jwt(user, grant(user, scopes)), expires_in: state.expiresIn, scope: scopes.join(' ') };
      if (grantType === 'password' && form.get('access_type') === 'offline') {
        const refresh = randomBytes(16).toString('hex');
        refreshTokens.set(refresh, user);
        body.refresh_token = refresh;
      }
      issued++;
      record(grantType, user, scopes, 200);
      send(res, 200, body);
      return;
    }
    if (req.method !== 'GET') {
      send(res, 405, { error: 'method not allowed' });
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    let user: string | undefined;
    const authorization = req.headers.authorization;
    if (authorization?.startsWith('Basic ')) {
      const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const name = decoded.slice(0, colon);
      const secret = decoded.slice(colon + 1);
      if (name === '<token>' ? refreshTokens.has(secret) : users[name] !== undefined && users[name] === secret) {
        user = name === '<token>' ? refreshTokens.get(secret) : name;
      } else {
        record(undefined, undefined, scopes, 401);
        send(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'wrong username or password' }] });
        return;
      }
    }
    issued++;
    record(undefined, user, scopes, 200);
    const token = jwt(user, grant(user, scopes));
    send(res, 200, { token, access_token: token, expires_in: state.expiresIn, issued_at: new Date().toISOString() });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const state = {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile: cert.certFile,
    get issued() {
      return issued;
    },
    requests,
    rejectPost: false,
    expiresIn: options.expiresIn ?? 60,
    reset() {
      issued = 0;
      requests.length = 0;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dir.remove();
    },
  };
  return state;
}
