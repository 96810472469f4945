import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { digestOfBytes } from '../../src/digest/digest.js';
import { buildIndex, parseImageIndex } from '../../src/image/index.js';
import { parseImageManifest } from '../../src/image/manifest.js';
import { rawFromBytes } from '../../src/image/raw-manifest.js';
import { MediaType, dockerToOci, isDistributable, layerCompression, ociToDocker } from '../../src/mediatype/mediatype.js';

const d = (n: number) => ({ mediaType: MediaType.OciManifest, digest: digestOfBytes(Buffer.from(String(n))), size: n });

describe('raw manifests keep their bytes', () => {
  test('digest is over the exact bytes, whitespace included', () => {
    const bytes = Buffer.from('{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",\n   "manifests": []\n}');
    const raw = rawFromBytes(bytes);
    assert.equal(raw.digest, digestOfBytes(bytes));
    assert.equal(raw.mediaType, MediaType.DockerManifestList);
    assert.equal(parseImageIndex(raw).raw.bytes, bytes);
  });

  test('Content-Type wins; its parameters are dropped; an absent mediaType is inferred', () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    assert.equal(rawFromBytes(index).mediaType, MediaType.OciIndex);
    assert.equal(rawFromBytes(index, { mediaType: `${MediaType.OciIndex}; charset=utf-8` }).mediaType, MediaType.OciIndex);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: d(1), layers: [] }));
    assert.equal(rawFromBytes(manifest, { mediaType: 'application/json' }).mediaType, MediaType.OciManifest);
  });

  test('expected digest is enforced', () => {
    const bytes = Buffer.from('{"schemaVersion":2,"manifests":[]}');
    assert.throws(() => rawFromBytes(bytes, { expected: digestOfBytes(Buffer.from('other')) }), { code: 'DIGEST_MISMATCH' });
  });

  test('malformed manifests are rejected with the reason', () => {
    const cases: [string, RegExp][] = [
      ['not json', /not valid JSON/],
      ['[]', /expected a JSON object/],
      [JSON.stringify({ schemaVersion: 1, manifests: [] }), /schemaVersion must be 2/],
      [JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'x', digest: 'sha256:zz', size: 1 }] }), /not a valid digest/],
      [JSON.stringify({ schemaVersion: 2, manifests: [{ ...d(1), size: -1 }] }), /non-negative integer/],
    ];
    for (const [text, reason] of cases) {
      assert.throws(() => parseImageIndex(rawFromBytes(Buffer.from(text), { mediaType: MediaType.OciIndex })), reason, text);
    }
    assert.throws(() => parseImageManifest(rawFromBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, config: d(1) })), { mediaType: MediaType.OciManifest })), /layers must be an array/);
  });
});

describe('buildIndex', () => {
  test('writes spec fields only and parses back', () => {
    const raw = buildIndex([{ ...d(1), platform: { os: 'linux', architecture: 'amd64' } }, d(2)], { annotations: { 'org.opencontainers.image.version': '1' } });
    const index = parseImageIndex(raw);
    assert.equal(index.manifests.length, 2);
    assert.deepEqual(index.manifests[0]!.platform, { os: 'linux', architecture: 'amd64' });
    assert.equal(index.annotations?.['org.opencontainers.image.version'], '1');
  });

  test('a Docker list refuses index annotations', () => {
    assert.throws(() => buildIndex([d(1)], { mediaType: MediaType.DockerManifestList, annotations: { a: 'b' } }), { code: 'USAGE' });
  });
});

describe('media types', () => {
  test('Docker ↔ OCI equivalents round trip', () => {
    for (const docker of [MediaType.DockerManifestList, MediaType.DockerManifest, MediaType.DockerConfig, MediaType.DockerLayerGzip, MediaType.DockerLayerZstd]) {
      assert.equal(ociToDocker(dockerToOci(docker)), docker);
    }
  });
  test('compression and distributability', () => {
    assert.equal(layerCompression(MediaType.OciLayerZstd), 'zstd');
    assert.equal(layerCompression(MediaType.DockerLayerGzip), 'gzip');
    assert.equal(layerCompression(MediaType.OciLayer), 'none');
    assert.equal(layerCompression(MediaType.OciConfig), 'unknown');
    assert.equal(isDistributable(MediaType.DockerForeignLayer), false);
    assert.equal(isDistributable(MediaType.OciLayerNondistributableZstd), false);
    assert.equal(isDistributable(MediaType.OciLayerGzip), true);
  });
});
