// The library from plain JavaScript, where types are not checked: a location or platform of the
// wrong kind is one coded PolyarchError naming it, never a TypeError from deep inside (one used to
// come from the endpoint cleanup, hiding the real mistake).
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assembleIndex, buildImages, copy, createRegistryServer, inspect, verify, PolyarchError } from '../../src/index.js';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { parseLocation } from '../../src/reference/location.js';
import { randomIndex } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

let dir: { path: string; remove: () => Promise<void> };
let layout = '';
before(async () => {
  dir = await tempDir();
  layout = `oci:${join(dir.path, 'layout')}:1`;
  const opener = createEndpointOpener();
  const { endpoint } = await opener.open(parseLocation(layout), 'write');
  await randomIndex(endpoint, [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }], { tag: '1', layers: 1, bytes: 256, seed: 'library-input' });
  await opener.close();
});
after(() => dir.remove());

/** Rejects with a PolyarchError of `code` whose message matches `message`. */
async function refuses(run: () => Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(run(), (error: unknown) => {
    assert.ok(error instanceof PolyarchError, `a PolyarchError, not ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

test('a location or platform of the wrong kind is one coded error naming it', async () => {
  const loose = (value: unknown) => value as never;
  await refuses(() => copy({ source: loose(42), destination: `oci:${join(dir.path, 'out')}` }), 'INVALID_LOCATION', /^location 42 is neither a string/);
  await refuses(() => inspect({ location: loose({ kind: 'nope' }) }), 'INVALID_LOCATION', /^location an object is neither/);
  await refuses(() => inspect({ location: layout, platform: loose('linux/arm64') }), 'INVALID_PLATFORM', /^platform "linux\/arm64" is not a Platform object/);
  await refuses(() => verify({ location: layout, require: loose(['linux/arm64']) }), 'INVALID_PLATFORM', /is not a Platform object/);
  await refuses(() => copy({ source: layout, destination: `oci:${join(dir.path, 'out')}:1`, platforms: loose('linux/arm64') }), 'USAGE', /^platforms is a list of Platform objects/);
  // Options the CLI range-checks are checked in the library too, and a caller's mistake is not a network fault.
  const out = `oci:${join(dir.path, 'out')}:1`;
  for (const concurrency of [0, -1, 1.5, '4']) await refuses(() => copy({ source: layout, destination: out, concurrency: loose(concurrency) }), 'USAGE', /^concurrency .* is not a whole number from 1 to 64$/);
  await refuses(() => copy({ source: layout, destination: out, signal: loose('x') }), 'USAGE', /^signal must be an AbortSignal$/);
  await refuses(() => assembleIndex({ sources: [layout], targets: [out], format: loose('bogus') }), 'USAGE', /^index format "bogus" is neither oci nor docker$/);
  await refuses(() => buildImages({ context: dir.path, platforms: [{ os: 'linux', architecture: 'amd64' }], buildPlatform: { os: 'linux', architecture: 'amd64' }, sourceDateEpoch: -5 }), 'USAGE', /^sourceDateEpoch -5 is not a whole number/);
  const server = await createRegistryServer({ root: join(dir.path, 'registry') });
  try {
    await refuses(() => server.listen(99999), 'USAGE', /^cannot listen on port 99999/);
  } finally {
    await server.close();
  }
  // Nothing was written for the refused copies.
  assert.deepEqual((await readdir(dir.path)).sort(), ['layout', 'registry']);
});
