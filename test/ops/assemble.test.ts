// Index assembly on layouts (no network): attestations from buildx-style sources, append,
// formats, annotations, and manifest-tool's documented spec file.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { assembleIndex, parseSourceSpec } from '../../src/ops/assemble.js';
import { inspect } from '../../src/ops/inspect.js';
import { buildIndex } from '../../src/image/index.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { isBadInput } from '../../src/errors/polyarch-error.js';
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
    const kept = await assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:buildx-amd64`, `oci:${join(dir.path, 'src')}:arm64`], targets: [target] });
    assert.deepEqual(kept.entries.map((d) => d.platform?.architecture), ['amd64', 'unknown', 'arm64'], 'aarch64 normalized');
    assert.equal(kept.entries[1]!.annotations?.['vnd.docker.reference.digest'], amd64.manifest.digest);
    const shown = await inspect({ location: target });
    assert.equal(shown.descriptor.digest, kept.descriptor.digest);
    assert.equal(shown.descriptor.mediaType, MediaType.OciIndex, 'OCI children make an OCI index');

    const dropped = await assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:buildx-amd64`], targets: [`oci:${join(dir.path, 'out')}:2`], attestations: 'drop' });
    assert.deepEqual(dropped.entries.map((d) => d.digest), [amd64.manifest.digest]);
  });

  test('append adds to an existing index; annotations land on the index and descriptors', async () => {
    const target = `oci:${join(dir.path, 'append')}:1`;
    await assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:amd64`], targets: [target] });
    const appended = await assembleIndex({
      sources: [`oci:${join(dir.path, 'src')}:arm64`],
      targets: [target],
      append: true,
      annotations: { 'org.opencontainers.image.version': '1' },
      descriptorAnnotations: { 'org.example.note': 'x' },
    });
    assert.deepEqual(appended.entries.map((d) => d.platform?.architecture), ['amd64', 'arm64']);
    const shown = await inspect({ location: target });
    assert.equal(shown.kind === 'index' ? shown.annotations?.['org.opencontainers.image.version'] : undefined, '1');
    // The same image again changes nothing; another image for a platform already there is refused.
    const again = await assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:arm64`], targets: [target], append: true, annotations: { 'org.opencontainers.image.version': '1' }, descriptorAnnotations: { 'org.example.note': 'x' } });
    assert.equal(again.descriptor.digest, appended.descriptor.digest);
    await randomImage(await openLayout(join(dir.path, 'src'), { create: true }), { platform: { os: 'linux', architecture: 'arm64' }, tag: 'arm64-rebuilt', seed: 'rebuilt' });
    await assert.rejects(assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:arm64-rebuilt`], targets: [target], append: true }), /two sources have platform linux\/arm64/);
  });

  test('a Docker list cannot take index annotations; source specs parse or fail with the reason', async () => {
    await assert.rejects(assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:amd64`], targets: [`oci:${join(dir.path, 'x')}:1`], format: 'docker', annotations: { a: 'b' } }), { code: 'USAGE' });
    // Kept as written: normalized (with a notice) when the index is assembled.
    assert.deepEqual(parseSourceSpec('reg/foo:1,platform=linux/armhf'), { location: 'reg/foo:1', platform: { os: 'linux', architecture: 'armhf' } });
    assert.throws(() => parseSourceSpec('reg/foo:1,platform=linux/arm/v7/x'), { code: 'INVALID_PLATFORM' });
    assert.throws(() => parseSourceSpec('reg/foo:1,arch=arm'), /unknown option "arch=arm"/);
  });

  test('normalization is told: an alias in a config, a platform the user wrote', async () => {
    const notices: string[] = [];
    const src = `oci:${join(dir.path, 'src')}`;
    const made = await assembleIndex({ sources: [`${src}:arm64`, `${src}:amd64,platform=linux/x86_64`], targets: [`oci:${join(dir.path, 'notice')}:1`], onNotice: (m) => notices.push(m) });
    assert.deepEqual(made.entries.map((d) => d.platform), [{ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'amd64' }]);
    assert.deepEqual(notices, [`${src}:arm64 (config): normalized architecture "aarch64" to "arm64"`, `${src}:amd64: normalized architecture "x86_64" to "amd64"`]);
  });

  test('a platform given for a multi-platform index picks its entry; entries without a platform get their config’s', async () => {
    const src = await openLayout(join(dir.path, 'src'), { create: true });
    const bare = { mediaType: arm64.descriptor.mediaType, digest: arm64.descriptor.digest, size: arm64.descriptor.size };
    await src.putManifest(buildIndex([amd64.descriptor, bare]), { tag: 'multi' });
    const all = await assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:multi`], targets: [`oci:${join(dir.path, 'pick')}:all`] });
    assert.deepEqual(all.entries.map((d) => d.platform?.architecture), ['amd64', 'arm64'], 'the bare entry got its platform from its config');
    const one = await assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:multi,platform=linux/amd64`], targets: [`oci:${join(dir.path, 'pick')}:one`] });
    assert.deepEqual(one.entries.map((d) => d.digest), [amd64.manifest.digest]);
    await assert.rejects(assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:multi,platform=linux/s390x`], targets: [`oci:${join(dir.path, 'pick')}:none`] }), {
      code: 'PLATFORM_NOT_IN_INDEX',
      message: /has no image for platform linux\/s390x \(it has linux\/amd64, no platform\)/,
    });
  });

  test('append starts from nothing when the target is new, and brings the old entries to every target', async () => {
    const first = `oci:${join(dir.path, 'multi-a')}:1`;
    await assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:amd64`], targets: [first], append: true });
    const second = `oci:${join(dir.path, 'multi-b')}:1`;
    const made = await assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:arm64`], targets: [first, second], append: true });
    assert.deepEqual(made.entries.map((d) => d.digest), [amd64.manifest.digest, arm64.manifest.digest]);
    const other = await openLayout(join(dir.path, 'multi-b'));
    assert.ok(await other.resolve(amd64.manifest.digest), 'the appended-to image was copied to the second target');
    assert.equal((await inspect({ location: second })).descriptor.digest, made.descriptor.digest);
  });

  test('Docker and OCI images make an OCI index, with a notice; a Docker list refuses OCI content', async () => {
    const src = await openLayout(join(dir.path, 'src'), { create: true });
    const s390x = await randomImage(src, { platform: { os: 'linux', architecture: 's390x' }, tag: 's390x-docker', format: 'docker', seed: 's390x' });
    const notices: string[] = [];
    const sources = [`oci:${join(dir.path, 'src')}:s390x-docker`, `oci:${join(dir.path, 'src')}:amd64`];
    const mixed = await assembleIndex({ sources, targets: [`oci:${join(dir.path, 'mixed')}:1`], onNotice: (m) => notices.push(m) });
    assert.equal(mixed.descriptor.mediaType, MediaType.OciIndex);
    assert.match(notices.join('\n'), /mixes Docker and OCI image manifests \(1 Docker, 1 OCI\)/);
    await assert.rejects(assembleIndex({ sources, targets: [`oci:${join(dir.path, 'mixed')}:2`], format: 'docker' }), { code: 'USAGE', message: /cannot hold the OCI manifest sha256:[0-9a-f]{64}; use --format oci \(format: 'oci'\), or --allow-mixed \(allowMixed\) to write the mixed list anyway$/ });
    const allowed = await assembleIndex({ sources, targets: [`oci:${join(dir.path, 'mixed')}:3`], format: 'docker', allowMixed: true });
    assert.equal(allowed.descriptor.mediaType, MediaType.DockerManifestList);
    const docker = await assembleIndex({ sources: [`oci:${join(dir.path, 'src')}:s390x-docker`], targets: [`oci:${join(dir.path, 'mixed')}:4`] });
    assert.equal(docker.descriptor.mediaType, MediaType.DockerManifestList, 'all Docker: a Docker list');
    assert.deepEqual(docker.entries.map((d) => d.digest), [s390x.manifest.digest]);
  });

  test('missing sources: a failure naming them (exit 1, as anything not found), or skipped with a notice when asked', async () => {
    const missing = `oci:${join(dir.path, 'src')}:no-such-tag`;
    await assert.rejects(assembleIndex({ sources: [missing], targets: [`oci:${join(dir.path, 'miss')}:1`] }), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'MANIFEST_UNKNOWN');
      assert.ok(!isBadInput(error), 'not found is exit 1 wherever it is missing');
      assert.match(error.message, /no-such-tag does not exist/);
      return true;
    });
    const notices: string[] = [];
    const made = await assembleIndex({ sources: [missing, `oci:${join(dir.path, 'src')}:amd64`], targets: [`oci:${join(dir.path, 'miss')}:2`], ignoreMissing: true, onNotice: (m) => notices.push(m) });
    assert.deepEqual(made.entries.map((d) => d.digest), [amd64.manifest.digest]);
    assert.deepEqual(notices, [`skipped ${missing}: it does not exist`]);
    await assert.rejects(assembleIndex({ sources: [missing], targets: [`oci:${join(dir.path, 'miss')}:3`], ignoreMissing: true }), /none of the sources exist/);
  });
});
