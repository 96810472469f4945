// Hostile here-documents in a Dockerfile, built as a user builds them (`polyarch build`): a
// delimiter that is a path, a descriptor above 9, an unclosed document and a storm of documents
// give one coded line and write nothing; a document whose lines look like instructions stays text;
// a document copied to a path climbing out of the image lands inside it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('hostile here-documents', { timeout: 120_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dir?.remove();
  });

  /** Builds `dockerfile` from scratch into a local directory under its own work folder. */
  async function build(name: string, dockerfile: string) {
    const work = join(dir.path, name);
    await mkdir(join(work, 'ctx'), { recursive: true });
    await writeFile(join(work, 'ctx', 'Dockerfile'), dockerfile);
    const out = join(work, 'out');
    const result = await runCli(['build', '--progress', 'quiet', '-o', `type=local,dest=${out}`, join(work, 'ctx')], { env: { XDG_CACHE_HOME: join(work, 'cache') } });
    return { ...result, work, out };
  }

  for (const [name, dockerfile, said] of [
    ['path delimiter', 'FROM scratch\nCOPY <<../../escape /\nhi\n../../escape\n', /here-document <<\.\.\/\.\.\/escape: a delimiter cannot hold "\/"/],
    ['dot delimiter', 'FROM scratch\nCOPY <<.. /\nhi\n..\n', /a delimiter cannot hold "\/" or be "\." or "\.\."/],
    ['descriptor above 9', 'FROM scratch\nRUN 10<<EOF cat\nx\nEOF\n', /file descriptor 10 is above 9/],
    ['unclosed document', 'FROM scratch\nCOPY <<EOF /f\nno end\n', /EOF/],
  ] as const) {
    test(`${name}: one coded line naming the Dockerfile line, nothing written`, async () => {
      const out = await build(name.replaceAll(' ', '-'), dockerfile);
      assert.equal(out.code, 2, out.stderr);
      assert.match(out.stderr, /^polyarch: \S*Dockerfile:2: .* \[USAGE\]\n$/);
      assert.match(out.stderr, said);
      assert.equal(out.stdout, '');
      assert.equal(existsSync(out.out), false, 'no output directory');
      assert.deepEqual((await readdir(out.work)).filter((e) => e !== 'cache').sort(), ['ctx'], 'nothing beside the context');
      assert.equal(existsSync(join(dir.path, 'escape')), false);
    });
  }

  test('a document whose lines are instructions stays text; a path climbing out lands inside the image', async () => {
    const out = await build('instructions', 'FROM scratch\nCOPY <<EOF /../../../outside.txt\nRUN rm -rf /\nFROM evil\nCOPY / /\nEOF\n');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await readFile(join(out.out, 'outside.txt'), 'utf8'), 'RUN rm -rf /\nFROM evil\nCOPY / /\n');
    assert.deepEqual(await readdir(out.out), ['outside.txt']);
    assert.equal(existsSync(join(dir.path, 'outside.txt')), false);
    assert.equal(existsSync(join(out.work, 'outside.txt')), false);
  });

  test('a thousand documents on one line: built or refused in one line, never a crash', async () => {
    const count = 1000;
    const heads = Array.from({ length: count }, (_, i) => `<<D${i}`).join(' ');
    const bodies = Array.from({ length: count }, (_, i) => `${i}\nD${i}\n`).join('');
    const out = await build('storm', `FROM scratch\nCOPY ${heads} /docs/\n${bodies}`);
    if (out.code === 0) {
      assert.equal((await readdir(join(out.out, 'docs'))).length, count);
      assert.equal(await readFile(join(out.out, 'docs', 'D999'), 'utf8'), '999\n');
    } else {
      assert.equal(out.code, 2, out.stderr);
      assert.match(out.stderr, /^polyarch: .* \[[A-Z_]+\]\n$/);
    }
  });
});
