// The Dockerfile frontend's flags: every value of a repeated flag is kept, in order, and the
// single-valued reading of a flag is its last value. Parse only; nothing is built.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flagValue, flagValues, parseDockerfile, type Instruction } from '../../src/builder/dockerfile.js';

function instruction(text: string, keyword: string): Instruction {
  const found = parseDockerfile(text).instructions.find((i) => i.keyword === keyword);
  assert.ok(found, `${keyword} in ${JSON.stringify(text)}`);
  return found;
}

test('RUN --mount repeated keeps every mount, in order', () => {
  const run = instruction('FROM scratch\nRUN --mount=a --mount=b echo hi\n', 'RUN');
  assert.deepEqual(flagValues(run, 'mount'), ['a', 'b']);
  assert.equal(run.text, 'echo hi', 'the flags are not part of the command');
  assert.deepEqual([...run.flags.keys()], ['mount']);
});

test('RUN mounts with options, the network flag and an exec-form command', () => {
  const run = instruction(
    'FROM scratch\nRUN --mount=type=cache,target=/root/.cache,sharing=locked --network=none --mount=type=secret,id=token,dst=/run/t ["make", "all"]\n',
    'RUN',
  );
  assert.deepEqual(flagValues(run, 'mount'), ['type=cache,target=/root/.cache,sharing=locked', 'type=secret,id=token,dst=/run/t']);
  assert.equal(flagValue(run, 'network'), 'none');
  assert.deepEqual(run.json, ['make', 'all']);
});

test("COPY's repeated --exclude keeps each pattern beside its single-valued flags", () => {
  const copy = instruction('FROM scratch\nCOPY --exclude=*.md --from=build --exclude=tmp/ --chmod=644 . /app/\n', 'COPY');
  assert.deepEqual(flagValues(copy, 'exclude'), ['*.md', 'tmp/']);
  assert.equal(flagValue(copy, 'from'), 'build');
  assert.equal(flagValue(copy, 'chmod'), '644');
  assert.deepEqual(copy.args, ['.', '/app/']);
});

test('a COPY with a here-document keeps its repeated flags too', () => {
  const copy = instruction('FROM scratch\nCOPY --exclude=a --exclude=b <<EOF /etc/motd\nhello\nEOF\n', 'COPY');
  assert.deepEqual(flagValues(copy, 'exclude'), ['a', 'b']);
  assert.deepEqual(copy.args, ['<<EOF', '/etc/motd']);
  assert.equal(copy.heredocs?.[0]?.content, 'hello\n');
});

test('a single-valued flag given twice reads as its last value; every value is still there', () => {
  const copy = instruction('FROM scratch\nCOPY --chown=1:1 --chown=2:2 a /b\n', 'COPY');
  assert.equal(flagValue(copy, 'chown'), '2:2');
  assert.deepEqual(flagValues(copy, 'chown'), ['1:1', '2:2']);
});

test('an absent flag has no value and no values; a flag without a value reads as empty', () => {
  const copy = instruction('FROM scratch\nCOPY --parents a /b/\n', 'COPY');
  assert.equal(flagValue(copy, 'from'), undefined);
  assert.deepEqual(flagValues(copy, 'exclude'), []);
  assert.equal(flagValue(copy, 'parents'), '');
  const from = instruction('FROM --platform=linux/arm64 scratch AS base\n', 'FROM');
  assert.equal(flagValue(from, 'platform'), 'linux/arm64');
  assert.equal(flagValue(from, 'constructor'), undefined, 'flag names are not looked up on an object prototype');
});
