// Referrers travel with their images, end to end over real registries: artifacts pushed the way
// oras pushes them (empty config, artifactType, subject) to polyarch serve are copied with
// `referrers` to distribution 2.8 (no API: the sha256-<hex> tag index is kept), from there to
// polyarch serve again (API) and to an OCI layout, with the same digests everywhere.
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { digestOfBytes, type Digest } from '../../src/digest/digest.js';
import type { Descriptor } from '../../src/image/descriptor.js';
import { copy } from '../../src/ops/copy.js';
import { inspect } from '../../src/ops/inspect.js';
import { referrersTag } from '../../src/image/referrer.js';
import { buildIndex } from '../../src/image/index.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { openLayout, readIndexJson } from '../../src/store/oci-layout.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { randomImage, randomIndex, type GeneratedIndex } from '../helpers/images.js';
import { OCI_INDEX, OCI_MANIFEST, pushBlob, pushManifest, type Desc } from '../helpers/registry-push.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const SBOM = 'application/vnd.example.sbom';
const SIGNATURE = 'application/vnd.example.signature';
const BUNDLE = 'application/vnd.example.bundle';

/** An oras-style artifact: the empty config, one layer, `subject` and `artifactType`. */
async function pushArtifact(url: string, repo: string, artifactType: string, content: string, subject: Desc, annotations: Record<string, string> = {}): Promise<Desc> {
  const empty = await pushBlob(url, repo, '{}', MediaType.OciEmpty);
  const layer = await pushBlob(url, repo, content, 'application/vnd.example.data');
  return pushManifest(url, repo, undefined, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: empty,
    layers: [layer],
    subject,
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  });
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> | undefined; bytes: Buffer }> {
  const res = await fetch(url, { headers: { accept: [OCI_INDEX, OCI_MANIFEST].join(', ') } });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body: res.status === 200 ? (JSON.parse(bytes.toString()) as Record<string, unknown>) : undefined, bytes };
}

function digestsOf(list: readonly { digest: string }[]): string[] {
  return list.map((d) => d.digest).sort();
}

describe('copy --referrers across registries and layouts', () => {
  let source: EmbeddedHandle;
  let second: EmbeddedHandle;
  let distribution: DistributionHandle;
  let client: RegistryClient;
  let dir: { path: string; remove: () => Promise<void> };
  let made: GeneratedIndex;
  let indexDesc: Desc;
  let arm64: Desc;
  let sbom: Desc;
  let signature: Desc;
  let signatureOfSignature: Desc;
  let bundle: Desc;
  let bundleChild: Desc;
  /** subject digest → the referrers it must have everywhere. */
  let expected: Map<string, string[]>;
  let everyReferrer: Desc[];

  before(async () => {
    [source, second, distribution, dir] = await Promise.all([startEmbedded(), startEmbedded(), startDistribution(), tempDir()]);
    client = createRegistryClient(source.host);
    made = await randomIndex(client.repository('app'), [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')], { tag: 'v1', seed: 'referrers' });
    indexDesc = { mediaType: made.index.mediaType, digest: made.index.digest, size: made.index.size };
    const image = made.images[1]!;
    arm64 = { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size };
    sbom = await pushArtifact(source.url, 'app', SBOM, '{"spdxVersion":"SPDX-2.3"}', arm64, { 'org.example.kind': 'sbom' });
    signature = await pushArtifact(source.url, 'app', SIGNATURE, 'signature over the index', indexDesc, { 'org.example.signer': 'release' });
    signatureOfSignature = await pushArtifact(source.url, 'app', SIGNATURE, 'countersignature', signature);
    // An index referrer: its child is an artifact of its own (no subject), copied with it.
    const empty = await pushBlob(source.url, 'app', '{}', MediaType.OciEmpty);
    const part = await pushBlob(source.url, 'app', 'bundle part', 'application/vnd.example.data');
    bundleChild = await pushManifest(source.url, 'app', undefined, { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: BUNDLE, config: empty, layers: [part] });
    bundle = await pushManifest(source.url, 'app', undefined, { schemaVersion: 2, mediaType: OCI_INDEX, artifactType: BUNDLE, manifests: [bundleChild], subject: indexDesc });
    everyReferrer = [sbom, signature, signatureOfSignature, bundle];
    expected = new Map([
      [indexDesc.digest, digestsOf([signature, bundle])],
      [arm64.digest, digestsOf([sbom])],
      [signature.digest, digestsOf([signatureOfSignature])],
    ]);
  });
  after(async () => {
    await client?.close();
    await Promise.all([source?.stop(), second?.stop(), distribution?.stop(), dir?.remove()]);
  });

  /** Every referrer (and the bundle's child) is in `repo` with the source's exact bytes. */
  async function assertHoldsAll(url: string, repo: string): Promise<void> {
    for (const d of [...everyReferrer, bundleChild]) {
      const there = await getJson(`${url}/v2/${repo}/manifests/${d.digest}`);
      const here = await getJson(`${source.url}/v2/app/manifests/${d.digest}`);
      assert.equal(there.status, 200, `${d.digest} in ${url}/${repo}`);
      assert.deepEqual(there.bytes, here.bytes);
    }
  }

  test('to distribution 2.8: manifests by digest and the sha256-<hex> tag index for each subject', async () => {
    const result = await copy({ source: `${source.host}/app:v1`, destination: `${distribution.host}/app:v1`, referrers: true });
    assert.equal(result.descriptor.digest, made.index.digest);
    assert.equal(result.referrers, 4);
    assert.equal((await getJson(`${distribution.url}/v2/app/referrers/${made.index.digest}`)).status, 404, 'distribution 2.8 has no referrers API');
    await assertHoldsAll(distribution.url, 'app');
    for (const [subject, referrers] of expected) {
      const tagged = await getJson(`${distribution.url}/v2/app/manifests/${referrersTag(subject as Digest)}`);
      assert.equal(tagged.status, 200, `tag for ${subject}`);
      assert.equal(tagged.body?.mediaType, OCI_INDEX);
      const entries = tagged.body?.manifests as Descriptor[];
      assert.deepEqual(digestsOf(entries), referrers);
    }
    const tagIndex = (await getJson(`${distribution.url}/v2/app/manifests/${referrersTag(indexDesc.digest)}`)).body?.manifests as Descriptor[];
    const signatureEntry = tagIndex.find((d) => d.digest === signature.digest);
    assert.deepEqual(signatureEntry, { mediaType: OCI_MANIFEST, digest: signature.digest, size: signature.size, annotations: { 'org.example.signer': 'release' }, artifactType: SIGNATURE });

    // A second copy finds them all there and adds no duplicate entries.
    await copy({ source: `${source.host}/app:v1`, destination: `${distribution.host}/app:v1`, referrers: true });
    const again = (await getJson(`${distribution.url}/v2/app/manifests/${referrersTag(indexDesc.digest)}`)).body?.manifests as Descriptor[];
    assert.deepEqual(digestsOf(again), expected.get(indexDesc.digest));
  });

  test('from distribution (tag schema) to polyarch serve (API), through the CLI', async () => {
    const copied = await runCli(['copy', '--referrers', `${distribution.host}/app:v1`, `${second.host}/app:v1`]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, /4 referrers/);
    await assertHoldsAll(second.url, 'app');
    for (const [subject, referrers] of expected) {
      const listed = await getJson(`${second.url}/v2/app/referrers/${subject}`);
      assert.equal(listed.status, 200);
      assert.deepEqual(digestsOf(listed.body?.manifests as Descriptor[]), referrers);
    }
    const tags = await getJson(`${second.url}/v2/app/tags/list`);
    assert.deepEqual(tags.body?.tags, ['v1'], 'a registry with the API gets no fallback tags');
  });

  test('from polyarch serve to an OCI layout, found again by digest and subject', async () => {
    const layoutDir = join(dir.path, 'layout');
    const result = await copy({ source: `${second.host}/app:v1`, destination: `oci:${layoutDir}:v1`, referrers: true });
    assert.equal(result.referrers, 4);
    const layout = await openLayout(layoutDir);
    for (const [subject, referrers] of expected) {
      assert.deepEqual(digestsOf(await layout.listReferrers(subject as Digest)), referrers);
    }
    for (const d of [...everyReferrer, bundleChild]) {
      assert.deepEqual((await layout.getManifest(d.digest)).bytes, (await client.repository('app').getManifest(d.digest)).bytes);
    }
    assert.deepEqual(await layout.listTags(), ['v1']);
    // And on to another registry from the layout.
    const back = await copy({ source: `oci:${layoutDir}:v1`, destination: `${second.host}/from-layout:v1`, referrers: true });
    assert.equal(back.referrers, 4);
    await assertHoldsAll(second.url, 'from-layout');
  });

  test('without referrers, none are copied', async () => {
    const layoutDir = join(dir.path, 'plain');
    const result = await copy({ source: `${source.host}/app:v1`, destination: `oci:${layoutDir}:v1` });
    assert.equal(result.referrers, 0);
    const layout = await openLayout(layoutDir);
    assert.deepEqual(await layout.listReferrers(made.index.digest), []);
    await assert.rejects(layout.getManifest(signature.digest), (e: Error & { code?: string }) => e.code === 'MANIFEST_UNKNOWN');
    await copy({ source: `${source.host}/app:v1`, destination: `${second.host}/plain:v1` });
    assert.deepEqual((await getJson(`${second.url}/v2/plain/referrers/${made.index.digest}`)).body?.manifests, []);
  });

  test('a docker archive cannot hold referrers: refused before anything is written', async () => {
    const file = join(dir.path, 'app.tar');
    await assert.rejects(
      copy({ source: `${source.host}/app:v1`, destination: `docker-archive:${file}:app:v1`, referrers: true, platforms: [parsePlatform('linux/arm64')] }),
      (e: Error & { code?: string }) => e.code === 'USAGE' && e.message.includes('cannot hold referrers'),
    );
    await assert.rejects(access(file));
  });

  test('inspect lists referrers (text and JSON) and shows an artifact’s subject', async () => {
    const shown = await inspect({ location: `${source.host}/app:v1` });
    assert.deepEqual(digestsOf(shown.referrers ?? []), expected.get(indexDesc.digest));
    const signed = shown.referrers?.find((d) => d.digest === signature.digest);
    assert.equal(signed?.artifactType, SIGNATURE);
    assert.deepEqual(signed?.annotations, { 'org.example.signer': 'release' });
    // Through the tag schema on distribution, the same list.
    const viaTag = await inspect({ location: `${distribution.host}/app:v1` });
    assert.deepEqual(digestsOf(viaTag.referrers ?? []), expected.get(indexDesc.digest));
    // A digest nothing refers to, on a registry without the API: none, no error.
    const lone = await inspect({ location: `${distribution.host}/app@${made.images[0]!.manifest.digest}` });
    assert.deepEqual(lone.referrers, []);

    const artifact = await inspect({ location: `${source.host}/app@${sbom.digest}` });
    assert.equal(artifact.kind, 'image');
    assert.equal(artifact.subject?.digest, arm64.digest);

    const text = await runCli(['inspect', `${source.host}/app:v1`]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /REFERRER TYPE/);
    assert.match(text.stdout, new RegExp(`${SIGNATURE}\\s+${signature.digest}\\s+${signature.size}\\s+org\\.example\\.signer=release`));
    assert.match(text.stdout, new RegExp(`${BUNDLE}\\s+${bundle.digest}`));
    const json = await runCli(['inspect', '--json', `${source.host}/app:v1`]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(digestsOf((JSON.parse(json.stdout) as { referrers: Descriptor[] }).referrers), expected.get(indexDesc.digest));
    const subjectText = await runCli(['inspect', `${source.host}/app@${signatureOfSignature.digest}`]);
    assert.match(subjectText.stdout, new RegExp(`Subject:\\s+${signature.digest}`));
  });
});

describe('copy --platform with attestations and referrers', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let registry: EmbeddedHandle;

  before(async () => {
    [dir, registry] = await Promise.all([tempDir(), startEmbedded()]);
  });
  after(async () => {
    await Promise.all([dir?.remove(), registry?.stop()]);
  });

  test('keeps the chosen platform’s image, its attestation and its referrers only', async () => {
    const client = createRegistryClient(registry.host);
    try {
      const repo = client.repository('buildkit');
      const amd64 = await randomImage(repo, { platform: parsePlatform('linux/amd64'), seed: 'bk-amd64' });
      const arm64 = await randomImage(repo, { platform: parsePlatform('linux/arm64'), seed: 'bk-arm64' });
      const empty = await pushBlob(registry.url, 'buildkit', '{}', MediaType.OciEmpty);
      // What BuildKit writes with provenance: one unknown/unknown attestation manifest per image.
      const attestationOf = async (image: typeof amd64): Promise<Descriptor> => {
        const statement = await pushBlob(registry.url, 'buildkit', `{"subject":"${image.manifest.digest}"}`, 'application/vnd.in-toto+json');
        const raw = rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: empty, layers: [statement] }, MediaType.OciManifest);
        await repo.putManifest(raw);
        return {
          mediaType: raw.mediaType,
          digest: raw.digest,
          size: raw.size,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': image.manifest.digest },
        };
      };
      const amd64Attestation = await attestationOf(amd64);
      const arm64Attestation = await attestationOf(arm64);
      const index = buildIndex([amd64.descriptor, arm64.descriptor, amd64Attestation, arm64Attestation]);
      await repo.putManifest(index, { tag: 'v1' });
      const amd64Sbom = await pushArtifact(registry.url, 'buildkit', SBOM, 'amd64 sbom', { mediaType: amd64.manifest.mediaType, digest: amd64.manifest.digest, size: amd64.manifest.size });
      const arm64Sbom = await pushArtifact(registry.url, 'buildkit', SBOM, 'arm64 sbom', { mediaType: arm64.manifest.mediaType, digest: arm64.manifest.digest, size: arm64.manifest.size });
      const indexSignature = await pushArtifact(registry.url, 'buildkit', SIGNATURE, 'signs the whole index', { mediaType: index.mediaType, digest: index.digest, size: index.size });

      const target = join(dir.path, 'arm64');
      const result = await copy({ source: `${registry.host}/buildkit:v1`, destination: `oci:${target}:v1`, platforms: [parsePlatform('linux/arm64')], referrers: true });
      assert.equal(result.referrers, 1, 'only the arm64 SBOM: the index signature names the unfiltered index');
      const shown = await inspect({ location: `oci:${target}:v1` });
      assert.equal(shown.kind, 'index');
      if (shown.kind !== 'index') return;
      assert.deepEqual(
        shown.entries.map((e) => e.descriptor.digest),
        [arm64.manifest.digest, arm64Attestation.digest],
      );
      const layout = await openLayout(target);
      assert.deepEqual(digestsOf(await layout.listReferrers(arm64.manifest.digest)), [arm64Sbom.digest]);
      for (const absent of [amd64Sbom, indexSignature, amd64Attestation, amd64.descriptor]) {
        await assert.rejects(layout.getManifest(absent.digest), (e: Error & { code?: string }) => e.code === 'MANIFEST_UNKNOWN', absent.digest);
      }
    } finally {
      await client.close();
    }
  });
});

describe('referrers in an OCI layout kept under the fallback tag (regclient’s way)', () => {
  let dir: { path: string; remove: () => Promise<void> };

  before(async () => {
    dir = await tempDir();
  });
  after(() => dir?.remove());

  test('are listed and copied like those index.json lists by subject', async () => {
    const sourceDir = join(dir.path, 'regclient');
    const layout = await openLayout(sourceDir, { create: true });
    const image = await randomImage(layout, { platform: parsePlatform('linux/amd64'), seed: 'layout-tag', tag: 'v1' });
    const empty = Buffer.from('{}');
    const emptyDesc = { mediaType: MediaType.OciEmpty, digest: digestOfBytes(empty), size: empty.length };
    await layout.putBlob(emptyDesc, Readable.from([empty]));
    const artifact = rawFromJson(
      { schemaVersion: 2, mediaType: MediaType.OciManifest, artifactType: SBOM, config: emptyDesc, layers: [emptyDesc], subject: { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size } },
      MediaType.OciManifest,
    );
    await layout.putManifest(artifact);
    const entry: Descriptor = { mediaType: MediaType.OciManifest, digest: artifact.digest, size: artifact.size, artifactType: SBOM };
    await layout.putManifest(buildIndex([entry]), { tag: referrersTag(image.manifest.digest) });
    // The untagged entry is gone (the tag's index reaches it), as regclient leaves a layout.
    assert.ok(!(await readIndexJson(sourceDir)).manifests.some((d) => d.digest === artifact.digest));

    assert.deepEqual(await layout.listReferrers(image.manifest.digest), [entry]);
    assert.deepEqual(await layout.listReferrers(image.manifest.digest, { artifactType: 'application/other' }), []);
    const target = join(dir.path, 'copied');
    const result = await copy({ source: `oci:${sourceDir}:v1`, destination: `oci:${target}:v1`, referrers: true });
    assert.equal(result.referrers, 1);
    assert.deepEqual((await (await openLayout(target)).listReferrers(image.manifest.digest)).map((d) => d.digest), [artifact.digest]);
  });
});
