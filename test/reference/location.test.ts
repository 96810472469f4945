import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Digest } from '../../src/digest/digest.js';
import type { Location } from '../../src/reference/location.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { formatLocation, parseLocation } from '../../src/reference/location.js';

const DIGEST = `sha256:${'b2'.repeat(32)}` as Digest;

const GOOD: ReadonlyArray<{ readonly input: string; readonly expected: Location; readonly formatted: string }> = [
  // OCI layout directories.
  { input: 'oci:./out', expected: { kind: 'oci-layout', path: './out' }, formatted: 'oci:./out' },
  { input: 'oci:./a/b:1.0', expected: { kind: 'oci-layout', path: './a/b', tag: '1.0' }, formatted: 'oci:./a/b:1.0' },
  // The path ends at the first ':' (skopeo's oci transport); the rest is a tag or an image name.
  { input: 'oci:/tmp/x:y:latest', expected: { kind: 'oci-layout', path: '/tmp/x', tag: 'y:latest' }, formatted: 'oci:/tmp/x:y:latest' },
  { input: 'oci:./a:b/c', expected: { kind: 'oci-layout', path: './a', tag: 'b/c' }, formatted: 'oci:./a:b/c' },
  { input: `oci:out@${DIGEST}`, expected: { kind: 'oci-layout', path: 'out', digest: DIGEST }, formatted: `oci:out@${DIGEST}` },
  { input: `oci:out:1@${DIGEST}`, expected: { kind: 'oci-layout', path: 'out', tag: '1', digest: DIGEST }, formatted: `oci:out:1@${DIGEST}` },
  // An '@' not followed by alg:hex belongs to the path.
  { input: 'oci:dir@home/x', expected: { kind: 'oci-layout', path: 'dir@home/x' }, formatted: 'oci:dir@home/x' },
  { input: 'oci:.', expected: { kind: 'oci-layout', path: '.' }, formatted: 'oci:.' },
  // OCI archives.
  { input: 'oci-archive:img.tar', expected: { kind: 'oci-archive', path: 'img.tar' }, formatted: 'oci-archive:img.tar' },
  { input: 'oci-archive:out/img.tar:v1', expected: { kind: 'oci-archive', path: 'out/img.tar', tag: 'v1' }, formatted: 'oci-archive:out/img.tar:v1' },
  // docker save tarballs: the first ':' ends the path; the rest is a reference (tag defaults to latest).
  { input: 'docker-archive:out.tar', expected: { kind: 'docker-archive', path: 'out.tar' }, formatted: 'docker-archive:out.tar' },
  {
    input: 'docker-archive:out.tar:foo/bar:1',
    expected: { kind: 'docker-archive', path: 'out.tar', reference: { registry: 'docker.io', repository: 'foo/bar', tag: '1' } },
    formatted: 'docker-archive:out.tar:foo/bar:1',
  },
  {
    input: 'docker-archive:out.tar:nginx',
    expected: { kind: 'docker-archive', path: 'out.tar', reference: { registry: 'docker.io', repository: 'library/nginx', tag: 'latest' } },
    formatted: 'docker-archive:out.tar:nginx:latest',
  },
  {
    input: 'docker-archive:/tmp/b.tar:localhost:5000/app:2',
    expected: { kind: 'docker-archive', path: '/tmp/b.tar', reference: { registry: 'localhost:5000', repository: 'app', tag: '2' } },
    formatted: 'docker-archive:/tmp/b.tar:localhost:5000/app:2',
  },
  // Registries, with or without docker://.
  { input: 'alpine', expected: { kind: 'registry', reference: { registry: 'docker.io', repository: 'library/alpine' } }, formatted: 'docker.io/library/alpine' },
  { input: 'docker://alpine:3', expected: { kind: 'registry', reference: { registry: 'docker.io', repository: 'library/alpine', tag: '3' } }, formatted: 'docker.io/library/alpine:3' },
  {
    input: `registry.example.com:5000/a/b:1@${DIGEST}`,
    expected: { kind: 'registry', reference: { registry: 'registry.example.com:5000', repository: 'a/b', tag: '1', digest: DIGEST } },
    formatted: `registry.example.com:5000/a/b:1@${DIGEST}`,
  },
  { input: 'localhost:5000/app', expected: { kind: 'registry', reference: { registry: 'localhost:5000', repository: 'app' } }, formatted: 'localhost:5000/app' },
];

describe('parseLocation accepts', () => {
  for (const { input, expected, formatted } of GOOD) {
    test(input, () => {
      const location = parseLocation(input);
      assert.deepEqual(location, expected);
      assert.equal(formatLocation(location), formatted);
      // formatLocation round-trips.
      assert.deepEqual(parseLocation(formatLocation(location)), location);
    });
  }
});

const BAD: ReadonlyArray<{ readonly input: string; readonly code: 'INVALID_LOCATION' | 'INVALID_REFERENCE'; readonly message: string }> = [
  { input: 'oci:', code: 'INVALID_LOCATION', message: 'invalid location "oci:": empty path' },
  { input: 'oci::1.0', code: 'INVALID_LOCATION', message: 'invalid location "oci::1.0": empty path' },
  { input: `oci:@${DIGEST}`, code: 'INVALID_LOCATION', message: `invalid location "oci:@${DIGEST}": empty path` },
  { input: 'oci:dir:', code: 'INVALID_LOCATION', message: 'invalid location "oci:dir:": empty tag after ":"' },
  {
    input: 'oci:dir:-bad',
    code: 'INVALID_LOCATION',
    message: 'invalid location "oci:dir:-bad": "-bad" is neither a tag (letters, digits, "_", "." or "-", not starting with "." or "-") nor an image name (components of letters and digits joined by "-", ".", "_", ":", "@", "+" or "--", separated by "/")',
  },
  {
    input: 'oci:dir@sha256:zz',
    code: 'INVALID_LOCATION',
    message: 'invalid location "oci:dir@sha256:zz": cannot parse digest "sha256:zz": the encoded part has the wrong length or characters',
  },
  { input: 'oci-archive:', code: 'INVALID_LOCATION', message: 'invalid location "oci-archive:": empty path' },
  {
    input: 'oci-archive:x.tar:.bad',
    code: 'INVALID_LOCATION',
    message: 'invalid location "oci-archive:x.tar:.bad": ".bad" is neither a tag (letters, digits, "_", "." or "-", not starting with "." or "-") nor an image name (components of letters and digits joined by "-", ".", "_", ":", "@", "+" or "--", separated by "/")',
  },
  { input: 'docker-archive:', code: 'INVALID_LOCATION', message: 'invalid location "docker-archive:": empty path' },
  { input: 'docker-archive::foo:1', code: 'INVALID_LOCATION', message: 'invalid location "docker-archive::foo:1": empty path' },
  {
    input: 'docker-archive:out.tar:Foo',
    code: 'INVALID_LOCATION',
    message: 'invalid location "docker-archive:out.tar:Foo": invalid reference "Foo": repository name must be lowercase',
  },
  {
    input: `docker-archive:out.tar:foo@${DIGEST}`,
    code: 'INVALID_LOCATION',
    message: `invalid location "docker-archive:out.tar:foo@${DIGEST}": a docker-archive reference takes a tag, not a digest`,
  },
  { input: 'Bad//Ref', code: 'INVALID_REFERENCE', message: 'invalid reference "Bad//Ref": repository name must be lowercase' },
  { input: 'docker://', code: 'INVALID_REFERENCE', message: 'invalid reference "": empty reference' },
  { input: '', code: 'INVALID_REFERENCE', message: 'invalid reference "": empty reference' },
];

describe('parseLocation rejects', () => {
  for (const { input, code, message } of BAD) {
    test(JSON.stringify(input), () => {
      assert.throws(
        () => parseLocation(input),
        (error: unknown) => {
          assert.ok(isPolyarchError(error));
          assert.equal(error.code, code);
          assert.equal(error.message, message);
          return true;
        },
      );
    });
  }
});
