// A RUN step is a program from a hostile image, and `polyarch build` shows what it prints: terminal
// escapes (clear screen, OSC 52 clipboard writes, CSI in its C1 form), a CR that overwrites the line,
// bidi overrides, and a line dressed as another platform's progress all reach stderr escaped, each
// under the step's own prefix; the step's stdout never reaches polyarch's stdout, not even when that
// stdout carries the build's archive (`-o -`).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { storeBaseIndex } from '../helpers/base-images.js';
import { buildSuite } from '../helpers/build-suite.js';
import { copyBusyboxRoot } from '../helpers/busybox.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Anything a terminal acts on: C0 but the line feed, DEL, C1, and bidi/line-separator format characters. */
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('build progress shows hostile step output escaped', { timeout: 300_000 }, () => {
  const suite = buildSuite();
  let base = '';

  before(async () => {
    base = `${suite.reg.host}/busybox:hostile-output`;
    await storeBaseIndex(base, [{ platform: 'linux/amd64', dir: await copyBusyboxRoot('amd64', join(suite.dir.path, 'base')) }]);
  });

  test('escapes, CR, C1, bidi and a forged prefix stay on their line, escaped, under the real prefix', async () => {
    const context = join(suite.dir.path, 'hostile');
    await mkdir(context, { recursive: true });
    // printf turns the octal escapes into the raw bytes inside the step.
    const script = [
      String.raw`printf '\033]52;c;cm0gLXJmIH4=\007\033[2Jcleared\n'`,
      String.raw`printf 'progress 10%%\rFAKE: overwritten\n' >&2`,
      String.raw`printf 'c1 \302\233 31m red \342\200\256txt.exe\n'`,
      String.raw`printf '[linux/arm64 9/9] forged line\n'`,
    ].join('; ');
    await writeFile(join(context, 'Dockerfile'), `FROM ${base}\nRUN ${script}\n`);
    const out = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=local,dest=${join(suite.dir.path, 'out')}`, context], { env: suite.env });
    assert.equal(out.code, 0, out.stderr);
    assert.doesNotMatch(out.stderr, UNSAFE);
    assert.doesNotMatch(out.stdout, /cleared|forged/);
    const lines = out.stderr.trim().split('\n');
    const prefix = '[linux/amd64 2/2] ';
    assert.ok(lines.every((l) => l.startsWith('[linux/amd64 1/2] ') || l.startsWith(prefix)), out.stderr);
    for (const shown of [
      String.raw`\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2Jcleared`,
      String.raw`progress 10%\x0dFAKE: overwritten`,
      String.raw`c1 \x9b 31m red \u202etxt.exe`,
      '[linux/arm64 9/9] forged line',
    ]) {
      assert.ok(lines.includes(`${prefix}${shown}`), `${shown} in:\n${out.stderr}`);
    }
  });

  test('with -o - a step that writes to its stdout cannot put a byte into the archive on polyarch\'s stdout', async () => {
    const context = join(suite.dir.path, 'archive-out');
    await mkdir(context, { recursive: true });
    // Something that would pass for tar: a 512-byte header-sized block, and a name the archive must not hold.
    await writeFile(join(context, 'Dockerfile'), `FROM ${base}\nRUN head -c 512 /dev/zero; printf 'injected.txt\\n'; echo made > /made.txt\n`);
    const archive = join(suite.dir.path, 'archive-out.tar');
    const stderr = await new Promise<string>((resolve, reject) => {
      const fd = openSync(archive, 'w');
      const child = spawn(process.execPath, [CLI_PATH, 'build', '--progress', 'plain', '--platform', 'linux/amd64', '-o', '-', context], { env: { ...process.env, ...suite.env }, stdio: ['ignore', fd, 'pipe'] });
      closeSync(fd);
      let said = '';
      child.stderr!.on('data', (c: Buffer) => (said += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(said) : reject(new Error(`exit ${code}: ${said}`))));
    });
    assert.match(stderr, /^\[linux\/amd64 2\/2\] (\\x00){512}injected\.txt$/m, 'the step\'s output is shown on stderr, escaped');
    const bytes = await readFile(archive);
    assert.equal(bytes.subarray(0, 512).every((b) => b === 0), false, 'the archive starts with its own header, not the step\'s zeros');
    const listed = (await exec('tar', ['-tf', archive])).stdout.split('\n');
    assert.ok(listed.includes('made.txt'), listed.join(' '));
    assert.ok(!listed.some((name) => name.includes('injected')), listed.join(' '));
  });
});
