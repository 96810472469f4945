// Subordinate ids are read from files any administrator (or a careless script) may have written
// badly: hostile /etc/subuid content never yields a range that reaches host root, the caller's own
// id, another user's lines, or past 2^32 - 1. And a step run with them can give files only the
// owners of its map: ids beyond the range are refused inside, a USER beyond it is one clear line,
// and nothing of a subordinate owner is left on disk.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { extentsFor, parseSubordinateIds, toHost, toInside } from '../../src/builder/executor/id-map.js';
import { SUB_COUNT, SUB_START, SUB_UID, filesOfSubordinateIds, runCliAsSubordinateUser, subordinateWorkspace } from '../helpers/subordinate-user.js';

describe('hostile /etc/subuid content', () => {
  const parse = (text: string) => parseSubordinateIds(text, 'alice', 1000);

  test('malformed lines are ignored, good ones around them kept', () => {
    const text = [
      'alice:100000:65536',
      'alice:200000',
      'alice:200000:10:extra',
      'alice:-5:10',
      'alice:0x10:10',
      'alice:1e5:10',
      'alice: 300000:10',
      'alice:300000:',
      'alice::10',
      'alice:00300000:10',
      'alice:300000:0',
      '# alice:400000:10',
      '',
      '   ',
      'alice:500000:10\r',
      'alice:600000:10',
    ].join('\n');
    assert.deepEqual(parse(text), [
      { start: 100000, count: 65536 },
      { start: 500000, count: 10 }, // trailing \r trimmed as whitespace
      { start: 600000, count: 10 },
    ]);
  });

  test('huge numbers: nothing past 2^32 - 1, no float rounding', () => {
    assert.deepEqual(parse('alice:4294967296:1\nalice:4294967295:1\nalice:4294967290:10\nalice:99999999999999999999:1\nalice:1:99999999999'), []);
    assert.deepEqual(parse('alice:4294967290:5'), [{ start: 4294967290, count: 5 }]);
  });

  test('other users, by name or id, and prefixes of the name are not ours; our uid is', () => {
    assert.deepEqual(parse('bob:100000:10\n1001:200000:10\nalic:300000:10\nalice2:400000:10\n1000:500000:10\nALICE:600000:10'), [{ start: 500000, count: 10 }]);
    assert.deepEqual(parseSubordinateIds('1000:500000:10', undefined, 1000), [{ start: 500000, count: 10 }]);
  });

  test('host root and the caller\'s own id are never in a range; overlapping lines add nothing twice', () => {
    assert.deepEqual(parse('alice:0:10'), [{ start: 1, count: 9 }]);
    assert.deepEqual(parse('alice:995:10'), [
      { start: 995, count: 5 },
      { start: 1001, count: 4 },
    ]);
    assert.deepEqual(parse('alice:100:100\nalice:150:100\nalice:100:100\nalice:120:10'), [
      { start: 100, count: 100 },
      { start: 200, count: 50 },
    ]);
    for (const range of parse('alice:0:2000\nalice:500:1000')) {
      assert.ok(range.start > 0);
      assert.ok(1000 < range.start || 1000 >= range.start + range.count);
    }
  });

  test('the map: 0 is the caller, the ranges follow in order, at most five extents, and ids outside map to nothing', () => {
    const extents = extentsFor(1000, parse('alice:100000:10\nalice:200000:5\nalice:3:1\nalice:5:1\nalice:7:1\nalice:9:1'));
    assert.deepEqual(extents, [
      { inside: 0, outside: 1000, count: 1 },
      { inside: 1, outside: 100000, count: 10 },
      { inside: 11, outside: 200000, count: 5 },
      { inside: 16, outside: 3, count: 1 },
      { inside: 17, outside: 5, count: 1 },
    ]);
    assert.equal(toHost(extents, 0), 1000);
    assert.equal(toHost(extents, 12), 200001);
    assert.equal(toHost(extents, 18), undefined);
    assert.equal(toInside(extents, 0), undefined);
    assert.equal(toInside(extents, 100009), 10);
    assert.equal(toInside(extents, 100010), undefined);
  });
});

describe('a step run with subordinate ids', { timeout: 300_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let home = '';
  let image = '';

  before(async () => {
    ({ dir, image, home } = await subordinateWorkspace('polyarch-subids-attack-', { Env: ['PATH=/bin'] }));
  });
  after(async () => dir.remove());

  let count = 0;
  async function build(dockerfile: string) {
    const ctx = join(dir.path, `ctx-${++count}`);
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    spawnSync('chown', ['-R', `${SUB_UID}:${SUB_UID}`, ctx]);
    return runCliAsSubordinateUser(['build', '--platform', 'linux/amd64', '-o', `oci:${join(dir.path, `out-${count}`)}:1`, ctx], home, ctx);
  }

  test('owners beyond the map are refused inside; the last id of the range is not', async () => {
    const beyond = [SUB_COUNT + 1, SUB_COUNT + 1000, 4294967294, SUB_START, SUB_UID + SUB_COUNT * 10];
    // Each chown must fail; the step says which one did not.
    const tries = beyond.map((id) => `if chown ${id} /f 2>/dev/null || chgrp ${id} /f 2>/dev/null; then echo "owner ${id} was allowed"; exit 1; fi`).join('; ');
    const out = await build(`FROM ${image}\nRUN touch /f; ${tries}; chown ${SUB_COUNT}:${SUB_COUNT} /f && stat -c '%u:%g' /f > /last\n`);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(filesOfSubordinateIds(dir.path), []);
  });

  test('a USER beyond the range is one clear line, not a half-run step', async () => {
    const out = await build(`FROM ${image}\nUSER ${SUB_COUNT + 1}\nRUN touch /tmp/x\n`);
    assert.notEqual(out.code, 0);
    const lines = out.stderr.trim().split('\n');
    assert.match(lines.at(-1) ?? '', new RegExp(`cannot run a step as user id ${SUB_COUNT + 1}: the subordinate ids of polyarch-subids \\(/etc/subuid\\) give ids 0 to ${SUB_COUNT} only`));
    assert.doesNotMatch(out.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(filesOfSubordinateIds(dir.path), []);
  });
});
