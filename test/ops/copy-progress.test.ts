// Progress of a copy as the library reports it: bytes counted in the stream while each blob moves
// (a registry's blobs to an OCI layout), not once it has arrived; every blob ends with one done
// report saying how it ended.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { copy } from '../../src/ops/copy.js';
import { formatPlatform } from '../../src/platform/platform.js';
import { parseLocation } from '../../src/reference/location.js';
import type { TransferProgress } from '../../src/progress/transfer.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS, type GeneratedIndex } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Each blob's reports in the order they came. */
function byBlob(events: readonly TransferProgress[]): Map<string, TransferProgress[]> {
  const blobs = new Map<string, TransferProgress[]>();
  for (const event of events) blobs.set(event.id, [...(blobs.get(event.id) ?? []), event]);
  return blobs;
}

describe('copy reports bytes as they move', () => {
  let registry: DistributionHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let made: GeneratedIndex;

  before(async () => {
    registry = await startDistribution();
    dir = await tempDir();
    const opener = createEndpointOpener();
    const { endpoint } = await opener.open(parseLocation(`${registry.host}/progress/app:1`), 'write');
    // Random content does not compress: each layer is about 2 MiB on the wire, many chunks.
    made = await randomIndex(endpoint, THREE_PLATFORMS.slice(0, 2), { tag: '1', layers: 2, bytes: 2 << 20, seed: 'progress' });
    await opener.close();
  });

  after(async () => {
    await registry?.stop();
    await dir?.remove();
  });

  test('a large blob reports several times before it is done, never going back, ending at its size', async () => {
    const events: TransferProgress[] = [];
    const target = `oci:${join(dir.path, 'layout')}:1`;
    const result = await copy({ source: `${registry.host}/progress/app:1`, destination: target, onProgress: (e) => void events.push(e), progressIntervalMs: 0 });
    assert.equal(result.blobsCopied, 6, '2 configs and 4 layers');

    const blobs = byBlob(events);
    const expected = made.images.flatMap((image) => [...image.layers.map((l) => l.descriptor), { digest: image.config.digest, size: image.config.size }].map((d) => ({ d, platform: image.platform })));
    assert.deepEqual([...blobs.keys()].sort(), expected.map((e) => e.d.digest).sort());
    for (const { d, platform } of expected) {
      const reports = blobs.get(d.digest)!;
      assert.equal(reports[0]!.state, 'start', `${d.digest} starts`);
      assert.equal(reports[0]!.transferred, 0);
      const done = reports.filter((r) => r.state === 'done');
      assert.equal(done.length, 1, `${d.digest} is done once`);
      assert.equal(reports.at(-1)!.state, 'done', `${d.digest} is done last`);
      assert.equal(done[0]!.transferred, d.size, `${d.digest}: the final count is its size`);
      assert.equal(done[0]!.outcome, 'copied');
      for (const r of reports) {
        assert.equal(r.total, d.size);
        assert.equal(r.phase, 'copy');
        assert.equal(formatPlatform(r.platform!), formatPlatform(platform), 'the platform of the image holding it');
      }
      for (let i = 1; i < reports.length; i++) assert.ok(reports[i]!.transferred >= reports[i - 1]!.transferred, `${d.digest}: transferred never decreases`);
    }
    // The layers arrive in many chunks: reports while the bytes were still moving, before done.
    for (const layer of made.images.flatMap((i) => i.layers)) {
      const moving = blobs.get(layer.descriptor.digest)!.filter((r) => r.state === 'progress' && r.transferred > 0 && r.transferred < layer.descriptor.size);
      assert.ok(moving.length > 1, `${layer.descriptor.digest}: ${moving.length} reports mid-way`);
    }
  });

  test('blobs already there report only done, with nothing moved', async () => {
    const target = `oci:${join(dir.path, 'again')}:1`;
    await copy({ source: `${registry.host}/progress/app:1`, destination: target });
    const events: TransferProgress[] = [];
    const again = await copy({ source: `${registry.host}/progress/app:1`, destination: target, onProgress: (e) => void events.push(e) });
    assert.equal(again.blobsSkipped, 6);
    assert.deepEqual(
      events.map((e) => [e.state, e.outcome, e.transferred]),
      Array.from({ length: 6 }, () => ['done', 'skipped', 0]),
    );
  });
});
