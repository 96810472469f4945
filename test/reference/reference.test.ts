import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Digest } from '../../src/digest/digest.js';
import type { Reference } from '../../src/reference/reference.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import {
  familiarName,
  familiarString,
  formatReference,
  parseReference,
  referenceString,
  registryApiHost,
  withDefaultTag,
  withDigest,
  withTag,
} from '../../src/reference/reference.js';

const DIGEST = `sha256:${'a1'.repeat(32)}` as Digest;
const DIGEST_512 = `sha512:${'0f'.repeat(64)}` as Digest;

interface GoodRow {
  readonly input: string;
  readonly expected: Reference;
  readonly formatted: string;
  readonly familiar: string;
}

const GOOD: readonly GoodRow[] = [
  // Docker Hub defaults.
  { input: 'ubuntu', expected: { registry: 'docker.io', repository: 'library/ubuntu' }, formatted: 'docker.io/library/ubuntu', familiar: 'ubuntu' },
  { input: 'ubuntu:22.04', expected: { registry: 'docker.io', repository: 'library/ubuntu', tag: '22.04' }, formatted: 'docker.io/library/ubuntu:22.04', familiar: 'ubuntu:22.04' },
  { input: 'library/ubuntu', expected: { registry: 'docker.io', repository: 'library/ubuntu' }, formatted: 'docker.io/library/ubuntu', familiar: 'ubuntu' },
  { input: 'docker.io/ubuntu', expected: { registry: 'docker.io', repository: 'library/ubuntu' }, formatted: 'docker.io/library/ubuntu', familiar: 'ubuntu' },
  { input: 'index.docker.io/ubuntu', expected: { registry: 'docker.io', repository: 'library/ubuntu' }, formatted: 'docker.io/library/ubuntu', familiar: 'ubuntu' },
  { input: 'index.docker.io/foo/bar', expected: { registry: 'docker.io', repository: 'foo/bar' }, formatted: 'docker.io/foo/bar', familiar: 'foo/bar' },
  {
    input: 'docker.io/library/ubuntu:latest',
    expected: { registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' },
    formatted: 'docker.io/library/ubuntu:latest',
    familiar: 'ubuntu:latest',
  },
  { input: 'foo/bar', expected: { registry: 'docker.io', repository: 'foo/bar' }, formatted: 'docker.io/foo/bar', familiar: 'foo/bar' },
  { input: 'foo/bar/baz:1', expected: { registry: 'docker.io', repository: 'foo/bar/baz', tag: '1' }, formatted: 'docker.io/foo/bar/baz:1', familiar: 'foo/bar/baz:1' },
  // library/ with a nested path is not an official image: it keeps its prefix.
  { input: 'library/a/b', expected: { registry: 'docker.io', repository: 'library/a/b' }, formatted: 'docker.io/library/a/b', familiar: 'library/a/b' },
  // Hosts: a first component with '.' or ':', or `localhost`.
  { input: 'localhost/foo', expected: { registry: 'localhost', repository: 'foo' }, formatted: 'localhost/foo', familiar: 'localhost/foo' },
  { input: 'localhost:5000/foo:1.0', expected: { registry: 'localhost:5000', repository: 'foo', tag: '1.0' }, formatted: 'localhost:5000/foo:1.0', familiar: 'localhost:5000/foo:1.0' },
  { input: 'localhost', expected: { registry: 'docker.io', repository: 'library/localhost' }, formatted: 'docker.io/library/localhost', familiar: 'localhost' },
  { input: 'localhost:5000', expected: { registry: 'docker.io', repository: 'library/localhost', tag: '5000' }, formatted: 'docker.io/library/localhost:5000', familiar: 'localhost:5000' },
  { input: 'foo:5000/bar', expected: { registry: 'foo:5000', repository: 'bar' }, formatted: 'foo:5000/bar', familiar: 'foo:5000/bar' },
  {
    input: 'registry.example.com/team/app:v1.2.3',
    expected: { registry: 'registry.example.com', repository: 'team/app', tag: 'v1.2.3' },
    formatted: 'registry.example.com/team/app:v1.2.3',
    familiar: 'registry.example.com/team/app:v1.2.3',
  },
  // Upper case is fine in the host, and kept as written.
  { input: 'Registry.Example.COM:443/app', expected: { registry: 'Registry.Example.COM:443', repository: 'app' }, formatted: 'Registry.Example.COM:443/app', familiar: 'Registry.Example.COM:443/app' },
  { input: '127.0.0.1:5000/app', expected: { registry: '127.0.0.1:5000', repository: 'app' }, formatted: '127.0.0.1:5000/app', familiar: '127.0.0.1:5000/app' },
  { input: '[::1]:5000/app:1', expected: { registry: '[::1]:5000', repository: 'app', tag: '1' }, formatted: '[::1]:5000/app:1', familiar: '[::1]:5000/app:1' },
  { input: '[2001:db8::1]/team/app', expected: { registry: '[2001:db8::1]', repository: 'team/app' }, formatted: '[2001:db8::1]/team/app', familiar: '[2001:db8::1]/team/app' },
  { input: 'my-registry.local/app', expected: { registry: 'my-registry.local', repository: 'app' }, formatted: 'my-registry.local/app', familiar: 'my-registry.local/app' },
  // Digests, alone or with a tag (both kept).
  { input: `ubuntu@${DIGEST}`, expected: { registry: 'docker.io', repository: 'library/ubuntu', digest: DIGEST }, formatted: `docker.io/library/ubuntu@${DIGEST}`, familiar: `ubuntu@${DIGEST}` },
  { input: `example.com/app@${DIGEST}`, expected: { registry: 'example.com', repository: 'app', digest: DIGEST }, formatted: `example.com/app@${DIGEST}`, familiar: `example.com/app@${DIGEST}` },
  {
    input: `example.com:5000/app:1.0@${DIGEST}`,
    expected: { registry: 'example.com:5000', repository: 'app', tag: '1.0', digest: DIGEST },
    formatted: `example.com:5000/app:1.0@${DIGEST}`,
    familiar: `example.com:5000/app:1.0@${DIGEST}`,
  },
  { input: `app@${DIGEST_512}`, expected: { registry: 'docker.io', repository: 'library/app', digest: DIGEST_512 }, formatted: `docker.io/library/app@${DIGEST_512}`, familiar: `app@${DIGEST_512}` },
  // Path component separators: '.', '_', '__', and runs of '-'.
  { input: 'a-b--c/d__e/f.g_h/i0', expected: { registry: 'docker.io', repository: 'a-b--c/d__e/f.g_h/i0' }, formatted: 'docker.io/a-b--c/d__e/f.g_h/i0', familiar: 'a-b--c/d__e/f.g_h/i0' },
  // Tags: word characters first, then also '.' and '-', up to 128.
  { input: 'app:_x', expected: { registry: 'docker.io', repository: 'library/app', tag: '_x' }, formatted: 'docker.io/library/app:_x', familiar: 'app:_x' },
  { input: 'app:V1.0-RC_2', expected: { registry: 'docker.io', repository: 'library/app', tag: 'V1.0-RC_2' }, formatted: 'docker.io/library/app:V1.0-RC_2', familiar: 'app:V1.0-RC_2' },
  {
    input: `app:${'t'.repeat(128)}`,
    expected: { registry: 'docker.io', repository: 'library/app', tag: 't'.repeat(128) },
    formatted: `docker.io/library/app:${'t'.repeat(128)}`,
    familiar: `app:${'t'.repeat(128)}`,
  },
  // 255 characters in all, counting the normalized `registry/repository`.
  { input: `example.com/${'a'.repeat(243)}`, expected: { registry: 'example.com', repository: 'a'.repeat(243) }, formatted: `example.com/${'a'.repeat(243)}`, familiar: `example.com/${'a'.repeat(243)}` },
];

describe('parseReference accepts', () => {
  for (const row of GOOD) {
    test(row.input.length > 80 ? `${row.input.slice(0, 77)}...` : row.input, () => {
      const ref = parseReference(row.input);
      assert.deepEqual(ref, row.expected);
      assert.equal(formatReference(ref), row.formatted);
      assert.equal(familiarString(ref), row.familiar);
      // Both printed forms parse back to the same reference.
      assert.deepEqual(parseReference(formatReference(ref)), ref);
      assert.deepEqual(parseReference(familiarString(ref)), ref);
    });
  }
});

const BAD: ReadonlyArray<readonly [string, string]> = [
  ['', 'empty reference'],
  ['Bad//Ref', 'repository name must be lowercase'],
  ['bad//ref', 'empty path component in repository name'],
  ['Ubuntu', 'repository name must be lowercase'],
  ['Foo/bar', 'repository name must be lowercase'],
  ['example.com/Team/app', 'repository name must be lowercase'],
  ['foo/', 'empty path component in repository name'],
  ['/foo', 'empty path component in repository name'],
  ['example.com/', 'empty repository name'],
  [':tag', 'empty repository name'],
  [`@${DIGEST}`, 'empty repository name'],
  ['ubuntu:', 'empty tag'],
  ['ubuntu:-tag', 'tag "-tag" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"'],
  ['ubuntu:.tag', 'tag ".tag" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"'],
  ['ubuntu:a+b', 'tag "a+b" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"'],
  [`ubuntu:${'t'.repeat(129)}`, `tag "${'t'.repeat(129)}" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"`],
  ['ubuntu@sha256:abc', 'cannot parse digest "sha256:abc": the encoded part has the wrong length or characters'],
  [`ubuntu@md5:${'a'.repeat(32)}`, `cannot parse digest "md5:${'a'.repeat(32)}": unsupported algorithm "md5" (sha256 or sha512)`],
  ['ubuntu@', 'cannot parse digest "": expected algorithm:hex'],
  [`ubuntu@${DIGEST}@x`, `cannot parse digest "${DIGEST}@x": the encoded part has the wrong length or characters`],
  ['foo_/bar', 'path component "foo_" must be lowercase letters and digits, separated by ".", "_", "__" or "-"'],
  ['-foo', 'path component "-foo" must be lowercase letters and digits, separated by ".", "_", "__" or "-"'],
  ['foo/bar-', 'path component "bar-" must be lowercase letters and digits, separated by ".", "_", "__" or "-"'],
  ['foo..bar', 'path component "foo..bar" must be lowercase letters and digits, separated by ".", "_", "__" or "-"'],
  ['foo___bar', 'path component "foo___bar" must be lowercase letters and digits, separated by ".", "_", "__" or "-"'],
  ['foo bar', 'path component "foo bar" must be lowercase letters and digits, separated by ".", "_", "__" or "-"'],
  ['exa_mple.com/app', '"exa_mple.com" is not a valid registry host[:port]'],
  ['example.com:port/app', '"example.com:port" is not a valid registry host[:port]'],
  ['-example.com/app', '"-example.com" is not a valid registry host[:port]'],
  ['[::1/app', '"[::1" is not a valid registry host[:port]'],
  ['a'.repeat(64), 'a 64-character hexadecimal string is an image ID, not a repository name'],
  [`example.com/${'a'.repeat(244)}`, 'repository name must not be longer than 255 characters'],
  // Docker Hub's prefixes count: docker.io/library/ + 238 = 256.
  ['a'.repeat(238), 'repository name must not be longer than 255 characters'],
];

describe('parseReference rejects', () => {
  for (const [input, why] of BAD) {
    test(input.length > 80 ? `${input.slice(0, 77)}...` : JSON.stringify(input), () => {
      assert.throws(
        () => parseReference(input),
        (error: unknown) => {
          assert.ok(isPolyarchError(error));
          assert.equal(error.code, 'INVALID_REFERENCE');
          assert.equal(error.message, `invalid reference "${input}": ${why}`);
          return true;
        },
      );
    });
  }
});

describe('helpers', () => {
  const plain = parseReference('example.com/app');
  const tagged = parseReference('example.com/app:1.0');
  const pinned = parseReference(`example.com/app@${DIGEST}`);
  const both = parseReference(`example.com/app:1.0@${DIGEST}`);

  test('withDefaultTag adds latest only when there is neither tag nor digest', () => {
    assert.deepEqual(withDefaultTag(plain), { registry: 'example.com', repository: 'app', tag: 'latest' });
    assert.deepEqual(withDefaultTag(tagged), tagged);
    assert.deepEqual(withDefaultTag(pinned), pinned);
  });

  test('referenceString: digest, else tag, else latest', () => {
    assert.equal(referenceString(plain), 'latest');
    assert.equal(referenceString(tagged), '1.0');
    assert.equal(referenceString(pinned), DIGEST);
    assert.equal(referenceString(both), DIGEST);
  });

  test('withDigest keeps the tag', () => {
    assert.deepEqual(withDigest(tagged, DIGEST), both);
    assert.deepEqual(withDigest(plain, DIGEST), pinned);
    assert.throws(() => withDigest(plain, 'sha256:nope' as Digest), { code: 'INVALID_REFERENCE' });
  });

  test('withTag keeps the digest and checks the tag', () => {
    assert.deepEqual(withTag(pinned, '1.0'), both);
    assert.deepEqual(withTag(tagged, '2.0'), { registry: 'example.com', repository: 'app', tag: '2.0' });
    assert.throws(() => withTag(plain, 'bad tag'), {
      code: 'INVALID_REFERENCE',
      message: 'invalid reference "example.com/app": tag "bad tag" must be 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-"',
    });
  });

  test('familiarName drops docker.io/ and library/, and never the tag', () => {
    const rows: ReadonlyArray<readonly [string, string]> = [
      ['ubuntu:22.04', 'ubuntu'],
      ['docker.io/library/ubuntu', 'ubuntu'],
      ['foo/bar:1', 'foo/bar'],
      ['library/a/b', 'library/a/b'],
      ['example.com/library/ubuntu', 'example.com/library/ubuntu'],
      [`localhost:5000/app@${DIGEST}`, 'localhost:5000/app'],
    ];
    for (const [input, expected] of rows) assert.equal(familiarName(parseReference(input)), expected, input);
  });

  test('registryApiHost maps Docker Hub only', () => {
    assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryApiHost('localhost:5000'), 'localhost:5000');
    assert.equal(registryApiHost('ghcr.io'), 'ghcr.io');
  });
});
