// The local half of `manifest annotate|inspect|rm` (no registry): platform rules, notices, and
// what inspect shows, on lists written straight into a store in a temp config dir.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { buildLocalList, canonicalRef, manifestAnnotate, manifestInspect, manifestRemove } from '../../src/ops/manifest-list.js';
import type { Platform } from '../../src/platform/platform.js';
import { readStoredList, removeStoredList, writeStoredEntry, type StoredEntry } from '../../src/store/docker-manifest-store.js';
import { tempDir } from '../helpers/temp-dir.js';

const LIST = 'reg.example:5000/foo:latest';

function entry(name: string, platform: Platform | undefined, mediaType: string = MediaType.DockerManifest): StoredEntry {
  const raw = rawFromJson({ schemaVersion: 2, mediaType, config: { mediaType: MediaType.DockerConfig, digest: `sha256:${'1'.repeat(64)}`, size: 1 }, layers: [], name }, mediaType);
  return { ref: `reg.example:5000/${name}:latest`, raw, descriptor: { mediaType, digest: raw.digest, size: raw.size, ...(platform ? { platform } : {}) } };
}

describe('manifest annotate, inspect and rm on the local store', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let root: string;
  let notices: string[];
  const options = () => ({ registryConfigDir: dir.path, onNotice: (m: string) => notices.push(m) });

  before(async () => {
    dir = await tempDir();
    root = join(dir.path, 'manifests');
  });
  after(() => dir.remove());
  beforeEach(async () => {
    notices = [];
    await removeStoredList(root, LIST);
    await writeStoredEntry(root, LIST, entry('foo-x86_64', { os: 'linux', architecture: 'amd64' }));
    await writeStoredEntry(root, LIST, entry('foo-arm64', { os: 'linux', architecture: 'arm64', variant: 'v8.2' }));
    await writeStoredEntry(root, LIST, entry('foo-bare', undefined));
  });

  test('docker names: fully qualified, :latest added, a digest left alone', () => {
    assert.equal(canonicalRef('foo'), 'docker.io/library/foo:latest');
    assert.equal(canonicalRef('reg.example:5000/team/foo'), 'reg.example:5000/team/foo:latest');
    assert.equal(canonicalRef(`foo@sha256:${'2'.repeat(64)}`), `docker.io/library/foo@sha256:${'2'.repeat(64)}`);
  });

  test('aliases are normalized with one notice each; a variant the user wrote stays', async () => {
    const amd = await manifestAnnotate({ list: LIST, image: 'reg.example:5000/foo-x86_64', ...options(), os: 'linux', arch: 'x86_64' });
    assert.deepEqual(amd.descriptor.platform, { os: 'linux', architecture: 'amd64' });
    const arm = await manifestAnnotate({ list: LIST, image: 'reg.example:5000/foo-bare', ...options(), os: 'linux', arch: 'armhf' });
    assert.deepEqual(arm.descriptor.platform, { os: 'linux', architecture: 'arm', variant: 'v7' });
    // As docker writes it in the seed workflow: arm64 --variant v8 keeps v8 (buildah's rule).
    const v8 = await manifestAnnotate({ list: LIST, image: 'reg.example:5000/foo-arm64', ...options(), os: 'linux', arch: 'aarch64', variant: 'v8' });
    assert.deepEqual(v8.descriptor.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(notices, [
      'reg.example:5000/foo-x86_64:latest: normalized architecture "x86_64" to "amd64"',
      'reg.example:5000/foo-bare:latest: normalized architecture "armhf" to "arm", variant (none) to "v7"',
      'reg.example:5000/foo-arm64:latest: normalized architecture "aarch64" to "arm64"',
    ]);
  });

  test('an unchanged architecture keeps its variant; a new one does not inherit it', async () => {
    const same = await manifestAnnotate({ list: LIST, image: 'reg.example:5000/foo-arm64', ...options(), arch: 'arm64' });
    assert.equal(same.descriptor.platform?.variant, 'v8.2');
    const moved = await manifestAnnotate({ list: LIST, image: 'reg.example:5000/foo-arm64', ...options(), arch: 'riscv64' });
    assert.deepEqual(moved.descriptor.platform, { os: 'linux', architecture: 'riscv64' });
  });

  test('os.version and os.features: features are added once, sorted', async () => {
    await manifestAnnotate({ list: LIST, image: 'reg.example:5000/foo-bare', ...options(), os: 'windows', arch: 'amd64', osVersion: '10.0.20348.1', osFeatures: ['win32k'] });
    const again = await manifestAnnotate({ list: LIST, image: 'reg.example:5000/foo-bare', ...options(), osFeatures: ['win32k', 'a'] });
    assert.deepEqual(again.descriptor.platform, { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.1', 'os.features': ['a', 'win32k'] });
    const stored = (await readStoredList(root, LIST))!.find((e) => e.ref.endsWith('foo-bare:latest'));
    assert.deepEqual(stored?.descriptor.platform, again.descriptor.platform);
  });

  test('annotating what is not there names what is', async () => {
    await assert.rejects(manifestAnnotate({ list: LIST, image: 'reg.example:5000/nope', ...options(), arch: 'amd64' }), { code: 'NOT_FOUND', message: /has no entry reg\.example:5000\/nope:latest \(it has .*foo-x86_64/ });
    await assert.rejects(manifestAnnotate({ list: 'reg.example:5000/other', image: 'reg.example:5000/nope', ...options(), arch: 'amd64' }), { code: 'NOT_FOUND', message: /no local manifest list/ });
  });

  test('inspect: the list as push would send it, one entry, docker’s verbose documents', async () => {
    await assert.rejects(manifestInspect({ image: LIST, ...options() }), { code: 'USAGE', message: /foo-bare:latest has no os\/architecture; set them with "manifest annotate"/ });
    await manifestAnnotate({ list: LIST, image: 'reg.example:5000/foo-bare', ...options(), os: 'linux', arch: 's390x' });
    const shown = await manifestInspect({ image: LIST, ...options() });
    assert.equal(shown.kind, 'manifest');
    const list = JSON.parse(shown.kind === 'manifest' ? shown.raw.bytes.toString() : '') as { mediaType: string; manifests: { platform: Platform }[] };
    assert.equal(list.mediaType, MediaType.DockerManifestList);
    // docker's order: entry file names
    assert.deepEqual(list.manifests.map((m) => m.platform.architecture), ['arm64', 's390x', 'amd64']);
    const one = await manifestInspect({ list: LIST, image: 'reg.example:5000/foo-x86_64', ...options() });
    assert.equal(one.kind === 'manifest' ? JSON.parse(one.raw.bytes.toString()).name : undefined, 'foo-x86_64');
    const verbose = await manifestInspect({ image: LIST, ...options(), verbose: true });
    assert.ok(verbose.kind === 'verbose' && verbose.list);
    assert.deepEqual(Object.keys(verbose.documents[0]!), ['Ref', 'Descriptor', 'Raw', 'SchemaV2Manifest']);
    await assert.rejects(manifestInspect({ list: 'reg.example:5000/other', image: 'reg.example:5000/foo-x86_64', ...options() }), { code: 'NOT_FOUND' });
  });

  test('an OCI entry makes the pushed list an OCI index', () => {
    const raw = buildLocalList(LIST, [entry('a', { os: 'linux', architecture: 'amd64' }), entry('b', { os: 'linux', architecture: 'arm64' }, MediaType.OciManifest)]);
    assert.equal(raw.mediaType, MediaType.OciIndex);
  });

  test('rm removes lists, and names those that were not there', async () => {
    await assert.rejects(manifestRemove({ lists: [LIST, 'reg.example:5000/none'], ...options() }), { code: 'NOT_FOUND', message: /reg\.example:5000\/none:latest/ });
    assert.equal(await readStoredList(root, LIST), undefined);
  });
});
