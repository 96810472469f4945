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

test('here-documents in every form BuildKit reads: fd-prefixed, tab-stripped, quoted, several on a line', () => {
  const { instructions } = parseDockerfile(
    [
      'FROM scratch',
      'RUN cat <<A 3<<-"B" 4<<E\'N\'D > /out',
      'stdin $X',
      'A',
      '\t\ttabs',
      '\tB',
      '\tkept tab',
      'END',
      'RUN 3<<EOF \\',
      '  cat <&3',
      'continued',
      'EOF',
      'ENV AFTER=1',
      '',
    ].join('\n'),
  );
  const [, first, second, env] = instructions;
  assert.equal(first?.text, 'cat <<A 3<<-"B" 4<<E\'N\'D > /out');
  assert.deepEqual(first?.args, ['cat', '<<A', '<<B', '<<END', '>', '/out']);
  assert.deepEqual(first?.heredocs, [
    { name: 'A', content: 'stdin $X\n', expand: true },
    { name: 'B', content: 'tabs\n', expand: false, fd: 3 },
    { name: 'END', content: '\tkept tab\n', expand: false, fd: 4 },
  ]);
  assert.equal(second?.line, 9);
  assert.equal(second?.text, '3<<EOF   cat <&3', 'the command is the logical line, continuation joined');
  assert.deepEqual(second?.heredocs, [{ name: 'EOF', content: 'continued\n', expand: true, fd: 3 }]);
  assert.deepEqual([env?.keyword, env?.line], ['ENV', 13], 'the documents are not read as instructions');
  assert.equal(instructions.length, 4);
});

test('bad here-documents are one USAGE line naming the instruction: unclosed, a descriptor above 9, a delimiter that is a path', () => {
  assert.throws(() => parseDockerfile('FROM scratch\nRUN 3<<EOF cat <&3\nhello\n'), { code: 'USAGE', message: 'Dockerfile:2: here-document <<EOF has no closing EOF line' });
  assert.throws(() => parseDockerfile('FROM scratch\nRUN cat <<A\nA\nRUN cat <<-B\n  B\n'), { code: 'USAGE', message: 'Dockerfile:4: here-document <<B has no closing B line' }, '<<- strips tabs, not spaces');
  assert.throws(() => parseDockerfile('FROM scratch\nCOPY <<../x /etc/\nx\n../x\n'), { code: 'USAGE', message: 'Dockerfile:2: here-document <<../x: a delimiter cannot hold "/" or be "." or ".."' });
  assert.throws(() => parseDockerfile('FROM scratch\nRUN cat 10<<EOF\nx\nEOF\n'), { code: 'USAGE', message: 'Dockerfile:2: here-document 10<<EOF: file descriptor 10 is above 9 (a shell reads one digit)' });
});

test('what BuildKit refuses while parsing is one USAGE line naming its line; what it takes parses', () => {
  const refused: [string, RegExp][] = [
    ['COPY --frob a /a', /^Dockerfile:2: COPY --frob: COPY takes --from, /],
    ['ADD --frob a /a', /^Dockerfile:2: ADD --frob: ADD takes --chown, /],
    ['HEALTHCHECK --frob=1 CMD true', /^Dockerfile:2: HEALTHCHECK --frob: HEALTHCHECK takes --interval, /],
    ['ONBUILD FROM x', /^Dockerfile:2: ONBUILD FROM: FROM is not allowed as an ONBUILD trigger$/],
    ['ONBUILD ONBUILD RUN x', /ONBUILD is not allowed as an ONBUILD trigger$/],
    ['ONBUILD MAINTAINER me', /MAINTAINER is not allowed as an ONBUILD trigger$/],
    ['ENV ONLYKEY', /^Dockerfile:2: ENV ONLYKEY: a key needs a value/],
    ['LABEL novalue', /^Dockerfile:2: LABEL novalue: a key needs a value/],
    ['HEALTHCHECK NONE extra', /HEALTHCHECK NONE takes no arguments$/],
    ['FROM scratch AS 1st', /^Dockerfile:2: FROM … AS 1st: invalid name for build stage/],
    ['FROM scratch AS a/b', /invalid name for build stage/],
    ['FROM scratch AS', /^Dockerfile:2: FROM takes an image and, optionally, AS and a stage name \(FROM IMAGE \[AS NAME\]\)$/],
    ['FROM scratch extra', /FROM takes an image and, optionally, AS and a stage name/],
    ['FROM scratch AS a b', /FROM takes an image and, optionally, AS and a stage name/],
    ...['WORKDIR', 'ENV', 'ARG', 'USER', 'STOPSIGNAL', 'EXPOSE', 'VOLUME', 'LABEL', 'ONBUILD', 'MAINTAINER'].map((k): [string, RegExp] => [k, new RegExp(`^Dockerfile:2: ${k} needs an argument$`)]),
  ];
  for (const [line, message] of refused) {
    assert.throws(() => parseDockerfile(`FROM scratch\n${line}\n`), (error: Error & { code?: string }) => error.code === 'USAGE' && message.test(error.message), line);
  }
  const taken = ['ENV A=', 'ENV A b c', 'LABEL a=b "c d"=e', 'ARG A', 'HEALTHCHECK NONE', 'HEALTHCHECK --interval=5s CMD true', 'CMD', 'ENTRYPOINT', 'COPY --link --parents --exclude=x a /b', 'ADD --checksum=sha256:aa https://example.com/y /z', 'ONBUILD COPY --from=x a b', 'RUN --network=none true', 'COPY --chmod=755 <<EOF /x\nhi\nEOF'];
  for (const line of taken) assert.doesNotThrow(() => parseDockerfile(`FROM scratch\n${line}\n`), line);
  for (const from of ['FROM scratch as My.Stage-1_x', 'FROM --platform=$BUILDPLATFORM scratch AS b']) assert.doesNotThrow(() => parseDockerfile(`${from}\n`), from);
});

test('two stages of one name (in any case) are refused on the second, naming the first (BuildKit: DuplicateStageName)', () => {
  assert.throws(() => parseDockerfile('FROM scratch AS build\nENV A=1\nFROM scratch AS Build\n'), {
    code: 'USAGE',
    message: 'Dockerfile:3: duplicate stage name "build" (line 1 names a stage so too): stage names must be unique',
  });
  assert.doesNotThrow(() => parseDockerfile('FROM scratch AS a\nFROM scratch AS b\nFROM a\nFROM b\n'));
});

test('comment and empty lines inside a continued instruction are no part of it (BuildKit drops them); line numbers stay', () => {
  const parsed = parseDockerfile('FROM scratch\nRUN echo a && \\\n    # a comment inside\n\n    echo b > /out\nLABEL x=1\nRUN ["echo", \\\n  # c\n  "x"]\nRUN echo "#kept"\n');
  const shown = parsed.instructions.map((i) => [i.line, i.keyword, i.text]);
  assert.deepEqual(shown, [
    [1, 'FROM', 'scratch'],
    [2, 'RUN', 'echo a &&     echo b > /out'],
    [6, 'LABEL', 'x=1'],
    [7, 'RUN', '["echo",   "x"]'],
    [10, 'RUN', 'echo "#kept"'],
  ]);
  assert.deepEqual(parsed.instructions[3]!.json, ['echo', 'x']);
});
