// Attacks through the new ways in of registry settings: a mirror serving wrong bytes for a
// digest, a mirror fishing for the origin's credentials, and settings files (or the files they
// name) that are huge, devices, directories or FIFOs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { parseDaemonJson } from '../../src/endpoint/registry-settings/daemon-json.js';
import { parseTomlSettings } from '../../src/endpoint/registry-settings/toml-settings.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { isTempName } from '../../src/internal/temp-path.js';
import { parseLocation } from '../../src/reference/location.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { randomImage, THREE_PLATFORMS, type GeneratedImage } from '../helpers/images.js';
import { isBlobGet, startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const USER = 'origin-user';
const PASSWORD = 'origin-only-s3cret';

let dir: { path: string; remove: () => Promise<void> };
let origin: DistributionHandle;
let mirror: DistributionHandle;
let proxy: ProxyHandle;
let image: GeneratedImage;
let count = 0;

before(async () => {
  dir = await tempDir('polyarch-settings-attack-');
  [origin, mirror] = await Promise.all([startDistribution({ auth: { username: USER, password: PASSWORD } }), startDistribution()]);
  // The same seed makes the same image on both: the mirror holds a faithful copy of the origin's.
  const opener = createEndpointOpener({ registrySettings: {} });
  const originOpener = createEndpointOpener({ registryConfigDir: await dockerConfig() });
  for (const [o, host] of [[opener, mirror.host], [originOpener, origin.host]] as const) {
    const { endpoint } = await o.open(parseLocation(`${host}/team/app:1`), 'write');
    image = await randomImage(endpoint, { platform: THREE_PLATFORMS[0]!, layers: 2, bytes: 256 * 1024, seed: 'settings-attack', tag: '1' });
    await o.close();
  }
  proxy = await startProxy(mirror.host);
});

after(async () => {
  await proxy?.stop();
  await Promise.all([origin?.stop(), mirror?.stop()]);
  await dir?.remove();
});

/** A docker config dir holding credentials for the origin only. */
async function dockerConfig(): Promise<string> {
  const configDir = join(dir.path, 'docker-config');
  await mkdir(configDir, { recursive: true });
  await writeFile(join(configDir, 'config.json'), JSON.stringify({ auths: { [origin.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));
  return configDir;
}

async function file(name: string, content: string | Buffer): Promise<string> {
  const path = join(dir.path, `${++count}-${name}`);
  await writeFile(path, content);
  return path;
}

function polyarch(args: readonly string[], settings: { polyarch?: string; daemon?: string } = {}): Promise<CliResult> {
  return runCli(args, {
    env: {
      DOCKER_CONFIG: join(dir.path, 'docker-config'),
      POLYARCH_REGISTRIES_CONFIG: settings.polyarch ?? '',
      POLYARCH_BUILDKITD_CONFIG: '',
      POLYARCH_DOCKER_DAEMON_CONFIG: settings.daemon ?? '',
    },
  });
}

function assertOneLine(result: CliResult, code: string, pattern: RegExp): void {
  const lines = result.stderr.trimEnd().split('\n');
  assert.match(lines[0] ?? '', new RegExp(`\\[${code}\\]$`), result.stderr);
  assert.match(lines[0] ?? '', pattern);
  assert.ok(lines.length <= 2, `one line (and a hint at most): ${result.stderr}`);
  assert.ok((lines[0] ?? '').length < 400, `the line stays short: ${(lines[0] ?? '').length} characters`);
}

async function finalBlobs(layout: string): Promise<string[]> {
  return (await readdir(join(layout, 'blobs', 'sha256')).catch(() => [] as string[])).filter((n) => !isTempName(n));
}

describe('mirrors', () => {
  test('a mirror serving wrong bytes for a digest is refused with DIGEST_MISMATCH, and nothing is written', async () => {
    await dockerConfig();
    const layer = image.layers[1]!.descriptor.digest;
    proxy.hooks = {
      respond(req, upstream, res) {
        if (!isBlobGet(req) || !(req.url ?? '').endsWith(layer)) return false;
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        let flipped = false;
        upstream.on('data', (chunk: Buffer) => {
          const out = Buffer.from(chunk);
          if (!flipped && out.length > 0) {
            out[out.length - 1] = (out[out.length - 1] ?? 0) ^ 0xff; // same length, other bytes
            flipped = true;
          }
          res.write(out);
        });
        upstream.on('end', () => res.end());
        return true;
      },
    };
    try {
      const settings = await file('registries.toml', `[registry."${origin.host}"]\nmirrors = ["${proxy.host}"]\n`);
      const target = join(dir.path, 'spoiled');
      const copied = await polyarch(['copy', '--progress', 'quiet', `${origin.host}/team/app:1`, `oci:${target}`], { polyarch: settings });
      assert.equal(copied.code, 1);
      assertOneLine(copied, 'DIGEST_MISMATCH', new RegExp(layer.slice(7, 19)));
      assert.ok(proxy.seen.some((r) => r.path.endsWith(layer)), 'the spoiled blob came from the mirror');
      // No blob under a name its bytes do not hash to, and no index naming the image.
      for (const name of await finalBlobs(target)) {
        const bytes = await readFile(join(target, 'blobs', 'sha256', name));
        assert.equal(createHash('sha256').update(bytes).digest('hex'), name);
      }
      assert.ok(!(await finalBlobs(target)).includes(layer.slice(7)));
      const index = existsSync(join(target, 'index.json')) ? (JSON.parse(await readFile(join(target, 'index.json'), 'utf8')) as { manifests: unknown[] }) : { manifests: [] };
      assert.deepEqual(index.manifests, []);
    } finally {
      proxy.hooks = {};
      proxy.seen.length = 0;
    }
  });

  test("the origin's credentials never reach a mirror, even one that asks for them", async () => {
    await dockerConfig();
    const settings = await file('registries.toml', `[registry."${origin.host}"]\nmirrors = ["${proxy.host}"]\n`);
    try {
      // A mirror that challenges every request: the copy falls back to the origin, which gets them.
      proxy.hooks = {
        intercept(_req, res) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="mirror"', 'content-type': 'application/json' });
          res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
          return true;
        },
      };
      const challenged = await polyarch(['copy', `${origin.host}/team/app:1`, `oci:${join(dir.path, 'challenged')}`], { polyarch: settings });
      assert.equal(challenged.code, 0, challenged.stderr);
      assert.match(challenged.stdout, new RegExp(image.manifest.digest));
      assert.ok(proxy.seen.length > 0, 'the mirror was asked first');
      assert.deepEqual(proxy.seen.filter((r) => r.headers.authorization !== undefined), [], 'no Authorization header reached the mirror');

      // An open mirror serves the whole copy; still nothing of the origin's goes there.
      proxy.hooks = {};
      proxy.seen.length = 0;
      const served = await polyarch(['copy', `${origin.host}/team/app:1`, `oci:${join(dir.path, 'served')}`], { polyarch: settings });
      assert.equal(served.code, 0, served.stderr);
      assert.ok(proxy.seen.some((r) => isBlobPath(r.path)), 'the blobs came from the mirror');
      assert.deepEqual(proxy.seen.filter((r) => r.headers.authorization !== undefined || r.headers.cookie !== undefined), []);
    } finally {
      proxy.hooks = {};
      proxy.seen.length = 0;
    }
  });
});

function isBlobPath(path: string): boolean {
  return /\/blobs\/sha256:[a-f0-9]{64}$/.test(path);
}

describe('hostile settings files', () => {
  test('a settings file that is a device, a directory, a FIFO or too large is refused in one line', async () => {
    const fifo = join(dir.path, 'settings.fifo');
    await exec('mkfifo', [fifo]);
    const cases: [string, RegExp][] = [
      ['/dev/zero', /"\/dev\/zero": is not a regular file/],
      [dir.path, /is a directory, not a file/],
      [fifo, /settings\.fifo": is not a regular file/],
      [await file('huge.toml', Buffer.alloc(2 * 1024 * 1024, '#')), /over the limit of 1048576/],
    ];
    for (const [path, pattern] of cases) {
      const shown = await polyarch(['config', 'show', 'reg.example'], { polyarch: path });
      assert.equal(shown.code, 2, `${path}: ${shown.stderr}`);
      assertOneLine(shown, 'CONFIG_INVALID', pattern);
    }
    const daemon = await polyarch(['config', 'show', 'reg.example'], { daemon: '/dev/zero' });
    assert.equal(daemon.code, 2);
    assertOneLine(daemon, 'CONFIG_INVALID', /\/dev\/zero/);
  });

  test('huge values are refused without echoing them', async () => {
    const longHost = 'a'.repeat(100_000);
    const many = Array.from({ length: 10_000 }, (_, i) => `"m${i}.example"`).join(', ');
    const cases: [string, RegExp][] = [
      [`[registry."${longHost}"]\nhttp = true\n`, /\(100000 characters\)\] does not name a registry/],
      [`[registry."reg.example"]\nmirrors = [${many}]\n`, /mirrors has 10000 entries, over the limit of 32/],
      [`[registry."reg.example"]\nca = ["${'x/'.repeat(5000)}"]\n`, /is not a usable file name/],
      [`[registry."reg.example"]\nmirrors = ["ftp://mirror.example"]\n`, /is not a registry host/],
    ];
    for (const [text, pattern] of cases) {
      const shown = await polyarch(['config', 'show', 'reg.example'], { polyarch: await file('registries.toml', text) });
      assert.equal(shown.code, 2, shown.stderr);
      assertOneLine(shown, 'CONFIG_INVALID', pattern);
    }
    const tooMany = await polyarch(['config', 'show', 'reg.example'], {
      daemon: await file('daemon.json', JSON.stringify({ 'insecure-registries': Array.from({ length: 5000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`) })),
    });
    assert.equal(tooMany.code, 2);
    assertOneLine(tooMany, 'CONFIG_INVALID', /insecure-registries has 5000 entries, over the limit of 1000/);
  });

  test('a CA or key file naming a device or directory is refused, naming the setting, before any request', async () => {
    const cases: [string, RegExp][] = [
      [`[registry."${origin.host}"]\nca = ["/dev/zero"]\n`, /file "\/dev\/zero" named by .*registry\."127\.0\.0\.1:\d+"\.ca: is not a regular file/],
      [`[registry."${origin.host}"]\n[[registry."${origin.host}".keypair]]\nkey = "/dev/urandom"\ncert = ${JSON.stringify(dir.path)}\n`, /is a directory, not a file/],
    ];
    for (const [text, pattern] of cases) {
      const target = join(dir.path, `never-${++count}`);
      const copied = await polyarch(['copy', `${origin.host}/team/app:1`, `oci:${target}`], { polyarch: await file('registries.toml', text) });
      assert.equal(copied.code, 2, copied.stderr);
      assertOneLine(copied, 'CONFIG_INVALID', pattern);
      assert.equal(existsSync(join(target, 'index.json')), false, 'nothing written');
    }
  });
});

describe('settings parsers on random input', () => {
  /** A valid file's text with random edits: what a typo or a hostile writer makes of it. */
  const TOML_SEED = '[registry."reg.example:5000"]\nhttp = true\ninsecure = false\nca = ["ca.pem"]\nmirrors = ["m.example/p", "http://n.example:5000"]\n[[registry."reg.example:5000".keypair]]\nkey = "k.pem"\ncert = "c.pem"\n';
  const JSON_SEED = JSON.stringify({ 'insecure-registries': ['10.0.0.0/8', 'reg.example:5000', 'http://x.example'], 'registry-mirrors': ['https://m.example'] });
  const PIECES = ['"', '[', ']', '=', '.', '/', ':', '{', '}', ',', '\n', 'true', '1', '"x"', '::', '0/99', '\u0000', 'registry', 'mirrors', 'ca'];
  const edited = (seed: string) =>
    fc.array(fc.tuple(fc.nat({ max: seed.length }), fc.nat({ max: 3 }), fc.constantFrom(...PIECES)), { maxLength: 4 }).map((edits) =>
      edits.reduce((text, [at, drop, insert]) => text.slice(0, at) + insert + text.slice(at + drop), seed),
    );

  /** Every outcome is a layer or CONFIG_INVALID, never another exception. */
  async function valueOrConfigInvalid(run: () => Promise<unknown>): Promise<void> {
    try {
      await run();
    } catch (error) {
      assert.ok(isPolyarchError(error) && error.code === 'CONFIG_INVALID', `unexpected ${String(error)}`);
      assert.ok(!error.message.includes('\n'), 'one line');
    }
  }

  test('TOML: a layer or CONFIG_INVALID', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(edited(TOML_SEED), fc.string({ maxLength: 60 })), (text) => valueOrConfigInvalid(() => parseTomlSettings(text, '/settings/registries.toml', 'polyarch'))),
      { numRuns: 400 },
    );
  });

  test('daemon.json: a layer or CONFIG_INVALID', async () => {
    // Found by this property: JSON.parse's message quotes the text around the fault, line feed included.
    assert.throws(() => parseDaemonJson('\ninsecure-registries":["10.0.0.0/8"]}', '/settings/daemon.json'), (error: Error) => {
      assert.ok(isPolyarchError(error) && error.code === 'CONFIG_INVALID');
      assert.ok(!error.message.includes('\n'), error.message);
      return true;
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(edited(JSON_SEED), fc.json()), (text) => valueOrConfigInvalid(async () => parseDaemonJson(text, '/settings/daemon.json'))),
      { numRuns: 400 },
    );
  });
});
