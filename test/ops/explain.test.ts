// explainMatch on layouts: the entry a host pulls, containerd's fallback order, and a reason for
// every entry passed over (variants, Windows os.version, attestations).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Descriptor } from '../../src/image/descriptor.js';
import { buildIndex } from '../../src/image/index.js';
import { explainMatch } from '../../src/ops/explain.js';
import { parsePlatform, formatPlatform } from '../../src/platform/platform.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomImage, THREE_PLATFORMS } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('explainMatch', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let entries: Descriptor[];
  let location: string;

  before(async () => {
    dir = await tempDir();
    const layout = await openLayout(join(dir.path, 'l'), { create: true });
    entries = [];
    for (const platform of THREE_PLATFORMS) entries.push((await randomImage(layout, { platform })).descriptor);
    for (const osVersion of ['10.0.17763.5122', '10.0.20348.2113']) {
      const image = await randomImage(layout, { platform: { os: 'windows', architecture: 'amd64' }, seed: osVersion });
      entries.push({ ...image.descriptor, platform: { os: 'windows', architecture: 'amd64', 'os.version': osVersion } });
    }
    const attestation = await randomImage(layout, { platform: { os: 'unknown', architecture: 'unknown' }, seed: 'att' });
    entries.push({
      ...attestation.descriptor,
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': entries[0]!.digest },
    });
    await layout.putManifest(buildIndex(entries), { tag: '1' });
    location = `oci:${join(dir.path, 'l')}:1`;
  });
  after(() => dir.remove());

  test('an arm64 v8.2 host takes arm64 over arm/v7, and says so', async () => {
    const result = await explainMatch({ location, host: parsePlatform('linux/arm64/v8.2') });
    assert.equal(result.chosen?.digest, entries[1]!.digest);
    assert.deepEqual(result.fallbacks.map(formatPlatform).slice(0, 4), ['linux/arm64/v8.2', 'linux/arm64/v8.1', 'linux/arm64', 'linux/arm/v8']);
    assert.ok(result.why.includes('linux/arm/v7: matches, but linux/arm64/v8 is preferred'), result.why.join('\n'));
    assert.ok(result.why.includes('linux/amd64: architecture amd64 ≠ arm64'));
    assert.ok(result.why.some((l) => l.startsWith(`${entries[5]!.digest}: an attestation (of ${entries[0]!.digest})`)));
  });

  test('an ARMv6 host pulls nothing from v7-only content (moby#37647), strict mode drops fallbacks', async () => {
    const v6 = await explainMatch({ location, host: parsePlatform('linux/arm/v6') });
    assert.equal(v6.chosen, undefined);
    assert.ok(v6.why.includes('linux/arm/v7: variant v7 not in v6, v5'), v6.why.join('\n'));
    const strict = await explainMatch({ location, host: parsePlatform('linux/arm64/v8.2'), strict: true });
    assert.equal(strict.chosen, undefined);
    assert.deepEqual(strict.fallbacks.map(formatPlatform), ['linux/arm64/v8.2']);
  });

  test('Windows: an ltsc2022 host needs its own build; ltsc2019 is passed over with the os.version rule', async () => {
    const result = await explainMatch({ location, host: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2340' } });
    assert.equal(result.chosen?.digest, entries[4]!.digest);
    assert.ok(result.why.includes('windows(10.0.17763.5122)/amd64: os.version 10.0.17763.5122 does not run on 10.0.20348.2340'), result.why.join('\n'));
  });

  test('a single image is explained from its config', async () => {
    const layout = await openLayout(join(dir.path, 'l'), { create: true });
    await randomImage(layout, { platform: { os: 'linux', architecture: 'arm', variant: 'v6' }, tag: 'v6', seed: 'single' });
    const result = await explainMatch({ location: `oci:${join(dir.path, 'l')}:v6`, host: parsePlatform('linux/arm/v7') });
    assert.equal(result.single, true);
    assert.deepEqual(result.chosen?.platform, { os: 'linux', architecture: 'arm', variant: 'v6' });
  });
});
