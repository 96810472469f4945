// `build` and `run` on a terminal, as a person sees them (a tmux pane, read as drawn): the base's
// pulls, each platform's steps prefixed as buildx prints them, a step's output under its step, the
// layers compressed and pushed, a summary; Ctrl-C in the middle of a RUN ends with exit 130, the
// cursor shown, no step process left behind and no tag pushed; `run` shows its pulls on the
// terminal while the command's own output goes to stdout untouched.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { buildSuite } from '../helpers/build-suite.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';
import { CLI_PATH } from '../helpers/run-cli.js';
import { startTerminal } from '../helpers/terminal.js';

const exec = promisify(execFile);

/** A finished blob's line: `push sha256:0123456789ab linux/arm64 3.00 MB done 0.2s`. */
const blobDone = (phase: string, platform: string) => new RegExp(`^${phase} sha256:[0-9a-f]{12} ${platform} \\S+ k?M?B done \\d+\\.\\ds$`, 'm');

/** The lines of `screen` that start with `prefix`, in order. */
const linesOf = (screen: string, prefix: string) => screen.split('\n').filter((l) => l.startsWith(prefix));

describe('build and run progress on a terminal', { timeout: 300_000 }, () => {
  const suite = buildSuite();
  let base = '';

  before(async () => {
    await ensureEmulation(['amd64', 'arm64']);
    base = `${suite.reg.host}/busybox:multi`;
    await storeBusyboxIndex(base, ['amd64', 'arm64'], suite.dir.path);
  });

  async function context(name: string, dockerfile: string): Promise<string> {
    const dir = join(suite.dir.path, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), dockerfile);
    await writeFile(join(dir, 'data'), Buffer.alloc(3 << 20, 7));
    return dir;
  }

  const polyarch = (...args: string[]) => startTerminal([process.execPath, CLI_PATH, ...args], { env: { XDG_CACHE_HOME: suite.env.XDG_CACHE_HOME! } });

  test('build: pulls, steps per platform with their output, compress and push lines, a summary', async () => {
    const ctx = await context('steps', `FROM ${base}\nCOPY data /data\nRUN uname -m | tee /arch\n`);
    const terminal = await polyarch('build', '--platform', 'linux/amd64,linux/arm64', '-t', `${suite.reg.host}/tty/app:1`, '--push', ctx);
    try {
      assert.equal(await terminal.exited(), 0, await terminal.screen());
      const screen = await terminal.screen();
      for (const [platform, machine] of [['linux/amd64', 'x86_64'], ['linux/arm64', 'aarch64']] as const) {
        assert.match(screen, blobDone('pull', platform), `the base's layers are pulled for ${platform}:\n${screen}`);
        const steps = linesOf(screen, `[${platform} `);
        // The native platform starts once the emulated one reached its RUN: the COPY layer they share is in the cache by then.
        const native = platform === (process.arch === 'arm64' ? 'linux/arm64' : 'linux/amd64');
        assert.deepEqual(steps, [
          `[${platform} 1/3] FROM ${base}`,
          `[${platform} 2/3] COPY data /data`,
          ...(native ? [`[${platform} 2/3] CACHED`] : []),
          `[${platform} 3/3] RUN uname -m | tee /arch`,
          `[${platform} 3/3] ${machine}`,
        ], screen);
        assert.match(screen, blobDone('compress', platform), screen);
      }
      assert.match(screen, blobDone('push', 'linux/(amd64|arm64)'), screen);
      assert.match(screen.split('\n').at(-1)!, /^\d+ blobs moved \([\d.]+ [kMG]?B\) in \d+\.\ds, [\d.]+ [kMG]?B\/s$/);
      assert.doesNotMatch(screen, /\[=*>? *\]/, 'no bar is left on the screen');
      assert.equal(await terminal.cursorVisible(), true);
      assert.match(await terminal.stdout(), /^sha256:[0-9a-f]{64}\n$/);
    } finally {
      await terminal.stop();
    }
  });

  test('run: the pulls show on the terminal, the command writes to stdout', async () => {
    const terminal = await polyarch('run', '--platform', 'linux/arm64', `${suite.reg.host}/tty/app:1`, 'cat', '/arch');
    try {
      assert.equal(await terminal.exited(), 0, await terminal.screen());
      const screen = await terminal.screen();
      assert.match(screen, blobDone('pull', 'linux/arm64'), screen);
      assert.doesNotMatch(screen, /aarch64/, 'the command output is not drawn over the progress');
      assert.equal(await terminal.stdout(), 'aarch64\n');
      assert.equal(await terminal.cursorVisible(), true);
    } finally {
      await terminal.stop();
    }
  });

  test('Ctrl-C during a RUN: exit 130, the cursor back, no step left running, no tag', async () => {
    // A sleep of an unusual length, so the test finds its own step processes and nobody else's.
    const seconds = 4000 + Math.floor(Math.random() * 5000);
    const ctx = await context('interrupted', `FROM ${base}\nRUN echo started && sleep ${seconds}\n`);
    const terminal = await polyarch('build', '--platform', 'linux/amd64,linux/arm64', '-t', `${suite.reg.host}/tty/interrupted:1`, '--push', ctx);
    try {
      await terminal.waitFor(/^\[linux\/amd64 2\/2\] started$/m);
      await terminal.waitFor(/^\[linux\/arm64 2\/2\] started$/m);
      await terminal.keys('C-c');
      assert.equal(await terminal.exited(), 130, await terminal.screen());
      // The terminal itself echoes `^C` where the cursor stood; the error follows it.
      assert.match((await terminal.screen()).split('\n').at(-1)!, /^(\^C)?polyarch: interrupted \[INTERRUPTED\]$/);
      assert.equal(await terminal.cursorVisible(), true);
      assert.equal(await terminal.stdout(), '');
    } finally {
      await terminal.stop();
    }
    const left = await exec('pgrep', ['-f', `sleep ${seconds}`]).then(
      (r) => r.stdout.trim(),
      () => '',
    );
    assert.equal(left, '', 'no step process outlives the build');
    const tag = await fetch(`http://${suite.reg.host}/v2/tty/interrupted/manifests/1`, { method: 'HEAD' });
    assert.equal(tag.status, 404, 'nothing was pushed');
  });
});
