// The client against distribution with TLS and htpasswd (Basic): the suite with good
// credentials, and refusals that are one UNAUTHORIZED line never holding the password.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { parseDigest } from '../../src/digest/digest.js';
import { createRegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import type { RegistryCredentials } from '../../src/registry/transport/auth.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { registrySuite, rejectsWithCode } from './shared-suite.js';

const PASSWORD = 'c0rrect-h0rse-battery';
let registry: DistributionHandle;
const asked: string[] = [];

before(async () => {
  registry = await startDistribution({ tls: true, auth: { username: 'alice', password: PASSWORD } });
});
after(async () => {
  await registry?.stop();
});

function optionsWith(credentials: RegistryCredentials | undefined): RegistryClientOptions {
  return {
    caFile: registry.caFile!,
    credentials: async (host) => {
      asked.push(host);
      return credentials;
    },
  };
}

registrySuite('TLS + htpasswd', () => ({ host: registry.host, options: optionsWith({ username: 'alice', password: PASSWORD }), scheme: 'https' }));

test('ping reports Basic; checkCredentials accepts the right password; the host was asked for', async () => {
  const client = createRegistryClient(registry.host, optionsWith({ username: 'alice', password: PASSWORD }));
  try {
    assert.deepEqual(await client.ping(), { scheme: 'https', authScheme: 'basic' });
    await client.checkCredentials();
    assert.ok(asked.includes(registry.host));
  } finally {
    await client.close();
  }
});

test('a wrong password is one UNAUTHORIZED line without the password', async () => {
  const secret = 'wrong-Pa55word-xyz';
  const client = createRegistryClient(registry.host, optionsWith({ username: 'alice', password: secret }));
  try {
    for (const attempt of [() => client.checkCredentials(), () => client.repository('suite/app').getManifest('1.0'), () => client.catalog()]) {
      const error = await rejectsWithCode(attempt(), 'UNAUTHORIZED');
      assert.ok(!error.message.includes(secret), error.message);
      assert.ok(!JSON.stringify(error).includes(secret));
      assert.ok(!String((error as { url?: string }).url ?? '').includes(secret));
    }
  } finally {
    await client.close();
  }
});

test('no credentials: reads are UNAUTHORIZED, login is refused up front', async () => {
  const client = createRegistryClient(registry.host, optionsWith(undefined));
  try {
    await rejectsWithCode(client.repository('suite/app').getManifest('1.0'), 'UNAUTHORIZED');
    // A HEAD has no error body: the status's own phrase says why, and the blob is named where it is.
    const head = await rejectsWithCode(client.repository('suite/app').hasBlob({ mediaType: 'application/octet-stream', digest: parseDigest(`sha256:${'0'.repeat(64)}`), size: 1 }), 'UNAUTHORIZED');
    assert.match(head.message, /^blob sha256:0{12}… in registry 127\.0\.0\.1:\d+\/suite\/app: HTTP 401 Unauthorized$/);
    const error = await client.checkCredentials().catch((e: unknown) => e);
    assert.ok(isPolyarchError(error) && error.code === 'UNAUTHORIZED');
  } finally {
    await client.close();
  }
});
