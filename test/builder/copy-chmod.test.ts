// COPY --chmod as BuildKit (Dockerfile 1.14 on) takes it: octal set as it is, symbolic applied to
// each copied entry's own mode (X only where a directory, or executable already), read back from
// the built filesystem by GNU tar; a value chmod(1) would not take is refused on its line.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { PolyarchError, buildImages, parsePlatform } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const AMD64 = parsePlatform('linux/amd64');

describe('COPY --chmod', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let context = '';

  before(async () => {
    dir = await tempDir('polyarch-chmod-');
    context = join(dir.path, 'context');
    for (const d of ['tree/bin', 'tree/sub']) await mkdir(join(context, d), { recursive: true });
    const files: [string, number][] = [['run.sh', 0o644], ['tree/bin/tool', 0o600], ['tree/doc', 0o664], ['tree/run', 0o744]];
    for (const [name, mode] of files) {
      await writeFile(join(context, name), `${name}\n`);
      await chmod(join(context, name), mode);
    }
    await chmod(join(context, 'tree/bin'), 0o700);
    await chmod(join(context, 'tree/sub'), 0o750);
  });
  after(async () => dir?.remove());

  /** Builds `dockerfile` into a rootfs tar; path → mode as `tar -tv` prints it. */
  async function modesOf(dockerfile: string, name: string): Promise<Map<string, string>> {
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    const out = join(dir.path, `${name}.tar`);
    await buildImages({ context, platforms: [AMD64], buildPlatform: AMD64, cacheDir: join(dir.path, 'cache'), outputs: [{ type: 'tar', dest: out }] });
    const listed = (await exec('tar', ['-tvf', out])).stdout.split('\n').filter(Boolean);
    return new Map(listed.map((line) => {
      const fields = line.split(/\s+/);
      return [fields[5]!.replace(/^\.?\//, '').replace(/\/$/, ''), fields[0]!];
    }));
  }

  test('octal is set as written; symbolic changes each entry\'s own mode, X only on directories and what was executable', async () => {
    const modes = await modesOf(
      [
        'FROM scratch',
        'COPY --chmod=+x run.sh /run.sh',
        'COPY --chmod=go-w,a+X tree/ /tree/',
        'COPY --chmod=u=rwx,go=rx <<EOF /heredoc.sh',
        'echo hi',
        'EOF',
        'COPY --chmod=0640 run.sh /octal',
        'COPY --chmod=g=u run.sh /copied-class',
        '',
      ].join('\n'),
      'modes',
    );
    assert.equal(modes.get('run.sh'), '-rwxr-xr-x', '644 +x');
    assert.equal(modes.get('tree/bin/tool'), '-rw-------', '600: nothing to take, no x for X');
    assert.equal(modes.get('tree/doc'), '-rw-r--r--', '664 go-w');
    assert.equal(modes.get('tree/run'), '-rwxr-xr-x', '744: X, since the owner could run it');
    assert.equal(modes.get('tree/bin'), 'drwx--x--x', '700 directory: X');
    assert.equal(modes.get('tree/sub'), 'drwxr-x--x', '750 directory: go-w, then X');
    assert.equal(modes.get('heredoc.sh'), '-rwxr-xr-x', 'a here-document is 644 before the change');
    assert.equal(modes.get('octal'), '-rw-r-----');
    assert.equal(modes.get('copied-class'), '-rw-rw-r--', 'g=u copies the owner\'s bits');
  });

  test('a value chmod(1) would not take is refused on its line, as BuildKit refuses it', async () => {
    for (const bad of ['u+q', '0755x', '78', '17777', 'u', 'a+,']) {
      await assert.rejects(
        modesOf(`FROM scratch\nCOPY --chmod=${bad} run.sh /x\n`, 'bad'),
        (error: unknown) => error instanceof PolyarchError && /Dockerfile:2/.test(error.message) && error.message.includes(`invalid chmod parameter: ${JSON.stringify(bad)}`),
        bad,
      );
    }
  });
});
