// `polyarch serve --gc` against a registry holding an index, images sharing a layer, a
// referrer, a deleted tag+manifest, and a tagged manifest whose blob link a client removed.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { digestOfBytes, encodedPart, type Digest } from '../../src/digest/digest.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, pushBlob, pushManifest, type Desc } from '../helpers/registry-push.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';


let dir: { path: string; remove: () => Promise<void> };
before(async () => (dir = await tempDir()));
after(() => dir.remove());

function image(config: Desc, layers: Desc[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers, ...extra };
}

async function getVerified(url: string, path: string, digest: Digest, accept?: string): Promise<number> {
  const res = await fetch(`${url}${path}`, accept ? { headers: { accept } } : {});
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status === 200) assert.equal(digestOfBytes(bytes), digest, `${path} served the wrong bytes`);
  return res.status;
}

test('7.1 GC keeps every blob a tag or a stored manifest reaches (indexes, configs, layers, referrers) and removes the rest', async () => {
  const root = join(dir.path, 'registry');
  let server: EmbeddedHandle = await startEmbedded({ root });
  const repo = 'gc/app';
  const shared = await pushBlob(server.url, repo, 'layer shared by every image');
  const uniqueA = await pushBlob(server.url, repo, 'layer only in A');
  const uniqueB = await pushBlob(server.url, repo, 'layer only in B');
  const configA = await pushBlob(server.url, repo, JSON.stringify({ os: 'linux', architecture: 'amd64' }), OCI_CONFIG);
  const configB = await pushBlob(server.url, repo, JSON.stringify({ os: 'linux', architecture: 'arm64' }), OCI_CONFIG);
  const manifestA = await pushManifest(server.url, repo, undefined, image(configA, [shared, uniqueA]));
  const manifestB = await pushManifest(server.url, repo, undefined, image(configB, [shared, uniqueB]));
  const index = await pushManifest(server.url, repo, 'multi', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...manifestA, platform: { os: 'linux', architecture: 'amd64' } }, { ...manifestB, platform: { os: 'linux', architecture: 'arm64' } }] });
  await pushManifest(server.url, repo, 'b', image(configB, [shared, uniqueB]));
  // a referrer (signature-like artifact), pushed by digest only
  const empty = await pushBlob(server.url, repo, '{}', 'application/vnd.oci.empty.v1+json');
  const signature = await pushBlob(server.url, repo, 'signature payload', 'application/vnd.example.signature');
  const referrer = await pushManifest(server.url, repo, undefined, image(empty, [signature], { artifactType: 'application/vnd.example.signature', subject: manifestA }));
  // an image that is tagged, then untagged and deleted: its unique blobs must go, the shared layer stays
  const configC = await pushBlob(server.url, repo, JSON.stringify({ os: 'linux', architecture: 's390x' }), OCI_CONFIG);
  const uniqueC = await pushBlob(server.url, repo, 'layer only in C');
  const manifestC = await pushManifest(server.url, repo, 'old', image(configC, [shared, uniqueC]));
  assert.equal((await fetch(`${server.url}/v2/${repo}/manifests/old`, { method: 'DELETE' })).status, 202);
  assert.equal((await fetch(`${server.url}/v2/${repo}/manifests/${manifestC.digest}`, { method: 'DELETE' })).status, 202);
  // a second repository sharing a layer, whose tag's manifest blob link a client deleted
  const other = 'gc/other';
  const mounted = await fetch(`${server.url}/v2/${other}/blobs/uploads/?mount=${shared.digest}&from=${repo}`, { method: 'POST' });
  assert.equal(mounted.status, 201);
  const configO = await pushBlob(server.url, other, JSON.stringify({ os: 'linux', architecture: 'riscv64' }), OCI_CONFIG);
  const manifestO = await pushManifest(server.url, other, 'latest', image(configO, [shared]));
  // The server now refuses these deletes (9.f2); data written before that may lack the links.
  await rm(join(root, 'repositories', 'gc', 'other', '_blobs', encodedPart(manifestO.digest)));
  await rm(join(root, 'repositories', 'gc', 'app', '_blobs', encodedPart(index.digest)));
  // a pushed blob no manifest references
  const stray = await pushBlob(server.url, repo, 'uploaded, never referenced');
  await server.stop();

  // No grace period: everything here was pushed a moment ago.
  const gc = await runCli(['serve', '--gc', '--gc-grace', '0s', '--root', root]);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, /removed \d+/);

  const blobFile = (d: Digest): string => join(root, 'blobs', 'sha256', encodedPart(d));

  server = await startEmbedded({ root });
  try {
    const tagged: [string, string, Desc][] = [
      [repo, 'multi', index],
      [repo, 'b', manifestB],
      [other, 'latest', manifestO],
    ];
    for (const [name, tag, desc] of tagged) {
      assert.equal(await getVerified(server.url, `/v2/${name}/manifests/${tag}`, desc.digest, desc.mediaType), 200, `${name}:${tag}`);
    }
    const kept: [string, Desc, Desc[]][] = [
      [repo, manifestA, [configA, shared, uniqueA]],
      [repo, manifestB, [configB, shared, uniqueB]],
      [repo, referrer, [empty, signature]],
      [other, manifestO, [configO, shared]],
    ];
    for (const [name, manifest, blobs] of kept) {
      assert.equal(await getVerified(server.url, `/v2/${name}/manifests/${manifest.digest}`, manifest.digest, manifest.mediaType), 200, `${name}@${manifest.digest}`);
      for (const blob of blobs) assert.equal(await getVerified(server.url, `/v2/${name}/blobs/${blob.digest}`, blob.digest), 200, `${name} blob ${blob.digest}`);
    }
    const referrers = (await (await fetch(`${server.url}/v2/${repo}/referrers/${manifestA.digest}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(referrers.manifests.map((m) => m.digest), [referrer.digest]);
    assert.equal(await getVerified(server.url, `/v2/${repo}/manifests/${manifestC.digest}`, manifestC.digest), 404);
    for (const gone of [manifestC, configC, uniqueC, stray]) assert.equal(existsSync(blobFile(gone.digest)), false, `${gone.digest} should have been collected`);
    // a second run has nothing left to remove
    const again = await runCli(['serve', '--gc', '--gc-grace', '0s', '--root', root]);
    assert.match(again.stdout, /removed 0 /);
  } finally {
    await server.stop();
  }
});
