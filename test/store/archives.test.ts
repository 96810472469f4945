// oci-archive and docker-archive: written and read back byte for byte, read in the shapes other
// tools write (legacy `docker save`, docker ≥25, containerd-store saves, GNU and pax tars), and
// nothing left behind when a write is discarded or fails.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { digestOfBytes } from '../../src/digest/digest.js';
import { buildIndex } from '../../src/image/index.js';
import { parseImageManifest } from '../../src/image/manifest.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { openDockerArchive } from '../../src/store/docker-archive.js';
import { openOciArchive } from '../../src/store/oci-archive.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { indexTar, readEntry } from '../../src/store/tar-index.js';
import { writeTarEntriesAtomic } from '../../src/store/tar-write.js';
import { copyThrough, readBlob, writeTar, type TarFile } from '../fixtures/store-fixtures.js';
import { makeLayer, randomImage, randomIndex, seededBytes, THREE_PLATFORMS, type GeneratedImage } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);

/** Flips one byte of a file in place. */
async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const one = Buffer.alloc(1);
    await handle.read(one, 0, 1, offset);
    one[0] = (one[0] ?? 0) ^ 0xff;
    await handle.write(one, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

async function tarNames(file: string): Promise<string[]> {
  return [...(await indexTar(file)).keys()];
}

/** Every entry of a tar, read whole (tests only), to rebuild it with changes. */
async function tarFiles(file: string): Promise<TarFile[]> {
  const entries = await indexTar(file);
  return Promise.all([...entries].map(async ([name, entry]) => ({ name, bytes: await readEntry(file, entry, 1 << 30) })));
}

function descriptorOfConfig(image: GeneratedImage) {
  return { mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.size };
}

describe('oci-archive', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  test('write then read back: the same bytes for every manifest and blob, staged beside the file and cleaned up', async () => {
    const out = join(dir.path, 'write');
    await mkdir(out);
    const file = join(out, 'image.tar');
    const writer = await openOciArchive(file, { write: true });
    const made = await randomIndex(writer, THREE_PLATFORMS, { tag: '1.0', bytes: 8192, seed: 'oci-archive' });
    assert.equal((await readdir(out)).length, 1, 'a staging directory while writing');
    assert.deepEqual(await writer.listTags(), ['1.0']);
    await writer.close();
    assert.deepEqual(await readdir(out), ['image.tar'], 'the staging directory is gone');
    const names = await tarNames(file);
    assert.deepEqual(names.slice(0, 2), ['oci-layout', 'index.json']);
    assert.equal(names.length, 2 + 1 + 3 * (1 + 1 + 2), 'index, 3 manifests, 3 configs, 6 layers');

    const reader = await openOciArchive(file);
    assert.equal(reader.description, `oci-archive:${file}`);
    assert.deepEqual((await reader.getManifest('1.0')).bytes, made.index.bytes);
    assert.deepEqual(await reader.listTags(), ['1.0']);
    for (const image of made.images) {
      assert.deepEqual((await reader.getManifest(image.manifest.digest)).bytes, image.manifest.bytes);
      assert.deepEqual(await readBlob(reader, descriptorOfConfig(image)), image.config.bytes);
      for (const layer of image.layers) {
        assert.equal(await reader.hasBlob(layer.descriptor), true);
        assert.deepEqual(await readBlob(reader, layer.descriptor), layer.bytes);
      }
    }
    await assert.rejects(reader.getManifest('2.0'), (e: Error & { code?: string }) => e.code === 'MANIFEST_UNKNOWN' && /tags: 1\.0/.test(e.message));
    await assert.rejects(reader.putBlob(made.images[0]!.layers[0]!.descriptor, Readable.from([])), { code: 'USAGE' });
    // And on into a layout, byte for byte.
    const layout = await openLayout(join(dir.path, 'from-archive'), { create: true });
    await copyThrough(reader, '1.0', layout, '1.0');
    assert.deepEqual((await layout.getManifest('1.0')).bytes, made.index.bytes);
  });

  test('blobs are streamed from their place in the tar and verified: a flipped byte is a DIGEST_MISMATCH', async () => {
    const file = join(dir.path, 'flip.tar');
    const writer = await openOciArchive(file, { write: true });
    const image = await randomImage(writer, { platform: { os: 'linux', architecture: 'amd64' }, tag: 'x', bytes: 50_000, seed: 'flip' });
    await writer.close();
    const layer = image.layers[1]!.descriptor;
    const entry = (await indexTar(file)).get(`blobs/sha256/${layer.digest.slice(7)}`)!;
    const reader = await openOciArchive(file);
    await flipByte(file, entry.offset + Math.floor(entry.size / 2));
    await assert.rejects(readBlob(reader, layer), { code: 'DIGEST_MISMATCH' });
    assert.deepEqual(await readBlob(reader, image.layers[0]!.descriptor), image.layers[0]!.bytes, 'other blobs still read');
  });

  test('discard writes nothing and keeps an existing file; a failed blob leaves no trace', async () => {
    const out = join(dir.path, 'discard');
    await mkdir(out);
    const file = join(out, 'image.tar');
    const writer = await openOciArchive(file, { write: true });
    await randomImage(writer, { platform: { os: 'linux', architecture: 'amd64' }, tag: 'x', seed: 'discard' });
    const good = seededBytes('d', 1000);
    await assert.rejects(writer.putBlob({ mediaType: MediaType.OciLayer, digest: digestOfBytes(good), size: 1000 }, Readable.from([seededBytes('e', 1000)])), { code: 'DIGEST_MISMATCH' });
    await writer.close({ discard: true });
    assert.deepEqual(await readdir(out), []);

    await writeFile(file, 'previous');
    const again = await openOciArchive(file, { write: true });
    await randomImage(again, { platform: { os: 'linux', architecture: 'amd64' }, tag: 'x', seed: 'discard' });
    await again.close({ discard: true });
    await again.close(); // a second close does nothing
    assert.deepEqual(await readdir(out), ['image.tar']);
    assert.equal((await readFile(file)).toString(), 'previous');
  });

  test('a crashed writer’s staging directory is cleared by the next writer', async () => {
    const out = join(dir.path, 'crashed');
    await mkdir(join(out, '.oci-archive-999999-abcdef.polyarch-tmp', 'blobs'), { recursive: true });
    await writeFile(join(out, 'unrelated.txt'), 'mine');
    const writer = await openOciArchive(join(out, 'image.tar'), { write: true });
    await writer.close({ discard: true });
    assert.deepEqual(await readdir(out), ['unrelated.txt']);
  });

  test('a temp archive a killed writer left (bundle, type=tar) is removed by the next archive written there; a live writer\'s is kept', async () => {
    const out = join(dir.path, 'killed-tar');
    await mkdir(out);
    // No process has pid 999999 here (as in the crashed staging test above).
    const dead = '.tmp-999999-abcdef.polyarch-tmp';
    const live = `.tmp-${process.pid}-abcdef.polyarch-tmp`;
    for (const name of [dead, live, 'mine.polyarch-tmp']) await writeFile(join(out, name), 'half an archive');
    await writeTarEntriesAtomic(join(out, 'bundle.tar'), [{ name: 'hello.txt', size: 2, open: () => Readable.from([Buffer.from('hi')]) }]);
    assert.deepEqual((await readdir(out)).sort(), [live, 'bundle.tar', 'mine.polyarch-tmp'].sort());
  });

  test('files that are not OCI archives are refused with one clear error', async () => {
    const missing = join(dir.path, 'missing.tar');
    await assert.rejects(openOciArchive(missing), (e: Error & { code?: string }) => e.code === 'NOT_FOUND' && e.message.includes(missing));
    const text = join(dir.path, 'text.tar');
    await writeFile(text, 'x'.repeat(2048));
    await assert.rejects(openOciArchive(text), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && /not a tar archive/.test(e.message));
    const good = join(dir.path, 'good.tar');
    const writer = await openOciArchive(good, { write: true });
    await randomImage(writer, { platform: { os: 'linux', architecture: 'amd64' }, tag: 'x', seed: 'refuse' });
    await writer.close();
    const gz = join(dir.path, 'good.tar.gz');
    await writeFile(gz, gzipSync(await readFile(good)));
    await assert.rejects(openOciArchive(gz), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && /gunzip/.test(e.message));
    const cut = join(dir.path, 'cut.tar');
    await writeFile(cut, (await readFile(good)).subarray(0, 3000));
    await assert.rejects(openOciArchive(cut), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && /truncated/.test(e.message));
    const noIndex = join(dir.path, 'no-index.tar');
    await writeTar(noIndex, [{ name: 'hello.txt', bytes: Buffer.from('hi') }]);
    await assert.rejects(openOciArchive(noIndex), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && /no index\.json/.test(e.message));
  });

  test('tars from GNU tar (long names) and in pax format are indexed the same way', async () => {
    const src = join(dir.path, 'gnu-src');
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(80)}.bin`;
    await mkdir(join(src, long, '..'), { recursive: true });
    const content = seededBytes('gnu', 10_000);
    await writeFile(join(src, long), content);
    await writeFile(join(src, 'short.txt'), 'short');
    for (const format of ['gnu', 'posix', 'ustar']) {
      const file = join(dir.path, `${format}.tar`);
      const args = format === 'ustar' ? ['-cf', file, '-C', src, 'short.txt'] : [`--format=${format}`, '-cf', file, '-C', src, './short.txt', long];
      await exec('tar', format === 'ustar' ? ['--format=ustar', ...args] : args);
      const entries = await indexTar(file);
      assert.deepEqual(await readEntry(file, entries.get('short.txt')!, 1 << 20), Buffer.from('short'), `${format}: ./ is dropped`);
      if (format !== 'ustar') assert.deepEqual(await readEntry(file, entries.get(long)!, 1 << 20), content, `${format}: the long name and its bytes`);
    }
  });
});

describe('docker-archive', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  for (const format of ['oci', 'docker'] as const) {
    test(`write then read back a ${format} image: both forms in the tar, the manifest digest kept`, async () => {
      const out = join(dir.path, `write-${format}`);
      await mkdir(out);
      const file = join(out, 'image.tar');
      const writer = await openDockerArchive(file, { write: true, reference: 'docker.io/team/app:1' });
      const image = await randomImage(writer, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, seed: `docker-${format}`, format, tag: 'team/app:1' });
      assert.deepEqual(await writer.listTags(), ['team/app:1']);
      await writer.close();
      assert.deepEqual(await readdir(out), ['image.tar']);

      const names = await tarNames(file);
      assert.deepEqual(names.slice(0, 4), ['manifest.json', 'repositories', 'oci-layout', 'index.json']);
      const files = new Map((await tarFiles(file)).map((f) => [f.name, f.bytes]));
      const hex = (d: string): string => d.slice(7);
      assert.deepEqual(JSON.parse(files.get('manifest.json')!.toString()), [
        { Config: `blobs/sha256/${hex(image.config.digest)}`, RepoTags: ['team/app:1'], Layers: image.layers.map((l) => `blobs/sha256/${hex(l.descriptor.digest)}`) },
      ]);
      assert.deepEqual(JSON.parse(files.get('repositories')!.toString()), { 'team/app': { 1: hex(image.layers.at(-1)!.descriptor.digest) } });
      assert.deepEqual(JSON.parse(files.get('index.json')!.toString()).manifests, [
        {
          mediaType: image.manifest.mediaType,
          digest: image.manifest.digest,
          size: image.manifest.size,
          annotations: { 'io.containerd.image.name': 'docker.io/team/app:1', 'org.opencontainers.image.ref.name': '1' },
        },
      ]);
      assert.deepEqual(files.get(`blobs/sha256/${hex(image.manifest.digest)}`), image.manifest.bytes, 'the original manifest bytes');

      const reader = await openDockerArchive(file);
      for (const name of ['team/app:1', 'docker.io/team/app:1', 'latest', image.manifest.digest]) {
        assert.deepEqual((await reader.getManifest(name)).bytes, image.manifest.bytes, `by ${name}`);
      }
      assert.deepEqual(await reader.listTags(), ['team/app:1']);
      assert.deepEqual(await readBlob(reader, descriptorOfConfig(image)), image.config.bytes);
      for (const layer of image.layers) assert.deepEqual(await readBlob(reader, layer.descriptor), layer.bytes, 'layers kept compressed, as pushed');
      await assert.rejects(reader.getManifest('team/app:2'), (e: Error & { code?: string }) => e.code === 'MANIFEST_UNKNOWN' && /holds team\/app:1/.test(e.message));
    });
  }

  test('several images, each under its own name; a name moves when it is reused', async () => {
    const file = join(dir.path, 'several.tar');
    const writer = await openDockerArchive(file, { write: true });
    const amd = await randomImage(writer, { platform: { os: 'linux', architecture: 'amd64' }, seed: 'several-amd', tag: 'team/app:amd64' });
    const arm = await randomImage(writer, { platform: { os: 'linux', architecture: 'arm64' }, seed: 'several-arm', tag: 'registry.example:5000/team/app:arm64' });
    await writer.putManifest(arm.manifest, { tag: 'team/app:latest' });
    await writer.putManifest(amd.manifest, { tag: 'team/app' }); // `latest` moves to amd64
    await writer.close();
    const reader = await openDockerArchive(file);
    assert.deepEqual(await reader.listTags(), ['registry.example:5000/team/app:arm64', 'team/app:amd64', 'team/app:latest']);
    assert.equal((await reader.resolve('team/app:latest'))?.digest, amd.manifest.digest);
    assert.equal((await reader.resolve('registry.example:5000/team/app:arm64'))?.digest, arm.manifest.digest);
    await assert.rejects(reader.getManifest('latest'), { code: 'MANIFEST_UNKNOWN' }, 'two images: `latest` names neither');
    await assert.rejects(reader.getManifest('nothing/here:1'), { code: 'MANIFEST_UNKNOWN' });
  });

  test('an index cannot go into a docker archive; nothing written and discard leave no file', async () => {
    const out = join(dir.path, 'refuse');
    await mkdir(out);
    const file = join(out, 'image.tar');
    const writer = await openDockerArchive(file, { write: true, reference: 'team/app:1' });
    const made = await randomImage(writer, { platform: { os: 'linux', architecture: 'amd64' }, seed: 'refuse' });
    await assert.rejects(writer.putManifest(buildIndex([made.descriptor]), { tag: 'team/app:1' }), (e: Error & { code?: string }) => {
      assert.equal(e.message, `docker-archive:${file}: docker-archive holds one platform per image; choose one with --platform (platforms)`);
      return e.code === 'USAGE';
    });
    await writer.close({ discard: true });
    assert.deepEqual(await readdir(out), []);
    const empty = await openDockerArchive(file, { write: true });
    await assert.rejects(empty.close(), { code: 'USAGE' });
    assert.deepEqual(await readdir(out), []);
  });

  test('legacy `docker save` form: <id>/layer.tar files become a schema-2 manifest, digests computed from the files', async () => {
    const layerA = await makeLayer('legacy-a', 20_000);
    const layerB = await makeLayer('legacy-b', 30_000);
    const tarA = gunzipSync(layerA.bytes);
    const tarB = gunzipSync(layerB.bytes);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerA.diffId, layerB.diffId] } }));
    const configHex = digestOfBytes(config).slice(7);
    // A second image as go-containerregistry's tarball writes it: `sha256:<hex>` config, gzip layers by digest.
    const config2 = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerA.diffId] } }));
    const id1 = 'a'.repeat(64);
    const id2 = 'b'.repeat(64);
    const file = join(dir.path, 'legacy.tar');
    await writeTar(file, [
      { name: `${id1}/VERSION`, bytes: Buffer.from('1.0') },
      { name: `${id1}/json`, bytes: Buffer.from('{}') },
      { name: `${id1}/layer.tar`, bytes: tarA },
      { name: `${id2}/VERSION`, bytes: Buffer.from('1.0') },
      { name: `${id2}/json`, bytes: Buffer.from('{}') },
      { name: `${id2}/layer.tar`, bytes: tarB },
      { name: `${configHex}.json`, bytes: config },
      { name: `${digestOfBytes(config2)}`, bytes: config2 },
      { name: `${layerA.descriptor.digest.slice(7)}.tar.gz`, bytes: layerA.bytes },
      {
        name: 'manifest.json',
        bytes: Buffer.from(
          JSON.stringify([
            { Config: `${configHex}.json`, RepoTags: ['team/legacy:1'], Layers: [`${id1}/layer.tar`, `./${id2}/layer.tar`] },
            { Config: digestOfBytes(config2), RepoTags: null, Layers: [`${layerA.descriptor.digest.slice(7)}.tar.gz`] },
          ]),
        ),
      },
      { name: 'repositories', bytes: Buffer.from(JSON.stringify({ 'team/legacy': { 1: id2 } })) },
    ]);
    const reader = await openDockerArchive(file);
    const first = await reader.getManifest('docker.io/team/legacy:1');
    assert.equal(first.mediaType, MediaType.DockerManifest);
    const parsed = parseImageManifest(first);
    assert.deepEqual(parsed.config, { mediaType: MediaType.DockerConfig, digest: digestOfBytes(config), size: config.length });
    assert.deepEqual(parsed.layers, [
      { mediaType: MediaType.DockerLayer, digest: layerA.diffId, size: tarA.length },
      { mediaType: MediaType.DockerLayer, digest: layerB.diffId, size: tarB.length },
    ]);
    assert.deepEqual(await readBlob(reader, parsed.layers[1]!), tarB);
    assert.deepEqual(await readBlob(reader, parsed.config), config);
    assert.deepEqual(await reader.listTags(), ['team/legacy:1']);
    await assert.rejects(reader.getManifest('latest'), (e: Error & { code?: string }) => e.code === 'MANIFEST_UNKNOWN' && /team\/legacy:1/.test(e.message), 'two images: latest names neither');

    // The untagged ggcr-style image is reached by digest; its gzip layer keeps its compressed digest.
    const secondDigest = rawFromJson(
      {
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: { mediaType: MediaType.DockerConfig, digest: digestOfBytes(config2), size: config2.length },
        layers: [{ mediaType: MediaType.DockerLayerGzip, digest: layerA.descriptor.digest, size: layerA.bytes.length }],
      },
      MediaType.DockerManifest,
    ).digest;
    const second = parseImageManifest(await reader.getManifest(secondDigest));
    assert.deepEqual(await readBlob(reader, second.layers[0]!), layerA.bytes);

    // The synthesized image copies into a layout and reads back whole.
    const layout = await openLayout(join(dir.path, 'legacy-layout'), { create: true });
    await copyThrough(reader, 'team/legacy:1', layout, 'legacy');
    assert.deepEqual((await layout.getManifest('legacy')).bytes, first.bytes);

    // Bytes changed after the archive was opened are caught as the layer streams.
    const entry = (await indexTar(file)).get(`${id1}/layer.tar`)!;
    await flipByte(file, entry.offset + 700);
    await assert.rejects(readBlob(reader, parsed.layers[0]!), { code: 'DIGEST_MISMATCH' });
  });

  test('docker ≥25 form whose index.json points at manifests absent from the tar: falls back to manifest.json', async () => {
    const file = join(dir.path, 'v25.tar');
    const writer = await openDockerArchive(file, { write: true, reference: 'team/app:1' });
    const image = await randomImage(writer, { platform: { os: 'linux', architecture: 'amd64' }, seed: 'fallback', tag: 'team/app:1' });
    await writer.close();
    const stripped = join(dir.path, 'v25-stripped.tar');
    await writeTar(stripped, (await tarFiles(file)).filter((f) => f.name !== `blobs/sha256/${image.manifest.digest.slice(7)}`));
    const reader = await openDockerArchive(stripped);
    const manifest = await reader.getManifest('team/app:1');
    assert.notEqual(manifest.digest, image.manifest.digest);
    const parsed = parseImageManifest(manifest);
    assert.equal(parsed.config.digest, image.config.digest);
    assert.deepEqual(
      parsed.layers.map((l) => [l.mediaType, l.digest]),
      image.layers.map((l) => [MediaType.DockerLayerGzip, l.descriptor.digest]),
      'gzip layers are recognised by their magic bytes',
    );
    for (const [i, layer] of parsed.layers.entries()) assert.deepEqual(await readBlob(reader, layer), image.layers[i]!.bytes);
  });

  test('a containerd-store save (index.json → index → one present platform) keeps the platform manifest', async () => {
    const staging = await openLayout(join(dir.path, 'containerd-src'), { create: true });
    const made = await randomIndex(staging, THREE_PLATFORMS.slice(0, 2), { tag: 'x', seed: 'containerd' });
    const present = made.images[1]!;
    const hex = (d: string): string => d.slice(7);
    const blob = async (d: string): Promise<TarFile> => ({ name: `blobs/sha256/${hex(d)}`, bytes: await readFile(join(staging.dir, 'blobs', 'sha256', hex(d))) });
    const file = join(dir.path, 'containerd.tar');
    await writeTar(file, [
      { name: 'oci-layout', bytes: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      {
        name: 'index.json',
        bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: made.index.mediaType, digest: made.index.digest, size: made.index.size, annotations: { 'io.containerd.image.name': 'docker.io/team/multi:1' } }] })),
      },
      {
        name: 'manifest.json',
        bytes: Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${hex(present.config.digest)}`, RepoTags: ['team/multi:1'], Layers: present.layers.map((l) => `blobs/sha256/${hex(l.descriptor.digest)}`) }])),
      },
      await blob(made.index.digest),
      await blob(present.manifest.digest),
      await blob(present.config.digest),
      ...(await Promise.all(present.layers.map((l) => blob(l.descriptor.digest)))),
    ]);
    const reader = await openDockerArchive(file);
    assert.deepEqual((await reader.getManifest('team/multi:1')).bytes, present.manifest.bytes);
    assert.equal((await stat(file)).isFile(), true);
  });

  test('a manifest.json that names a missing file, or is not a list, is one clear error', async () => {
    const missing = join(dir.path, 'missing-layer.tar');
    await writeTar(missing, [{ name: 'manifest.json', bytes: Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: [], Layers: [] }])) }]);
    await assert.rejects(openDockerArchive(missing), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && /c\.json/.test(e.message));
    const notList = join(dir.path, 'not-list.tar');
    await writeTar(notList, [{ name: 'manifest.json', bytes: Buffer.from('{}') }]);
    await assert.rejects(openDockerArchive(notList), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && /manifest\.json is invalid/.test(e.message));
    const none = join(dir.path, 'none.tar');
    await writeTar(none, [{ name: 'x', bytes: Buffer.from('x') }]);
    await assert.rejects(openDockerArchive(none), (e: Error & { code?: string }) => e.code === 'LAYOUT_INVALID' && /not a docker save archive/.test(e.message));
  });
});
