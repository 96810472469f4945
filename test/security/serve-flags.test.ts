// Issue 9, item 16: `polyarch serve` checks every flag before it creates anything on disk.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

let dir: { path: string; remove: () => Promise<void> };
before(async () => (dir = await tempDir()));
after(() => dir.remove());

test('9.16 serve refuses bad flags with exit 2 and one line, before creating the root', async () => {
  await writeFile(join(dir.path, 'a-file'), 'x');
  const cases: [string, string[], RegExp][] = [
    ['bad address', ['--listen', 'nope'], /--listen "nope"/],
    ['port out of range', ['--listen', '127.0.0.1:70000'], /--listen "127.0.0.1:70000"/],
    ['empty port', ['--listen', '127.0.0.1:'], /--listen/],
    ['missing htpasswd', ['--listen', '127.0.0.1:0', '--htpasswd', join(dir.path, 'missing')], /htpasswd/],
    ['cert without key', ['--listen', '127.0.0.1:0', '--tls-cert', join(dir.path, 'a-file')], /--tls-key/],
    ['missing cert files', ['--listen', '127.0.0.1:0', '--tls-cert', join(dir.path, 'nocert'), '--tls-key', join(dir.path, 'nokey')], /nocert/],
    // Named here, not as OpenSSL's "PEM routines::no start line" (UNKNOWN, exit 1, no file named).
    ['cert that is no certificate', ['--listen', '127.0.0.1:0', '--tls-cert', join(dir.path, 'a-file'), '--tls-key', join(dir.path, 'a-file')], /TLS certificate ".*a-file": no PEM certificate in it \[CONFIG_INVALID\]/],
    // A read that would never end (or fill memory) is bounded.
    ['endless cert and key', ['--listen', '127.0.0.1:0', '--tls-cert', '/dev/zero', '--tls-key', '/dev/zero'], /TLS certificate "\/dev\/zero": is not a regular file \[USAGE\]/],
    ['endless htpasswd', ['--listen', '127.0.0.1:0', '--htpasswd', '/dev/zero'], /htpasswd file "\/dev\/zero": is not a regular file \[CONFIG_INVALID\]/],
    ['anonymous read with no password to skip', ['--listen', '127.0.0.1:0', '--anonymous-read'], /--anonymous-read .*--htpasswd.*\[USAGE\]/],
    ['upload age not a duration', ['--listen', '127.0.0.1:0', '--upload-max-age', 'soon'], /--upload-max-age/],
    ['upload age zero', ['--listen', '127.0.0.1:0', '--upload-max-age', '0s'], /--upload-max-age/],
  ];
  for (const [what, flags, message] of cases) {
    const root = join(dir.path, `root-${what.replace(/\W+/g, '-')}`, 'nested');
    const result = await runCli(['serve', '--root', root, ...flags]);
    assert.equal(result.code, 2, `${what}: exit code (stderr: ${result.stderr})`);
    assert.match(result.stderr, message, what);
    // One error line, and at most one hint line after it.
    const [line, ...rest] = result.stderr.trim().split('\n');
    assert.match(line ?? '', /^polyarch: .*\[[A-Z_]+\]$/, `${what}: one line`);
    assert.ok(rest.length <= 1 && rest.every((hint) => hint.startsWith('hint: ')), `${what}: one line, then at most a hint`);
    assert.equal(existsSync(join(dir.path, `root-${what.replace(/\W+/g, '-')}`)), false, `${what}: nothing created`);
  }
  // A root that is a file is named as such, not a stack trace.
  const onFile = await runCli(['serve', '--root', join(dir.path, 'a-file'), '--listen', '127.0.0.1:0']);
  assert.equal(onFile.code, 2, onFile.stderr);
  assert.match(onFile.stderr, /a-file/);
});
