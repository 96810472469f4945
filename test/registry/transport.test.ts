// Transport details that need no registry: redirects keep credentials on the origin only,
// Retry-After parsing, scope merging, loopback and Docker Hub host rules.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { isLoopbackHost, registryApiHost } from '../../src/registry/client.js';
import { normalizeScopes } from '../../src/registry/transport/auth.js';
import { createFetcher } from '../../src/registry/transport/http.js';
import { retryAfterMs } from '../../src/registry/transport/retry.js';

const servers: Server[] = [];
const seen: { server: string; path: string; headers: IncomingHttpHeaders }[] = [];
let a = '';
let b = '';

async function listen(name: string, handler: (path: string, respond: (status: number, headers?: Record<string, string>) => void) => void): Promise<string> {
  const server = createServer((req, res) => {
    seen.push({ server: name, path: req.url ?? '', headers: req.headers });
    handler(req.url ?? '', (status, headers = {}) => {
      res.writeHead(status, headers);
      res.end(status === 200 ? 'ok' : '');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

before(async () => {
  b = await listen('b', (_path, respond) => respond(200));
  a = await listen('a', (path, respond) => {
    if (path === '/same') respond(307, { location: '/final' });
    else if (path === '/other') respond(302, { location: `${b}/storage?sig=1` });
    else respond(200);
  });
});
after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a redirect on the same origin keeps Authorization; one to another origin drops it', async () => {
  const fetcher = createFetcher({ userAgent: 'polyarch-test' });
  try {
    for (const path of ['/same', '/other']) {
      const response = await fetcher.fetch({ method: 'GET', url: `${a}${path}`, headers: { authorization: 'Bearer secret-token', cookie: 'c=1', accept: 'x/y' } });
      assert.equal(response.status, 200);
      response.body.resume();
    }
    const final = seen.find((s) => s.server === 'a' && s.path === '/final')!;
    assert.equal(final.headers.authorization, 'Bearer secret-token');
    const storage = seen.find((s) => s.server === 'b')!;
    assert.equal(storage.path, '/storage?sig=1');
    assert.equal(storage.headers.authorization, undefined);
    assert.equal(storage.headers.cookie, undefined);
    assert.equal(storage.headers.accept, 'x/y');
    assert.equal(storage.headers['user-agent'], 'polyarch-test');
  } finally {
    await fetcher.close();
  }
});

test('retryAfterMs reads seconds and HTTP dates', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  const cases: [string | undefined, number | undefined][] = [
    ['3', 3000],
    [' 0 ', 0],
    ['Mon, 01 Jan 2024 00:00:05 GMT', 5000],
    ['Sun, 31 Dec 2023 23:59:00 GMT', 0],
    ['soon', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [value, expected] of cases) assert.equal(retryAfterMs(value, now), expected, String(value));
});

test('normalizeScopes merges actions per resource and sorts', () => {
  assert.deepEqual(normalizeScopes(['repository:b:push', 'repository:a:pull', 'repository:b:pull']), ['repository:a:pull', 'repository:b:pull,push']);
  assert.deepEqual(normalizeScopes(['repository:a:pull repository:c:pull', 'registry:catalog:*']), ['registry:catalog:*', 'repository:a:pull', 'repository:c:pull']);
  assert.deepEqual(normalizeScopes([]), []);
});

test('loopback hosts may speak plain HTTP; others may not', () => {
  const yes = ['localhost', 'localhost:5000', '127.0.0.1', '127.0.0.1:5000', '127.1.2.3:80', '[::1]:5000', '[::1]', 'app.localhost:8080'];
  const no = ['example.com', 'example.com:5000', '128.0.0.1', '10.0.0.1:5000', 'localhost.example.com', '[::2]:5000', '127.0.0.1.nip.io'];
  for (const host of yes) assert.equal(isLoopbackHost(host), true, host);
  for (const host of no) assert.equal(isLoopbackHost(host), false, host);
});

test('docker.io talks to registry-1.docker.io', () => {
  assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryApiHost('index.docker.io'), 'registry-1.docker.io');
  assert.equal(registryApiHost('ghcr.io'), 'ghcr.io');
});
