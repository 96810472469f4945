// The client against distribution with token auth, served by an in-process token server:
// anonymous pulls, authenticated pushes, token caching per scope set, cross-repository mounts
// with two scopes in one token, OAuth2 refresh tokens (and the GET fallback), expiry.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { withAuth, type RegistryCredentials } from '../../src/registry/transport/auth.js';
import { createFetcher } from '../../src/registry/transport/http.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { randomImage, seededBytes, type GeneratedImage } from '../helpers/images.js';
import { startTokenServer, type TokenServer } from '../helpers/token-server.js';
import { blobOf, readAll, registrySuite, rejectsWithCode } from './shared-suite.js';

const PASSWORD = 'wonderland-2024';
let tokens: TokenServer;
let registry: DistributionHandle;

before(async () => {
  tokens = await startTokenServer({ users: { alice: PASSWORD } });
  registry = await startDistribution({ auth: { token: tokens } });
});
after(async () => {
  await registry?.stop();
  await tokens?.stop();
});

function clientWith(credentials: RegistryCredentials | undefined): RegistryClient {
  return createRegistryClient(registry.host, { credentials: async () => credentials });
}

registrySuite('token auth', () => ({ host: registry.host, options: { credentials: async () => ({ username: 'alice', password: PASSWORD }) }, scheme: 'http' }));

describe('bearer tokens', () => {
  let alice: RegistryClient;
  let image: GeneratedImage;

  before(async () => {
    alice = clientWith({ username: 'alice', password: PASSWORD });
    image = await randomImage(alice.repository('public/app'), { platform: { os: 'linux', architecture: 'arm64' }, bytes: 1024, tag: '1', seed: 'token' });
  });
  after(async () => {
    await alice?.close();
  });

  test('anonymous pull works with one cached token; anonymous push is refused', async () => {
    const anonymous = clientWith(undefined);
    try {
      assert.deepEqual(await anonymous.ping(), { scheme: 'http', authScheme: 'bearer' });
      tokens.reset();
      const repo = anonymous.repository('public/app');
      for (let i = 0; i < 5; i++) assert.ok((await repo.getManifest('1')).bytes.equals(image.manifest.bytes));
      assert.ok((await readAll(await repo.openBlob(image.layers[0]!.descriptor))).equals(image.layers[0]!.bytes));
      assert.equal(tokens.issued, 1);
      assert.deepEqual(tokens.requests[0], { method: 'GET', grantType: undefined, user: undefined, scopes: ['repository:public/app:pull'], status: 200 });
      const bytes = Buffer.from('anonymous push');
      await rejectsWithCode(repo.putBlob(blobOf(bytes), Readable.from([bytes])), 'UNAUTHORIZED');
    } finally {
      await anonymous.close();
    }
  });

  test('a cross-repository mount asks for both scopes in one token and gets 201', async () => {
    tokens.reset();
    const layer = image.layers[1]!.descriptor;
    assert.equal(await alice.repository('public/copy').mountBlob(layer, 'public/app'), true);
    assert.ok(
      tokens.requests.some((r) => r.user === 'alice' && r.scopes.includes('repository:public/app:pull') && r.scopes.includes('repository:public/copy:pull,push')),
      JSON.stringify(tokens.requests),
    );
    assert.equal(await alice.repository('public/copy').hasBlob(layer), true);
  });

  test('a wrong password is one UNAUTHORIZED line without the password', async () => {
    const secret = 'not-the-Pa55word';
    const wrong = clientWith({ username: 'alice', password: secret });
    try {
      for (const attempt of [() => wrong.checkCredentials(), () => wrong.repository('public/app').getManifest('1')]) {
        const error = await rejectsWithCode(attempt(), 'UNAUTHORIZED');
        assert.match(error.message, /alice/);
        assert.ok(!error.message.includes(secret), error.message);
      }
      await alice.checkCredentials();
    } finally {
      await wrong.close();
    }
  });

  test('an identity token goes through the OAuth2 refresh grant; a 404 on POST falls back to GET', async () => {
    // Get a refresh token as `docker login` does: the password grant with access_type=offline.
    tokens.reset();
    const login = withAuth(createFetcher(), { host: registry.host, credentials: async () => ({ username: 'alice', password: PASSWORD }), oauthPassword: true });
    login.setRegistry(`http://${registry.host}`, `Bearer realm="${tokens.realm}",service="${tokens.service}"`);
    const ping = await login.fetch({ method: 'GET', url: `http://${registry.host}/v2/`, scopes: [] });
    ping.body.resume();
    assert.equal(ping.status, 200);
    assert.equal(tokens.requests[0]?.grantType, 'password');
    await login.close();
    const refresh = await (async () => {
      const response = await fetch(tokens.realm, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORD, service: tokens.service, client_id: 'test', access_type: 'offline' }),
      });
      return ((await response.json()) as { refresh_token: string }).refresh_token;
    })();

    tokens.reset();
    const viaIdentity = clientWith({ identityToken: refresh });
    try {
      const bytes = seededBytes('identity', 3000);
      await viaIdentity.repository('public/identity').putBlob(blobOf(bytes), Readable.from([bytes]));
      assert.ok(tokens.requests.length > 0 && tokens.requests.every((r) => r.method === 'POST' && r.grantType === 'refresh_token' && r.user === 'alice'), JSON.stringify(tokens.requests));
    } finally {
      await viaIdentity.close();
    }

    tokens.reset();
    tokens.rejectPost = true;
    const helperStyle = clientWith({ username: '<token>', password: refresh });
    try {
      assert.ok((await helperStyle.repository('public/app').getManifest('1')).bytes.equals(image.manifest.bytes));
      assert.deepEqual(
        tokens.requests.map((r) => [r.method, r.status, r.user]),
        [
          ['POST', 404, undefined],
          ['GET', 200, 'alice'],
        ],
      );
    } finally {
      tokens.rejectPost = false;
      await helperStyle.close();
    }
  });

  test('a token is refreshed before it expires', async () => {
    tokens.expiresIn = 1;
    const short = clientWith({ username: 'alice', password: PASSWORD });
    try {
      const repo = short.repository('public/app');
      await repo.resolve('1');
      tokens.reset();
      await repo.resolve('1');
      assert.equal(tokens.issued, 0, 'still fresh');
      await new Promise((resolve) => setTimeout(resolve, 800));
      await repo.resolve('1');
      assert.equal(tokens.issued, 1, 'refreshed ahead of expiry');
    } finally {
      tokens.expiresIn = 60;
      await short.close();
    }
  });

  test('a scope named in a 401 challenge is added and the token re-issued', async () => {
    tokens.reset();
    const auth = withAuth(createFetcher(), { host: registry.host, credentials: async () => undefined });
    try {
      auth.setRegistry(`http://${registry.host}`, `Bearer realm="${tokens.realm}",service="${tokens.service}"`);
      const response = await auth.fetch({ method: 'GET', url: `http://${registry.host}/v2/public/app/tags/list`, scopes: [] });
      assert.equal(response.status, 200);
      assert.deepEqual(JSON.parse(await new Response(Readable.toWeb(response.body) as ReadableStream).text()), { name: 'public/app', tags: ['1'] });
      assert.deepEqual(
        tokens.requests.map((r) => r.scopes),
        [[], ['repository:public/app:pull']],
      );
    } finally {
      await auth.close();
    }
  });
});
