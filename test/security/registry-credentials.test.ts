// Item 5 of the hardening issue: credentials go only to the registry's own origin (and to the
// token realm the registry itself names). A Basic-auth registry (a front over a real
// distribution) redirects blob GETs to "storage" hosts on other ports (other origins); those
// answer 401 with Bearer realms on a third host that records whatever reaches it.
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { copy } from '../../src/ops/copy.js';
import { createRegistryClient } from '../../src/registry/client.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS, type GeneratedIndex } from '../helpers/images.js';
import { isBlobGet, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { tempDir } from '../helpers/temp-dir.js';
import { startTokenServer, type TokenServer } from '../helpers/token-server.js';
import { runCli } from '../helpers/run-cli.js';

const USER = 'alice';
const PASSWORD = 'registry-only-s3cret';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const REGISTRY_COOKIE = 'session=registry-cookie-value';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly cookie: string | undefined;
}

interface Recorder {
  readonly url: string;
  readonly origin: string;
  readonly seen: Seen[];
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  stop(): Promise<void>;
}

/** A node:http server that records every request's Authorization and Cookie headers. */
async function startRecorder(): Promise<Recorder> {
  const sockets = new Set<Socket>();
  const recorder: Recorder = {
    url: '',
    origin: '',
    seen: [],
    handler: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: 'TOKEN-FROM-A-STRANGER', access_token: 'TOKEN-FROM-A-STRANGER' }));
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    recorder.seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, cookie: req.headers.cookie });
    req.resume();
    recorder.handler(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  Object.assign(recorder, { url: `http://127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` });
  return recorder;
}

/** Streams `path` from the real registry (no auth there) into `res`. */
function serveFrom(dist: DistributionHandle, path: string, res: ServerResponse): void {
  const [host, port] = dist.host.split(':') as [string, string];
  const out = request({ host, port: Number(port), path, method: 'GET' }, (up) => {
    res.writeHead(up.statusCode ?? 502, { 'content-type': 'application/octet-stream', ...(up.headers['content-length'] ? { 'content-length': up.headers['content-length'] } : {}) });
    up.pipe(res);
  });
  out.on('error', () => res.destroy());
  out.end();
}

function bearerChallenge(realm: string): string {
  return `Bearer realm="${realm}",service="storage",scope="repository:app:pull"`;
}

let dist: DistributionHandle;
let made: GeneratedIndex;
let front: ProxyHandle;
let storage: Recorder;
let storage2: Recorder;
let third: Recorder;
/** The registry's own token realm (another origin, as auth.docker.io is for Docker Hub). */
let realmHost: Recorder;
/** The front asks for Bearer tokens from realmHost instead of Basic. */
let bearerMode = false;
const REGISTRY_TOKEN = 'registry-token-for-app';
let dir: { path: string; remove: () => Promise<void> };
let configDir: string;
/** What the front does with a blob GET that carries the right credentials. */
let onBlob: (req: IncomingMessage, res: ServerResponse) => void;

before(async () => {
  dist = await startDistribution();
  const direct = createRegistryClient(dist.host);
  made = await randomIndex(direct.repository('app') as never, THREE_PLATFORMS.slice(0, 2), { tag: '1', bytes: 2048, seed: 'creds' });
  await direct.close();
  [storage, storage2, third, realmHost] = await Promise.all([startRecorder(), startRecorder(), startRecorder(), startRecorder()]);
  realmHost.handler = (req, res) => {
    const ok = req.headers.authorization === BASIC;
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(ok ? JSON.stringify({ token: REGISTRY_TOKEN, expires_in: 300 }) : '{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}');
  };
  // The registry: Basic auth on everything, a session cookie, blob GETs redirected to storage.
  front = await startProxy(dist.host, {
    intercept(req, res) {
      if (req.headers.authorization !== (bearerMode ? `Bearer ${REGISTRY_TOKEN}` : BASIC)) {
        const challenge = bearerMode ? `Bearer realm="${realmHost.url}/token",service="registry"` : 'Basic realm="registry"';
        res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return true;
      }
      if (req.url?.startsWith('/back/')) {
        serveFrom(dist, req.url.slice('/back'.length), res); // a redirect that came home
        return true;
      }
      if (isBlobGet(req)) {
        onBlob(req, res);
        return true;
      }
      return false;
    },
    respond(_req, up, res) {
      res.writeHead(up.statusCode ?? 502, { ...up.headers, 'set-cookie': `${REGISTRY_COOKIE}; Path=/` });
      up.pipe(res);
      return true;
    },
  });
  dir = await tempDir('polyarch-creds-');
  configDir = join(dir.path, 'docker');
  await import('node:fs/promises').then((fs) => fs.mkdir(configDir));
  await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { [front.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));
});

after(async () => {
  await Promise.all([front?.stop(), storage?.stop(), storage2?.stop(), third?.stop(), realmHost?.stop()]);
  await dist?.stop();
  await dir?.remove();
});

function redirect(res: ServerResponse, location: string, status = 307): void {
  res.writeHead(status, { location });
  res.end();
}

/** No request outside the registry's origin carried its password, its cookie, or any token. */
function assertNothingLeaked(): void {
  for (const host of [storage, storage2, third]) {
    for (const s of host.seen) {
      assert.equal(s.authorization, undefined, `${host.url} got Authorization "${s.authorization}" on ${s.method} ${s.path}`);
      assert.equal(s.cookie, undefined, `${host.url} got Cookie "${s.cookie}" on ${s.method} ${s.path}`);
    }
  }
  assert.equal(third.seen.length, 0, `the third host was contacted: ${third.seen.map((s) => `${s.method} ${s.path}`).join(', ')}`);
}

function reset(): void {
  for (const host of [storage, storage2, third, realmHost]) host.seen.length = 0;
  front.seen.length = 0;
  storage.handler = (_req, res) => {
    res.writeHead(401, { 'www-authenticate': bearerChallenge(`${third.url}/token`) });
    res.end();
  };
  storage2.handler = storage.handler;
}

async function layoutFiles(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { recursive: true })).filter((f) => f.startsWith('blobs/sha256/') && f.length > 'blobs/sha256/'.length);
  } catch {
    return [];
  }
}

/** Runs `copy` from the front to a fresh layout; returns the error (or undefined on success). */
async function copyOut(name: string): Promise<Error | undefined> {
  const target = join(dir.path, name);
  try {
    await copy({ source: `${front.host}/app:1`, destination: `oci:${target}:1`, registryConfigDir: configDir, retries: 0 });
    return undefined;
  } catch (error) {
    assert.ok(isPolyarchError(error), `not a coded error: ${String(error)}`);
    assert.ok(!error.message.includes('\n'), `more than one line: ${error.message}`);
    assert.ok(!error.message.includes(PASSWORD), error.message);
    return error;
  }
}

describe('5 credentials never leave the registry origin', () => {
  test('5.1 a redirect target whose 401 names a Bearer realm on a third host gets nothing, and the copy fails naming that host', async () => {
    reset();
    onBlob = (req, res) => redirect(res, `${storage.url}/storage${req.url}`);
    const error = await copyOut('t1');
    assertNothingLeaked();
    assert.ok(error, 'the copy must fail: storage refuses anonymous reads');
    assert.equal((error as { code?: string }).code, 'UNAUTHORIZED');
    assert.ok(error.message.includes(storage.url.slice('http://'.length)), `the error names the storage host: ${error.message}`);
    assert.deepEqual(await layoutFiles(join(dir.path, 't1')), [], 'no blob left in the layout');
  });

  test('5.2 a redirect target that serves without auth: the copy succeeds and it never saw the credentials or the cookie', async () => {
    reset();
    onBlob = (req, res) => redirect(res, `${storage.url}/storage${req.url}`);
    storage.handler = (req, res) => serveFrom(dist, (req.url ?? '').slice('/storage'.length), res);
    assert.equal(await copyOut('t2'), undefined);
    assertNothingLeaked();
    assert.ok(storage.seen.length >= 1);
    assert.ok(front.seen.some((s) => s.headers.cookie === undefined), 'polyarch keeps no cookie jar at all');
  });

  test('5.3 a redirect chain across two hosts: neither gets anything, the third host is never asked', async () => {
    reset();
    onBlob = (req, res) => redirect(res, `${storage.url}/hop${req.url}`, 302);
    storage.handler = (req, res) => redirect(res, `${storage2.url}${req.url}`, 307);
    const error = await copyOut('t3');
    assertNothingLeaked();
    assert.ok(error);
    assert.ok(error.message.includes(storage2.url.slice('http://'.length)), error.message);
  });

  test('5.4 a redirect back to the registry origin carries the credentials again there, and only there', async () => {
    reset();
    // registry → storage → registry (served) : works, credentials only on the registry's hops.
    onBlob = (req, res) => redirect(res, `${storage.url}/away${req.url}`);
    storage.handler = (req, res) => redirect(res, `${front.url}/back${(req.url ?? '').slice('/away'.length)}`);
    assert.equal(await copyOut('t4'), undefined);
    assertNothingLeaked();
    assert.ok(front.seen.some((s) => s.path.startsWith('/back/') && s.headers.authorization === BASIC), 'the registry origin got its credentials back');
    // registry → storage → registry → storage2 (401 Bearer on the third host): nothing leaks.
    reset();
    onBlob = (req, res) => redirect(res, `${storage.url}/away${req.url}`);
    storage.handler = (req, res) => redirect(res, `${front.url}/again${(req.url ?? '').slice('/away'.length)}`);
    const bounce = front.hooks.intercept!;
    front.hooks.intercept = (req, res) => {
      if (req.url?.startsWith('/again/') && req.headers.authorization === BASIC) {
        redirect(res, `${storage2.url}${req.url}`);
        return true;
      }
      return bounce(req, res);
    };
    try {
      const error = await copyOut('t4b');
      assertNothingLeaked();
      assert.ok(error);
    } finally {
      front.hooks.intercept = bounce;
    }
  });

  test('5.5 a realm with user info in its URL (even one that spells the registry host) gets nothing', async () => {
    for (const realm of [`http://${USER}:pw@${third.url.slice(7)}/token`, `http://${front.host}@${third.url.slice(7)}/token`]) {
      reset();
      onBlob = (req, res) => redirect(res, `${storage.url}${req.url}`);
      storage.handler = (_req, res) => {
        res.writeHead(401, { 'www-authenticate': bearerChallenge(realm) });
        res.end();
      };
      const error = await copyOut(`t5-${realm.length}`);
      assertNothingLeaked();
      assert.ok(error);
    }
  });

  test('5.6 a realm with a non-http(s) scheme from a redirect target: an error naming that host, and the registry login is not spoiled', async () => {
    for (const realm of [`ftp://${third.url.slice(7)}/token`, 'file:///etc/passwd', `javascript:alert(1)`]) {
      reset();
      onBlob = (req, res) => redirect(res, `${storage.url}${req.url}`);
      storage.handler = (_req, res) => {
        res.writeHead(401, { 'www-authenticate': bearerChallenge(realm) });
        res.end();
      };
      const client = createRegistryClient(front.host, { credentials: async () => ({ username: USER, password: PASSWORD }), retries: 0 });
      try {
        const repo = client.repository('app');
        const image = made.images[0]!;
        const error = await repo.openBlob(image.layers[0]!.descriptor).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        assert.ok(error && isPolyarchError(error), String(error));
        assert.ok(error.message.includes(storage.url.slice(7)), `names the storage host: ${error.message}`);
        // The registry's own Basic challenge still holds: a manifest read works afterwards.
        assert.equal((await repo.getManifest('1')).digest, made.index.digest);
      } finally {
        await client.close();
      }
      assertNothingLeaked();
    }
  });
});

describe('5 the registry\'s own token realm', () => {
  test('5.8 a Bearer registry whose realm is on another origin: the realm gets the password, the token goes to the registry alone, also after a redirect comes home', async () => {
    reset();
    bearerMode = true;
    try {
      onBlob = (req, res) => redirect(res, `${storage.url}/away${req.url}`);
      storage.handler = (req, res) => redirect(res, `${front.url}/back${(req.url ?? '').slice('/away'.length)}`);
      assert.equal(await copyOut('t8'), undefined);
      assertNothingLeaked();
      assert.ok(realmHost.seen.length > 0 && realmHost.seen.every((s) => s.authorization === BASIC), 'the realm the registry named gets the credentials');
      assert.ok(front.seen.some((s) => s.path.startsWith('/back/') && s.headers.authorization === `Bearer ${REGISTRY_TOKEN}`), 'the token came home with the redirect');
      assert.ok(!front.seen.some((s) => s.headers.authorization === BASIC), 'the registry itself never needed the password');
    } finally {
      bearerMode = false;
    }
  });

  let tokens: TokenServer;
  let secure: DistributionHandle;

  before(async () => {
    tokens = await startTokenServer({ users: { [USER]: PASSWORD } });
    // An https registry whose token realm is plain http: the password must not travel in clear.
    secure = await startDistribution({ tls: true, auth: { token: tokens } });
  });
  after(async () => {
    await secure?.stop();
    await tokens?.stop();
  });

  test('5.7 an https registry naming a plain-http realm: no credentials are sent to it', async () => {
    tokens.reset();
    const client = createRegistryClient(secure.host, { caFile: secure.caFile!, credentials: async () => ({ username: USER, password: PASSWORD }), retries: 0 });
    try {
      const error = await client.repository('app').getManifest('1').then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      assert.ok(error && isPolyarchError(error), String(error));
      assert.ok(!error.message.includes(PASSWORD));
      assert.deepEqual(
        tokens.requests.filter((r) => r.user !== undefined || r.grantType === 'password'),
        [],
        'the plain-http realm received the password',
      );
    } finally {
      await client.close();
    }
  });
});

test('login and logout take docker address forms, but an address with user info (a.example@b.example) is refused: no credentials are stored under either host', async () => {
  const dir = await tempDir();
  try {
    for (const address of ['https://a.example@b.example/', 'https://127.0.0.1:5000@evil.example/v2/', 'ftp://x.example']) {
      for (const verb of ['login', 'logout']) {
        const args = verb === 'login' ? ['login', '-u', 'alice', '--password-stdin', address] : ['logout', address];
        const run = await runCli(['--registry-config', dir.path, ...args], { input: 'secret\n' });
        assert.equal(run.code, 2, `${verb} ${address}: ${run.stderr}`);
        assert.match(run.stderr, /^polyarch: invalid reference .*\[INVALID_REFERENCE\]\n$/);
        assert.ok(!run.stderr.includes('secret'));
      }
    }
    assert.deepEqual(await readdir(dir.path), [], 'no config.json was written');
  } finally {
    await dir.remove();
  }
});
