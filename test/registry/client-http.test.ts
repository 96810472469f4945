// The client against distribution over plain HTTP on loopback (no flag needed), plus what only
// a proxy can stage: altered bytes, cut connections, throttling; and interop with skopeo.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createRegistryClient, type RegistryClient, type RegistryRepository } from '../../src/registry/client.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { randomImage, randomIndex, seededBytes, THREE_PLATFORMS } from '../helpers/images.js';
import { PolyarchError } from '../../src/errors/polyarch-error.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { isBlobGet, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { blobOf, readAll, registrySuite, rejectsWithCode } from './shared-suite.js';

const exec = promisify(execFile);

let registry: DistributionHandle;
before(async () => {
  registry = await startDistribution();
});
after(async () => {
  await registry?.stop();
});

registrySuite('plain HTTP on loopback, no flag', () => ({ host: registry.host, options: {}, scheme: 'http' }));
registrySuite('plain HTTP with insecure', () => ({ host: registry.host, options: { insecure: true }, scheme: 'http' }));

describe('when the network misbehaves', () => {
  const bytes = seededBytes('proxy-blob', 256 * 1024);
  const blob = blobOf(bytes);
  let proxy: ProxyHandle;
  let direct: RegistryClient;

  before(async () => {
    direct = createRegistryClient(registry.host);
    await direct.repository('proxy/app').putBlob(blob, Readable.from([bytes]));
    proxy = await startProxy(registry.host);
  });
  after(async () => {
    await direct?.close();
    await proxy?.stop();
  });

  async function through(fn: (repo: RegistryRepository) => Promise<void>, retries?: number): Promise<void> {
    const client = createRegistryClient(proxy.host, retries !== undefined ? { retries } : {});
    try {
      await fn(client.repository('proxy/app'));
    } finally {
      await client.close();
      proxy.hooks = {};
      proxy.seen.length = 0;
    }
  }

  /** Forwards a blob GET but closes the connection after `limit` body bytes. */
  function cutAfter(limit: number) {
    return (req: Parameters<NonNullable<ProxyHandle['hooks']['respond']>>[0], up: Parameters<NonNullable<ProxyHandle['hooks']['respond']>>[1], res: Parameters<NonNullable<ProxyHandle['hooks']['respond']>>[2]) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (sent >= limit) return;
        const part = chunk.subarray(0, limit - sent);
        sent += part.length;
        res.write(part);
        if (sent >= limit) {
          up.destroy();
          setTimeout(() => res.socket?.destroy(), 20);
        }
      });
      void req;
      return true;
    };
  }

  test('altered bytes fail with DIGEST_MISMATCH before the stream ends', async () => {
    proxy.hooks = {
      respond(req, up, res) {
        if (!isBlobGet(req) || up.statusCode !== 200) return false;
        res.writeHead(200, up.headers);
        let at = 0;
        up.on('data', (chunk: Buffer) => {
          const copy = Buffer.from(chunk);
          if (at <= 1000 && 1000 < at + copy.length) copy[1000 - at] = (copy[1000 - at] as number) ^ 0xff;
          at += copy.length;
          res.write(copy);
        });
        up.on('end', () => res.end());
        return true;
      },
    };
    await through(async (repo) => {
      const stream = await repo.openBlob(blob);
      let ended = false;
      stream.on('end', () => {
        ended = true;
      });
      const error = await rejectsWithCode(readAll(stream), 'DIGEST_MISMATCH');
      assert.match(error.message, /proxy\/app/);
      assert.equal(ended, false);
    });
  });

  test('a connection cut mid-blob is resumed with Range', async () => {
    let cuts = 0;
    proxy.hooks = {
      respond(req, up, res) {
        if (!isBlobGet(req) || cuts > 0) return false;
        cuts++;
        return cutAfter(100_000)(req, up, res);
      },
    };
    await through(async (repo) => {
      const got = await readAll(await repo.openBlob(blob));
      assert.ok(got.equals(bytes));
      const ranges = proxy.seen.filter((s) => s.range !== undefined);
      assert.equal(ranges.length, 1);
      assert.match(ranges[0]!.range!, /^bytes=\d+-$/);
    });
  });

  test('a registry that cannot resume fails cleanly with NETWORK', async () => {
    proxy.hooks = {
      requestHeaders(_req, headers) {
        delete headers.range;
        return headers;
      },
      respond: (req, up, res) => (isBlobGet(req) ? cutAfter(50_000)(req, up, res) : false),
    };
    await through(async (repo) => {
      const error = await rejectsWithCode(readAll(await repo.openBlob(blob)), 'NETWORK');
      assert.match(error.message, /cannot resume/);
    });
  });

  test('resuming stops after the retry count', async () => {
    proxy.hooks = { respond: (req, up, res) => (isBlobGet(req) ? cutAfter(30_000)(req, up, res) : false) };
    await through(async (repo) => {
      const error = await rejectsWithCode(readAll(await repo.openBlob(blob)), 'NETWORK');
      assert.match(error.message, /connection lost after \d+ of 262144 bytes/);
      assert.equal(proxy.seen.filter((s) => s.range !== undefined).length, 2);
    }, 2);
  });

  test('429 with Retry-After is waited for, then retried', async () => {
    let throttled = 0;
    proxy.hooks = {
      intercept(req, res) {
        if (req.method !== 'HEAD' || !(req.url ?? '').includes('/blobs/') || throttled++ > 0) return false;
        res.writeHead(429, { 'retry-after': '1' });
        res.end();
        return true;
      },
    };
    await through(async (repo) => {
      const started = Date.now();
      assert.equal(await repo.hasBlob(blob), true);
      assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
      assert.equal(proxy.seen.filter((s) => s.method === 'HEAD').length, 2);
    });
  });

  test('throttling that does not stop ends in TOOMANYREQUESTS; 503 is retried', async () => {
    proxy.hooks = {
      intercept(req, res) {
        if (!(req.url ?? '').includes('/manifests/')) return false;
        res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
        return true;
      },
    };
    await through(async (repo) => {
      const error = await rejectsWithCode(repo.getManifest('anything'), 'TOOMANYREQUESTS');
      assert.match(error.message, /slow down/);
      assert.equal(proxy.seen.filter((s) => s.path.includes('/manifests/')).length, 2);
    }, 1);
    let failures = 0;
    proxy.hooks = {
      intercept(req, res) {
        if (req.method !== 'HEAD' || failures++ > 1) return false;
        res.writeHead(503);
        res.end();
        return true;
      },
    };
    await through(async (repo) => {
      assert.equal(await repo.hasBlob(blob), true);
      assert.equal(proxy.seen.filter((s) => s.method === 'HEAD').length, 3);
    });
  });

  test('chunked upload: PATCH with Content-Range, OCI-Chunk-Min-Length honoured, relative Location kept with its query', async () => {
    proxy.hooks = {
      respond(req, up, res) {
        if (!['POST', 'PATCH'].includes(req.method ?? '') || !(req.url ?? '').includes('/blobs/uploads/')) return false;
        const headers = { ...up.headers };
        if (typeof headers.location === 'string') headers.location = new URL(headers.location).pathname + new URL(headers.location).search;
        if (req.method === 'POST') headers['oci-chunk-min-length'] = '100000';
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
        return true;
      },
    };
    const chunked = createRegistryClient(proxy.host, { chunkSize: 30_000 });
    try {
      const repo = chunked.repository('proxy/chunked');
      await repo.putBlob(blob, Readable.from([bytes]));
      const patches = proxy.seen.filter((s) => s.method === 'PATCH');
      assert.deepEqual(
        patches.map((p) => p.headers['content-range']),
        ['0-99999', '100000-199999', `200000-${bytes.length - 1}`],
      );
      assert.ok(patches.every((p) => p.path.includes('_state=')), 'the query of Location is kept');
      const final = proxy.seen.find((s) => s.method === 'PUT');
      assert.match(final!.path, /_state=.*&digest=sha256%3A[a-f0-9]{64}$/);
      assert.ok((await readAll(await repo.openBlob(blob))).equals(bytes));
    } finally {
      await chunked.close();
      proxy.hooks = {};
      proxy.seen.length = 0;
    }
  });

  test('manifests: Content-Type falls back to the body; bytes that do not match the digest are refused', async () => {
    const repo = direct.repository('proxy/app');
    const image = await randomImage(repo, { platform: { os: 'linux', architecture: 'ppc64le' }, bytes: 256, tag: 'm', seed: 'proxy-manifest' });
    let mode: 'plain-type' | 'alter' | 'lie' = 'plain-type';
    proxy.hooks = {
      respond(req, up, res) {
        if (req.method !== 'GET' || !(req.url ?? '').includes('/manifests/')) return false;
        const headers: Record<string, string | string[] | undefined> = { ...up.headers, 'content-type': 'application/json' };
        if (mode === 'lie') headers['docker-content-digest'] = `sha256:${'0'.repeat(64)}`;
        res.writeHead(up.statusCode ?? 502, headers);
        if (mode !== 'alter') {
          up.pipe(res);
          return true;
        }
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => res.end(Buffer.from(Buffer.concat(chunks).toString('utf8').replace('config.v1+json', 'config.v1+JSON'))));
        return true;
      },
    };
    const client = createRegistryClient(proxy.host);
    try {
      const viaProxy = client.repository('proxy/app');
      const got = await viaProxy.getManifest('m');
      assert.equal(got.mediaType, MediaType.OciManifest);
      assert.ok(got.bytes.equals(image.manifest.bytes));
      mode = 'alter';
      await rejectsWithCode(viaProxy.getManifest(image.manifest.digest), 'DIGEST_MISMATCH');
      mode = 'lie';
      await rejectsWithCode(viaProxy.getManifest('m'), 'DIGEST_MISMATCH');
    } finally {
      await client.close();
      proxy.hooks = {};
      proxy.seen.length = 0;
    }
  });

  test('a blob GET redirected to another origin (storage) is followed', async () => {
    proxy.hooks = {
      intercept(req, res) {
        if (!isBlobGet(req)) return false;
        res.writeHead(307, { location: `http://${registry.host}${req.url ?? ''}` });
        res.end();
        return true;
      },
    };
    await through(async (repo) => {
      assert.ok((await readAll(await repo.openBlob(blob))).equals(bytes));
      assert.equal(proxy.seen.filter((s) => s.method === 'GET' && s.path.includes('/blobs/')).length, 1);
    });
  });

  test('a source stream that fails mid-upload fails the upload with its own error', async () => {
    for (const chunkSize of [1024 * 1024, 20_000]) {
      const client = createRegistryClient(registry.host, { chunkSize });
      try {
        const failing = new Readable({ read() {} });
        failing.push(bytes.subarray(0, 50_000));
        setTimeout(() => failing.destroy(new PolyarchError('DIGEST_MISMATCH', 'upstream blob: digest mismatch')), 30);
        const error = await rejectsWithCode(client.repository('proxy/failing').putBlob(blob, failing), 'DIGEST_MISMATCH');
        assert.equal(error.message, 'upstream blob: digest mismatch');
        assert.equal(await client.repository('proxy/failing').hasBlob(blob), false);
      } finally {
        await client.close();
      }
    }
  });

  test('an aborted signal stops a request with AbortError', async () => {
    const client = createRegistryClient(registry.host);
    try {
      await assert.rejects(client.repository('proxy/app').getManifest('m', { signal: AbortSignal.abort() }), { name: 'AbortError' });
      const controller = new AbortController();
      const stream = await client.repository('proxy/app').openBlob(blob, { signal: controller.signal });
      controller.abort();
      await assert.rejects(readAll(stream), { name: 'AbortError' });
    } finally {
      await client.close();
    }
  });

  test('a port where nothing listens gives NETWORK naming the registry', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as { port: number };
        server.close(() => resolve(p));
      });
    });
    const client = createRegistryClient(`127.0.0.1:${port}`);
    try {
      const error = await rejectsWithCode(client.ping(), 'NETWORK');
      assert.equal(error.message, `registry 127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
    } finally {
      await client.close();
    }
  });
});

describe('interop with skopeo', () => {
  let client: RegistryClient;
  before(() => {
    client = createRegistryClient(registry.host);
  });
  after(async () => {
    await client?.close();
  });

  test('skopeo reads the exact bytes polyarch pushed, and polyarch reads what skopeo copied', async () => {
    const source = client.repository('interop/a');
    const made = await randomIndex(source, THREE_PLATFORMS, { tag: '1', bytes: 2048, seed: 'interop' });
    const { stdout } = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/interop/a:1`]);
    assert.equal(stdout, made.index.bytes.toString('utf8'));

    await exec('skopeo', ['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${registry.host}/interop/a:1`, `docker://${registry.host}/interop/b:1`]);
    const copied = client.repository('interop/b');
    const top = await copied.getManifest('1');
    assert.ok(top.bytes.equals(made.index.bytes));
    assert.equal(top.digest, made.index.digest);
    for (const image of made.images) {
      const child = await copied.getManifest(image.manifest.digest);
      assert.ok(child.bytes.equals(image.manifest.bytes));
      for (const layer of image.layers) assert.ok((await readAll(await copied.openBlob(layer.descriptor))).equals(layer.bytes));
    }
  });
});
