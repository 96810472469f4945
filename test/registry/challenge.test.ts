// WWW-Authenticate parsing (RFC 7235): what must parse, and how.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWwwAuthenticate, type Challenge } from '../../src/registry/transport/challenge.js';

const CASES: readonly { header: string | undefined; expected: Challenge[] }[] = [
  { header: undefined, expected: [] },
  { header: '', expected: [] },
  { header: 'Basic realm="Registry Realm"', expected: [{ scheme: 'basic', params: { realm: 'Registry Realm' } }] },
  {
    header: 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
    expected: [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:samalba/my-app:pull,push' } }],
  },
  {
    header: 'bearer  Realm = "https://x/token" , Service=reg.example ,error="insufficient_scope"',
    expected: [{ scheme: 'bearer', params: { realm: 'https://x/token', service: 'reg.example', error: 'insufficient_scope' } }],
  },
  {
    header: 'Basic realm="a, b", Bearer realm="https://t/token",scope="repository:a:pull repository:b:pull"',
    expected: [
      { scheme: 'basic', params: { realm: 'a, b' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', scope: 'repository:a:pull repository:b:pull' } },
    ],
  },
  { header: 'Bearer realm="say \\"hi\\", ok"', expected: [{ scheme: 'bearer', params: { realm: 'say "hi", ok' } }] },
  { header: 'Negotiate abc123==, Basic realm="x"', expected: [{ scheme: 'negotiate', params: {}, token68: 'abc123==' }, { scheme: 'basic', params: { realm: 'x' } }] },
  { header: 'Basic, Bearer realm="r"', expected: [{ scheme: 'basic', params: {} }, { scheme: 'bearer', params: { realm: 'r' } }] },
  { header: 'Bearer realm="unterminated', expected: [{ scheme: 'bearer', params: { realm: 'unterminated' } }] },
];

test('parseWwwAuthenticate', () => {
  for (const { header, expected } of CASES) assert.deepEqual(parseWwwAuthenticate(header), expected, String(header));
});
