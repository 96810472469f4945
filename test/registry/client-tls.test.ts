// The client against distribution with a self-signed certificate: trusted through --ca-file,
// accepted through --insecure, and refused (one-line TLS error) with neither.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRegistryClient } from '../../src/registry/client.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { registrySuite, rejectsWithCode } from './shared-suite.js';

let registry: DistributionHandle;
before(async () => {
  registry = await startDistribution({ tls: true });
});
after(async () => {
  await registry?.stop();
});

registrySuite('TLS, self-signed, trusted with caFile', () => ({ host: registry.host, options: { caFile: registry.caFile! }, scheme: 'https' }));
registrySuite('TLS, self-signed, insecure', () => ({ host: registry.host, options: { insecure: true }, scheme: 'https' }));

test('an untrusted certificate is a one-line TLS error naming the host, even on loopback', async () => {
  const client = createRegistryClient(registry.host);
  try {
    const error = await rejectsWithCode(client.repository('any/thing').getManifest('1'), 'TLS');
    assert.match(error.message, new RegExp(`^registry ${registry.host.replace(/\./g, '\\.')}: TLS certificate not trusted \\(self[- ]signed certificate\\)$`));
  } finally {
    await client.close();
  }
});

test('a missing CA file is a CONFIG_INVALID error', async () => {
  const client = createRegistryClient(registry.host, { caFile: '/nonexistent/ca.pem' });
  try {
    await rejectsWithCode(client.ping(), 'CONFIG_INVALID');
  } finally {
    await client.close();
  }
});
