// Index assembly on layouts (no network): attestations from buildx-style sources, append,
// formats, annotations, and manifest-tool's documented spec file.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { assembleIndex, parseSourceSpec } from '../../src/ops/assemble.js';
import { inspect } from '../../src/ops/inspect.js';
import { expandTemplate, parsePushSpec } from '../../src/ops/spec-file.js';
import { buildIndex } from '../../src/image/index.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomImage, type GeneratedImage } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('assembleIndex', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let amd64: GeneratedImage;
  let arm64: GeneratedImage;
  let attestation: ReturnType<typeof rawFromJson>;

  before(async () => {
    dir = await tempDir();
    const src = await openLayout(join(dir.path, 'src'), { create: true });
    amd64 = await randomImage(src, { platform: { os: 'linux', architecture: 'amd64' }, tag: 'amd64' });
    arm64 = await randomImage(src, { platform: { os: 'linux', architecture: 'aarch64' }, tag: 'arm64', seed: 'arm' });
    // What buildx pushes with provenance: an index of the image and an unknown/unknown attestation.
    const empty = Buffer.from('{}');
    const emptyDescriptor = { mediaType: MediaType.OciEmpty, digest: (await import('../../src/digest/digest.js')).digestOfBytes(empty), size: 2 };
    await src.putBlob(emptyDescriptor, Readable.from([empty]));
    attestation = rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: emptyDescriptor, layers: [] }, MediaType.OciManifest);
    await src.putManifest(attestation);
    const buildx = buildIndex([
      amd64.descriptor,
      {
        mediaType: MediaType.OciManifest,
        digest: attestation.digest,
        size: attestation.size,
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.manifest.digest },
      },
    ]);
    await src.putManifest(buildx, { tag: 'buildx-amd64' });
  });
  after(() => dir.remove());

  test('a buildx index with an attestation is flattened; the attestation stays next to its image', async () => {
    const target = `oci:${join(dir.path, 'out')}:1`;
    const kept = await assembleIndex([`oci:${join(dir.path, 'src')}:buildx-amd64`, `oci:${join(dir.path, 'src')}:arm64`], [target]);
    assert.deepEqual(kept.entries.map((d) => d.platform?.architecture), ['amd64', 'unknown', 'arm64'], 'aarch64 normalized');
    assert.equal(kept.entries[1]!.annotations?.['vnd.docker.reference.digest'], amd64.manifest.digest);
    const shown = await inspect(target);
    assert.equal(shown.descriptor.digest, kept.descriptor.digest);
    assert.equal(shown.descriptor.mediaType, MediaType.OciIndex, 'OCI children make an OCI index');

    const dropped = await assembleIndex([`oci:${join(dir.path, 'src')}:buildx-amd64`], [`oci:${join(dir.path, 'out')}:2`], { attestations: 'drop' });
    assert.deepEqual(dropped.entries.map((d) => d.digest), [amd64.manifest.digest]);
  });

  test('append adds to an existing index; annotations land on the index and descriptors', async () => {
    const target = `oci:${join(dir.path, 'append')}:1`;
    await assembleIndex([`oci:${join(dir.path, 'src')}:amd64`], [target]);
    const appended = await assembleIndex([`oci:${join(dir.path, 'src')}:arm64`], [target], {
      append: true,
      annotations: { 'org.opencontainers.image.version': '1' },
      descriptorAnnotations: { 'org.example.note': 'x' },
    });
    assert.deepEqual(appended.entries.map((d) => d.platform?.architecture), ['amd64', 'arm64']);
    const shown = await inspect(target);
    assert.equal(shown.kind === 'index' ? shown.annotations?.['org.opencontainers.image.version'] : undefined, '1');
    // The same image again changes nothing; another image for a platform already there is refused.
    const again = await assembleIndex([`oci:${join(dir.path, 'src')}:arm64`], [target], { append: true, annotations: { 'org.opencontainers.image.version': '1' }, descriptorAnnotations: { 'org.example.note': 'x' } });
    assert.equal(again.descriptor.digest, appended.descriptor.digest);
    await randomImage(await openLayout(join(dir.path, 'src'), { create: true }), { platform: { os: 'linux', architecture: 'arm64' }, tag: 'arm64-rebuilt', seed: 'rebuilt' });
    await assert.rejects(assembleIndex([`oci:${join(dir.path, 'src')}:arm64-rebuilt`], [target], { append: true }), /two sources have platform linux\/arm64/);
  });

  test('a Docker list cannot take index annotations; source specs parse or fail with the reason', async () => {
    await assert.rejects(assembleIndex([`oci:${join(dir.path, 'src')}:amd64`], [`oci:${join(dir.path, 'x')}:1`], { format: 'docker', annotations: { a: 'b' } }), { code: 'USAGE' });
    assert.deepEqual(parseSourceSpec('reg/foo:1,platform=linux/armhf'), { location: 'reg/foo:1', platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    assert.throws(() => parseSourceSpec('reg/foo:1,arch=arm'), /unknown option "arch=arm"/);
  });
});

describe("manifest-tool's inputs", () => {
  test('the documented spec file', () => {
    // manifest-tool README, "Specifying the Manifest List" (YAML input).
    const spec = parsePushSpec(`image: myprivreg:5000/someimage:latest
tags: ['tag1', 'tag2']
manifests:
  -
    image: myprivreg:5000/someimage:ppc64le
    platform:
      architecture: ppc64le
      os: linux
  -
    image: myprivreg:5000/someimage:amd64
    platform:
      architecture: amd64
      os: linux
`);
    assert.deepEqual(spec.targets, ['myprivreg:5000/someimage:latest', 'myprivreg:5000/someimage:tag1', 'myprivreg:5000/someimage:tag2']);
    assert.deepEqual(spec.sources, [
      { location: 'myprivreg:5000/someimage:ppc64le', platform: { os: 'linux', architecture: 'ppc64le' } },
      { location: 'myprivreg:5000/someimage:amd64', platform: { os: 'linux', architecture: 'amd64' } },
    ]);
    assert.throws(() => parsePushSpec('image: a/b:1\n'), /needs a list of "manifests"/);
    assert.throws(() => parsePushSpec('image: [\n'), /not valid YAML/);
  });

  test('from-args templates, with variants manifest-tool rejects', () => {
    const spec = expandTemplate('reg/foo-OSARCHVARIANT:1.0', 'linux/amd64/v3,linux/arm64/v8.2,linux/riscv64,linux/arm/v7', 'reg/foo:1.0');
    assert.deepEqual(spec.sources.map((s) => s.location), ['reg/foo-linuxamd64v3:1.0', 'reg/foo-linuxarm64v8.2:1.0', 'reg/foo-linuxriscv64:1.0', 'reg/foo-linuxarmv7:1.0']);
    assert.throws(() => expandTemplate('reg/foo:1.0', 'linux/amd64', 'reg/foo:1'), /placeholders/);
  });
});
