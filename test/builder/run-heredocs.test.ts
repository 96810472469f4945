// RUN here-documents in `polyarch build`, every form BuildKit accepts, each run by the step's shell
// on a busybox base: `<<EOF` as the whole command, `<<-EOF` (leading tabs stripped), a quoted
// delimiter (no expansion), several documents on one line, and documents fed to another file
// descriptor (`3<<EOF`). The files the steps write are read back from the result.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildSuite } from '../helpers/build-suite.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { BUSYBOX_ARCHES } from '../helpers/busybox.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';
import { runCli } from '../helpers/run-cli.js';

const PLATFORM = BUSYBOX_ARCHES.amd64.platform;

describe('RUN here-documents', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';

  before(async () => {
    await ensureEmulation(['amd64']);
    base = `${suite.reg.host}/busybox:heredocs`;
    await storeBusyboxIndex(base, ['amd64'], suite.dir.path);
  });

  async function build(name: string, dockerfile: string) {
    const ctx = join(suite.dir.path, name);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    const dest = join(suite.dir.path, `${name}-out`);
    const out = await runCli(['build', '--progress', 'quiet', '--platform', PLATFORM, '-o', `type=local,dest=${dest}`, ctx], { env: suite.env, cwd: ctx });
    return { ...out, file: (path: string) => readFile(join(dest, path), 'utf8'), dest };
  }

  test('every here-document form runs, and each output file holds what its documents said', async () => {
    const dockerfile = [
      `FROM ${base}`,
      'ENV WHO=world',
      // The whole command is one document: the shell runs it as its script.
      'RUN <<EOF',
      'echo "script for $WHO" > /lone',
      'EOF',
      // A document on file descriptor 3, read by the command; and the lone form on descriptor 3.
      'RUN 3<<EOF cat <&3 > /fd3',
      'three $WHO',
      'EOF',
      'RUN 3<<EOF',
      'echo lone-fd > /lone-fd',
      'EOF',
      // <<- strips leading tabs from the text and from the closing line.
      'RUN cat <<-EOF > /stripped',
      '\t\tindented $WHO',
      '\tEOF',
      // A quoted delimiter keeps $WHO as written; so does a partly quoted one.
      'RUN cat <<"EOF" > /quoted && cat <<E\'N\'D > /partly',
      'kept $WHO',
      'EOF',
      'also $WHO',
      'END',
      // Several documents on one line, on stdin and on descriptors 3 and 4, in order.
      "RUN sh -c 'cat; cat <&3; cat <&4' <<A 3<<B 4<<-C > /several",
      'first',
      'A',
      'second',
      'B',
      '\tthird',
      '\tC',
      'RUN echo after > /after',
      '',
    ].join('\n');
    const out = await build('forms', dockerfile);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await out.file('lone'), 'script for world\n');
    assert.equal(await out.file('fd3'), 'three world\n');
    assert.equal(await out.file('lone-fd'), 'lone-fd\n');
    assert.equal(await out.file('stripped'), 'indented world\n');
    assert.equal(await out.file('quoted'), 'kept $WHO\n');
    assert.equal(await out.file('partly'), 'also $WHO\n');
    assert.equal(await out.file('several'), 'first\nsecond\nthird\n');
    assert.equal(await out.file('after'), 'after\n', 'the instruction after the documents is an instruction again');
  });

  test('an unclosed here-document and a descriptor above 9 are refused with one line naming the line; nothing is written', async () => {
    for (const [name, dockerfile, message] of [
      ['unclosed', `FROM ${base}\nRUN 3<<EOF cat <&3 > /x\nhello\n`, /^polyarch: Dockerfile:2: here-document <<EOF has no closing EOF line \[USAGE\]$/],
      ['fd10', `FROM ${base}\nRUN cat 10<<EOF > /x\nhello\nEOF\n`, /^polyarch: Dockerfile:2: here-document 10<<EOF: file descriptor 10 is above 9 \(a shell reads one digit\) \[USAGE\]$/],
    ] as const) {
      const out = await build(name, dockerfile);
      assert.notEqual(out.code, 0, name);
      const lines = out.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('hint: '));
      assert.equal(lines.length, 1, out.stderr);
      assert.match(lines[0]!, message);
      assert.equal(existsSync(out.dest), false, `${name}: no output directory`);
    }
  });
});
