// Progress lines name platforms read from an index, which may hold terminal escapes (clear the
// screen, rewrite the line) or bidi overrides: both the plain lines and the terminal view show
// them escaped, so an image cannot draw on the user's terminal through a copy's progress.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomIndex } from '../helpers/images.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const HOSTILE = 'amd64\u001b[2J\u001b]52;c;cGF5bG9hZA==\u0007\u202e';

describe('progress shows hostile platform names escaped', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let source: string;

  before(async () => {
    dir = await tempDir();
    source = join(dir.path, 'source');
    await randomIndex(await openLayout(source, { create: true }), [{ os: 'linux', architecture: HOSTILE }], { tag: '1', layers: 1, bytes: 4096, seed: 'hostile-progress' });
  });
  after(() => dir.remove());

  test('plain lines', async () => {
    const out = await runCli(['copy', '--progress', 'plain', `oci:${source}:1`, `oci:${join(dir.path, 'plain')}:1`]);
    assert.equal(out.code, 0, out.stderr);
    assert.ok(!/[\u001b\u0007\u202e]/.test(out.stderr), JSON.stringify(out.stderr));
    assert.match(out.stderr, /linux\/amd64\\x1b\[2J\\x1b\]52;c;cGF5bG9hZA==\\x07\\u202e [\d.]+ k?B done/);
  });

  test('the terminal view, byte for byte', async () => {
    const command = [process.execPath, CLI_PATH, 'copy', '--progress', 'tty', `oci:${source}:1`, `oci:${join(dir.path, 'tty')}:1`].map((w) => `'${w}'`).join(' ');
    // script(1) gives the command a terminal and passes on every byte it draws.
    const { stdout } = await exec('script', ['-q', '-e', '-c', `${command} > /dev/null`, '/dev/null'], { encoding: 'utf8' });
    assert.ok(stdout.includes('\\x1b[2J'), 'the escape is shown as text');
    for (const raw of ['\u001b[2J', '\u001b]52', '\u0007', '\u202e']) assert.ok(!stdout.includes(raw), `${JSON.stringify(raw)} never reaches the terminal`);
  });
});
