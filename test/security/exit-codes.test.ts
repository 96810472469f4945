// Item 9.15: bad input is exit 2 with its own code, never UNKNOWN; the exit code follows from the
// error code alone (one table), so "not found" exits the same wherever it is missing; config
// errors, server faults and interrupts have codes of their own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXIT_CODES, exitCodeFor } from '../../src/cli/exit-codes.js';
import { LOCAL_ERROR_CODES, OCI_ERROR_CODES, type ErrorCode } from '../../src/errors/codes.js';
import { PolyarchError, isBadInput } from '../../src/errors/polyarch-error.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { randomImage } from '../helpers/images.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Every code there is, and the exit code it must give (README "Exit codes"). */
const EXPECTED: Readonly<Record<string, number>> = {
  USAGE: 2,
  INVALID_REFERENCE: 2,
  INVALID_PLATFORM: 2,
  INVALID_LOCATION: 2,
  CONFIG_INVALID: 2,
  NOT_FOUND: 1,
  MANIFEST_UNKNOWN: 1,
  BLOB_UNKNOWN: 1,
  NAME_UNKNOWN: 1,
  BLOB_UPLOAD_UNKNOWN: 1,
  PLATFORM_NOT_IN_INDEX: 1,
  DIGEST_MISMATCH: 1,
  SIZE_MISMATCH: 1,
  UNSUPPORTED_MEDIA_TYPE: 1,
  LAYOUT_INVALID: 1,
  ARCH_MISMATCH: 1,
  BLOB_UPLOAD_INVALID: 1,
  DIGEST_INVALID: 1,
  MANIFEST_BLOB_UNKNOWN: 1,
  MANIFEST_INVALID: 1,
  NAME_INVALID: 1,
  SIZE_INVALID: 1,
  UNAUTHORIZED: 1,
  DENIED: 1,
  UNSUPPORTED: 1,
  TOOMANYREQUESTS: 1,
  SERVER_ERROR: 1,
  NETWORK: 1,
  TLS: 1,
  ADDRESS_IN_USE: 1,
  EMULATION_MISSING: 1,
  STEP_FAILED: 1,
  LIMIT_EXCEEDED: 1,
  BUSY: 1,
  UNKNOWN: 1,
  INTERRUPTED: 130,
  OUTPUT_CLOSED: 0,
};

/** Spawns the CLI, sends SIGINT once `ready` resolves, and collects what it says. */
function runCliInterrupted(args: readonly string[], ready: Promise<void>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
    void ready.then(() => child.kill('SIGINT'));
  });
}

describe('9.15 exit codes', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let layout: string;
  let registry: EmbeddedHandle;
  let failing: Server;
  let stalled: ReturnType<typeof createNetServer>;
  const sockets = new Set<Socket>();
  let connected: () => void;
  const someoneConnected = new Promise<void>((resolve) => (connected = resolve));

  before(async () => {
    dir = await tempDir();
    layout = join(dir.path, 'layout');
    const endpoint = await openLayout(layout, { create: true });
    await randomImage(endpoint, { platform: { os: 'linux', architecture: 'amd64' }, tag: 'one', layers: 1, bytes: 64 });
    registry = await startEmbedded();
    // A registry whose every answer is a server fault, with a Retry-After too long to wait for.
    failing = createHttpServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json', 'retry-after': '3600' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'disk on fire' }] }));
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    // A registry that accepts and never answers: the command waits until interrupted.
    stalled = createNetServer((socket) => {
      sockets.add(socket);
      connected();
    });
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  });

  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => stalled?.close(resolve));
    await new Promise((resolve) => failing?.close(resolve));
    await registry?.stop();
    await dir?.remove();
  });

  test('9.15 one table gives every error code its exit code, and nothing else decides it', () => {
    const all = [...Object.keys(OCI_ERROR_CODES), ...LOCAL_ERROR_CODES].sort();
    assert.deepEqual(all, Object.keys(EXPECTED).sort(), 'the table covers every code, and only codes that exist');
    assert.deepEqual(Object.keys(EXIT_CODES).sort(), all);
    for (const code of all) {
      const error = new PolyarchError(code as ErrorCode, 'x');
      assert.equal(exitCodeFor(error), EXPECTED[code], code);
      assert.equal(isBadInput(error), EXPECTED[code] === 2, `isBadInput(${code})`);
    }
    assert.equal(exitCodeFor(new Error('plain')), 1);
  });

  test('9.15 a reference whose host or port cannot be connected to is INVALID_REFERENCE, exit 2', async () => {
    for (const args of [
      ['inspect', '127.0.0.1:99999/x:1'],
      ['inspect', 'localhost:0/x'],
      ['inspect', '[::1]:70000/x'],
      ['inspect', '[1::2::3]:5000/x'],
      ['inspect', 'xn--a.example/x'],
      ['inspect', '999.1.1.1/x'],
      ['copy', 'oci:./nothing:1', 'registry.example:65536/x:1'],
      ['catalog', '127.0.0.1:99999'],
    ]) {
      const out = await runCli(args);
      assert.equal(out.code, 2, `${args.join(' ')}: ${out.stderr}`);
      assert.match(out.stderr, /^polyarch: invalid reference .*\[INVALID_REFERENCE\]\n$/, args.join(' '));
    }
  });

  test('9.15 explain --host takes only a platform a machine can have', async () => {
    for (const host of ['foo', 'linux/foo', 'foo/amd64', 'linux/amd64x']) {
      const out = await runCli(['explain', '--host', host, `oci:${layout}:one`]);
      assert.equal(out.code, 2, `--host ${host}: ${out.stdout}${out.stderr}`);
      assert.match(out.stderr, /\[INVALID_PLATFORM\]\n$/);
    }
    for (const host of ['linux/amd64', 'arm64', 'linux/arm/v7', 'windows/amd64', 'x86_64']) {
      const out = await runCli(['explain', '--host', host, `oci:${layout}:one`]);
      assert.equal(out.code, 0, `--host ${host}: ${out.stderr}`);
    }
  });

  test('9.15 not found exits 1 wherever the thing is missing', async () => {
    const configDir = join(dir.path, 'docker-config');
    await mkdir(configDir, { recursive: true });
    const cases = [
      { args: ['inspect', `oci:${layout}:absent`], code: /MANIFEST_UNKNOWN/ },
      { args: ['--insecure', 'inspect', `${registry.host}/absent/repo:1`], code: /MANIFEST_UNKNOWN|NAME_UNKNOWN/ },
      { args: ['--registry-config', configDir, 'manifest', 'inspect', `${registry.host}/no-list:1`, `${registry.host}/x:1`], code: /NOT_FOUND/ },
      { args: ['index', 'create', '-t', `oci:${join(dir.path, 'out')}:1`, `oci:${layout}:absent`], code: /MANIFEST_UNKNOWN/ },
    ];
    for (const { args, code } of cases) {
      const out = await runCli(args, { env: { DOCKER_CONFIG: configDir } });
      assert.equal(out.code, 1, `${args.join(' ')}: ${out.stderr}`);
      assert.match(out.stderr, code);
      assert.equal(out.stderr.split('\n').length, 2, out.stderr);
    }
  });

  test('9.15 a registry fault is SERVER_ERROR, a bad spec file CONFIG_INVALID, Ctrl-C INTERRUPTED', async () => {
    const host = `127.0.0.1:${(failing.address() as AddressInfo).port}`;
    const fault = await runCli(['--insecure', 'inspect', `${host}/x:1`]);
    assert.equal(fault.code, 1, fault.stderr);
    assert.match(fault.stderr, /^polyarch: .*disk on fire \[SERVER_ERROR\]\n/);

    const spec = join(dir.path, 'spec.yaml');
    await writeFile(spec, 'image: [\n');
    const config = await runCli(['push', 'from-spec', spec]);
    assert.equal(config.code, 2, config.stderr);
    assert.match(config.stderr, /spec file .*not valid YAML.*\[CONFIG_INVALID\]\n/);

    const stalledHost = `127.0.0.1:${(stalled.address() as AddressInfo).port}`;
    // The peer never answers the TLS handshake and the connection timeout is 10 minutes: Ctrl-C must not wait for it.
    const pressed = Date.now();
    const interrupted = await runCliInterrupted(['--timeout', '600', 'inspect', `${stalledHost}/x:1`], someoneConnected);
    assert.ok(Date.now() - pressed < 300_000, 'the interrupted command waited for its connection timeout');
    assert.equal(interrupted.code, 130);
    assert.equal(interrupted.stderr, 'polyarch: interrupted [INTERRUPTED]\n');
  });

  test('9.15 a build whose base image cannot be read names its Dockerfile line and keeps the code of why: NETWORK (with its hint), SERVER_ERROR, MANIFEST_UNKNOWN, LAYOUT_INVALID', async () => {
    // A port nothing listens on: taken, then given back.
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const cases = [
      { base: `127.0.0.1:${closedPort}/x:1`, code: 'NETWORK', hint: /^hint: check that the registry is running and reachable at that host and port$/m },
      { base: `127.0.0.1:${(failing.address() as AddressInfo).port}/x:1`, code: 'SERVER_ERROR', hint: /^hint: the registry failed on its side/m },
      { base: `${registry.host}/absent/base:1`, code: 'MANIFEST_UNKNOWN|NAME_UNKNOWN' },
      { base: `oci:${join(dir.path, 'no-layout')}:1`, code: 'LAYOUT_INVALID' },
    ];
    for (const [i, { base, code, hint }] of cases.entries()) {
      const context = join(dir.path, `base-${i}`);
      await mkdir(context, { recursive: true });
      await writeFile(join(context, 'Dockerfile'), `FROM ${base}\n`);
      const out = await runCli(['--insecure', 'build', '--progress', 'quiet', context], { env: { XDG_CACHE_HOME: join(dir.path, 'cache') } });
      assert.equal(out.code, 1, `${base}: ${out.stderr}`);
      assert.match(out.stderr, new RegExp(`^polyarch: \\S*Dockerfile:1: base image ${base.replace(/[.]/g, '\\.')}: .* \\[(${code})\\]\n`), out.stderr);
      if (hint) assert.match(out.stderr, hint);
    }
  });

  test('9.15 serve on a taken address is ADDRESS_IN_USE; a broken htpasswd or docker config is CONFIG_INVALID', async () => {
    const taken = `127.0.0.1:${(failing.address() as AddressInfo).port}`;
    const busy = await runCli(['serve', '--root', join(dir.path, 'serve-root'), '--listen', taken]);
    assert.equal(busy.code, 1, busy.stderr);
    assert.match(busy.stderr, /^polyarch: cannot listen on .*address in use \[ADDRESS_IN_USE\]\n/);

    const htpasswd = join(dir.path, 'htpasswd');
    await writeFile(htpasswd, 'alice:plaintext\n');
    const badAuth = await runCli(['serve', '--root', join(dir.path, 'serve-root'), '--listen', '127.0.0.1:0', '--htpasswd', htpasswd]);
    assert.equal(badAuth.code, 2, badAuth.stderr);
    assert.match(badAuth.stderr, /^polyarch: htpasswd file .* \[CONFIG_INVALID\]\n/);

    const configDir = join(dir.path, 'broken-config');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.json'), '{ not json');
    const badConfig = await runCli(['--registry-config', configDir, 'logout', registry.host]);
    assert.equal(badConfig.code, 2, badConfig.stderr);
    assert.match(badConfig.stderr, /^polyarch: .*docker config .* \[CONFIG_INVALID\]\n/);
  });
});
