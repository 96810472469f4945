// `--progress` as people and CI logs see it. On a terminal (a tmux pane, read as drawn): a line per
// blob in flight with its bytes, a bar and a rate, redrawn in place, then a line per finished blob
// and a summary; Ctrl-C mid-copy ends with exit 130, the cursor shown, the error on a line of its
// own and nothing half-written. Piped (as CI runs it): one plain line per finished blob, no escape
// sequences; quiet: nothing. One layer is held half-sent by a proxy, so "mid-copy" is a state the
// test waits for, not a moment it guesses.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { formatSize } from '../../src/cli/output.js';
import { parseLocation } from '../../src/reference/location.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS, type GeneratedIndex } from '../helpers/images.js';
import { startProxy, type ProxyHandle } from '../helpers/proxy.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { startTerminal } from '../helpers/terminal.js';
import { tempDir } from '../helpers/temp-dir.js';

const ESC = '\u001b';

/** `sha256:0123456789ab`, as progress lines name blobs. */
function short(digest: string): string {
  return digest.slice(0, 'sha256:'.length + 12);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A finished blob's plain line. */
function doneLine(digest: string, platform: string, size: number): RegExp {
  return new RegExp(`^copy ${escapeRegExp(short(digest))} ${escapeRegExp(platform)} ${escapeRegExp(formatSize(size))} done \\d+\\.\\ds$`, 'm');
}

/**
 * Holds the GET of one blob after half its body until `release()` (or forever): the client has a
 * blob in flight for as long as the test wants.
 */
function holdBlob(proxy: ProxyHandle, digest: string): { release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  proxy.hooks = {
    respond(req: IncomingMessage, upstream: IncomingMessage, res: ServerResponse) {
      if (req.method !== 'GET' || !req.url?.endsWith(`/blobs/${digest}`)) return false;
      const chunks: Buffer[] = [];
      upstream.on('data', (c: Buffer) => chunks.push(c));
      upstream.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(upstream.statusCode ?? 502, upstream.headers);
        res.write(body.subarray(0, body.length >> 1));
        void released.then(() => res.end(body.subarray(body.length >> 1)));
      });
      return true;
    },
  };
  return { release };
}

/** Every file under a layout, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

describe('copy --progress', { timeout: 300_000 }, () => {
  let registry: DistributionHandle;
  let proxy: ProxyHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let made: GeneratedIndex;
  const platforms = ['linux/amd64', 'linux/arm64/v8'];

  before(async () => {
    registry = await startDistribution();
    proxy = await startProxy(registry.host);
    dir = await tempDir();
    const opener = createEndpointOpener();
    const { endpoint } = await opener.open(parseLocation(`${registry.host}/progress/app:1`), 'write');
    made = await randomIndex(endpoint, THREE_PLATFORMS.slice(0, 2), { tag: '1', layers: 2, bytes: 2 << 20, seed: 'cli-progress' });
    await opener.close();
  });

  after(async () => {
    await proxy?.stop();
    await registry?.stop();
    await dir?.remove();
  });

  /** Each blob of the image with the platform it shows under. */
  const blobs = () =>
    made.images.flatMap((image, i) => [...image.layers.map((l) => l.descriptor), { digest: image.config.digest, size: image.config.size }].map((d) => ({ ...d, platform: platforms[i]! })));

  test('on a terminal: blobs in flight with bytes, bar and rate, then a line per blob and a summary', async () => {
    const held = made.images[0]!.layers[0]!.descriptor;
    const gate = holdBlob(proxy, held.digest);
    const target = join(dir.path, 'tty');
    // auto: stderr is a terminal, so the terminal view.
    const terminal = await startTerminal([process.execPath, CLI_PATH, 'copy', `${proxy.host}/progress/app:1`, `oci:${target}:1`]);
    try {
      const inFlight = new RegExp(`^copy ${escapeRegExp(short(held.digest))} linux/amd64 \\[=+>? *\\] [\\d.]+ [kM]?B / ${escapeRegExp(formatSize(held.size))} [\\d.]+ [kMG]?B/s$`, 'm');
      const midway = await terminal.waitFor(inFlight);
      assert.doesNotMatch(midway, doneLine(held.digest, 'linux/amd64', held.size), 'the held blob is not done yet');
      gate.release();
      assert.equal(await terminal.exited(), 0, await terminal.screen());
      const screen = await terminal.screen();
      for (const blob of blobs()) assert.match(screen, doneLine(blob.digest, blob.platform, blob.size), `${blob.digest} has its line:\n${screen}`);
      const total = blobs().reduce((sum, b) => sum + b.size, 0);
      assert.match(screen, new RegExp(`^6 blobs moved \\(${escapeRegExp(formatSize(total))}\\) in \\d+\\.\\ds, [\\d.]+ [kMG]?B/s$`, 'm'));
      // What was redrawn is gone: no bar is left on the screen, and the summary is the last line.
      assert.doesNotMatch(screen, /\[=*>? *\]/);
      assert.match(screen.split('\n').at(-1)!, /^6 blobs moved/);
      assert.equal(await terminal.cursorVisible(), true, 'the cursor is shown again');
      assert.match(await terminal.stdout(), new RegExp(`^copied .*: ${made.index.digest} `));
    } finally {
      gate.release();
      await terminal.stop();
    }
  });

  test('Ctrl-C mid-copy on a terminal: exit 130, the terminal clean, nothing half-written', async () => {
    const held = made.images[1]!.layers[1]!.descriptor;
    const gate = holdBlob(proxy, held.digest);
    const target = join(dir.path, 'interrupted');
    const terminal = await startTerminal([process.execPath, CLI_PATH, 'copy', '--progress', 'tty', `${proxy.host}/progress/app:1`, `oci:${target}:1`]);
    try {
      // Every other blob is done; the held one is in flight.
      await terminal.waitFor(new RegExp(`^copy ${escapeRegExp(short(held.digest))} linux/arm64/v8 .*[kM]B / `, 'm'));
      for (const blob of blobs().filter((b) => b.digest !== held.digest)) await terminal.waitFor(doneLine(blob.digest, blob.platform, blob.size));
      await terminal.keys('C-c');
      assert.equal(await terminal.exited(), 130, await terminal.screen());
      const lines = (await terminal.screen()).split('\n');
      // The blob in flight stays as it stood; the error is a line of its own below it.
      assert.equal(lines.at(-1), 'polyarch: interrupted [INTERRUPTED]');
      assert.match(lines.at(-2)!, new RegExp(`^copy ${escapeRegExp(short(held.digest))} linux/arm64/v8 `));
      assert.equal(await terminal.cursorVisible(), true, 'the cursor is shown again');
      assert.equal(await terminal.stdout(), '');
    } finally {
      gate.release();
      await terminal.stop();
    }
    // No tag, no index entry, no temp file; every blob file there is whole.
    const files = await filesUnder(target);
    for (const file of files) {
      assert.match(file, /^(oci-layout|index\.json|blobs\/sha256\/[0-9a-f]{64})$/, `unexpected ${file}`);
      if (file.startsWith('blobs/')) assert.equal(createHash('sha256').update(await readFile(join(target, file))).digest('hex'), file.slice('blobs/sha256/'.length), `${file} is whole`);
    }
    assert.ok(!files.includes(`blobs/sha256/${held.digest.slice('sha256:'.length)}`), 'the held blob never appears');
    if (files.includes('index.json')) assert.deepEqual((JSON.parse(await readFile(join(target, 'index.json'), 'utf8')) as { manifests: unknown[] }).manifests, []);
  });

  test('piped, as in CI: one plain line per finished blob (copy, index create) and no escape sequences; quiet prints nothing', async () => {
    proxy.hooks = {};
    const target = join(dir.path, 'plain');
    const first = await runCli(['copy', `${registry.host}/progress/app:1`, `oci:${target}:1`]);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(!first.stderr.includes(ESC), 'no escape sequence');
    const lines = first.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 6, first.stderr);
    for (const blob of blobs()) assert.match(first.stderr, doneLine(blob.digest, blob.platform, blob.size));

    const again = await runCli(['copy', '--progress', 'plain', `${registry.host}/progress/app:1`, `oci:${target}:1`]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.stderr.trimEnd().split('\n').sort(), blobs().map((b) => `copy ${short(b.digest)} ${b.platform} already there`).sort());

    for (const [i, args] of [['copy', '--progress', 'quiet'], ['copy', '-q']].entries()) {
      const quiet = await runCli([...args, `${registry.host}/progress/app:1`, `oci:${join(dir.path, `quiet${i}`)}:1`]);
      assert.equal(quiet.code, 0, quiet.stderr);
      assert.equal(quiet.stderr, '', `${args.join(' ')} prints no progress`);
    }

    // index create copies each image by digest; its blobs still show under the platform the new
    // index records (normalized: arm64's v8 variant is dropped, as containerd does).
    const assembled = await runCli(['index', 'create', '--progress', 'plain', '-t', `oci:${join(dir.path, 'assembled')}:1`, `${registry.host}/progress/app:1`]);
    assert.equal(assembled.code, 0, assembled.stderr);
    assert.equal(assembled.stderr.trimEnd().split('\n').length, 6, assembled.stderr);
    for (const blob of blobs()) assert.match(assembled.stderr, doneLine(blob.digest, blob.platform.replace('/arm64/v8', '/arm64'), blob.size));

    const bad = await runCli(['copy', '--progress', 'fancy', `${registry.host}/progress/app:1`, `oci:${join(dir.path, 'bad')}:1`]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'polyarch: --progress "fancy": expected auto, tty, plain or quiet [USAGE]\n');
  });
});
