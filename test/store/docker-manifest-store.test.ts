// docker's local manifest-list store, byte for byte: file names, the entry JSON, and the older
// forms docker wrote (top-level Digest/Platform, no Raw) that must still be readable.
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { digestOfBytes } from '../../src/digest/digest.js';
import { rawFromBytes } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import {
  filesafeName,
  formatStoredEntry,
  goIndent,
  parseStoredEntry,
  readStoredList,
  removeStoredList,
  topLevelValueText,
  writeStoredEntry,
  type StoredEntry,
} from '../../src/store/docker-manifest-store.js';
import { tempDir } from '../helpers/temp-dir.js';

// A Docker manifest as registries serve what docker pushed: three-space indent.
const MANIFEST = {
  schemaVersion: 2,
  mediaType: MediaType.DockerManifest,
  config: { mediaType: MediaType.DockerConfig, size: 1469, digest: `sha256:${'a'.repeat(64)}` },
  layers: [{ mediaType: MediaType.DockerLayerGzip, size: 2789669, digest: `sha256:${'b'.repeat(64)}` }],
};
const INDENTED = Buffer.from(JSON.stringify(MANIFEST, null, 3));
const COMPACT = Buffer.from(JSON.stringify(MANIFEST));

function entry(ref: string, bytes: Buffer = INDENTED): StoredEntry {
  const raw = rawFromBytes(bytes, { mediaType: MediaType.DockerManifest });
  return { ref, raw, descriptor: { mediaType: raw.mediaType, digest: raw.digest, size: raw.size, platform: { architecture: 'arm', os: 'linux', variant: 'v7' } } };
}

describe("docker's manifest-list store", () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    dir = await tempDir();
  });
  after(() => dir.remove());

  test("file names follow docker's makeFilesafeName, both namings", () => {
    assert.equal(filesafeName('docker.io/library/foo:latest'), 'docker.io_library_foo-latest');
    assert.equal(filesafeName('127.0.0.1:5000/team/foo-x86_64:1.0'), '127.0.0.1-5000_team_foo-x86_64-1.0');
    assert.equal(filesafeName('127.0.0.1:5000/team/foo:1.0', 'reversible'), '127.0.0.1%5000#team#foo%1.0');
  });

  test('an entry is written where and as docker writes it, and read back with its exact bytes', async () => {
    const root = join(dir.path, 'write');
    const e = entry('127.0.0.1:5000/foo-armv7:latest');
    await writeStoredEntry(root, '127.0.0.1:5000/foo:latest', e);
    assert.deepEqual(await readdir(root), ['127.0.0.1-5000_foo-latest']);
    assert.deepEqual(await readdir(join(root, '127.0.0.1-5000_foo-latest')), ['127.0.0.1-5000_foo-armv7-latest']);
    const file = JSON.parse(await readFile(join(root, '127.0.0.1-5000_foo-latest', '127.0.0.1-5000_foo-armv7-latest'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(file), ['Ref', 'Descriptor', 'Raw', 'SchemaV2Manifest']);
    assert.equal(file.Ref, '127.0.0.1:5000/foo-armv7:latest');
    assert.deepEqual(file.Descriptor, { mediaType: MediaType.DockerManifest, digest: e.raw.digest, size: INDENTED.length, platform: { architecture: 'arm', os: 'linux', variant: 'v7' } });
    assert.ok(Buffer.from(file.Raw as string, 'base64').equals(INDENTED));
    assert.deepEqual(file.SchemaV2Manifest, MANIFEST);
    const [back] = (await readStoredList(root, '127.0.0.1:5000/foo:latest'))!;
    assert.ok(back!.raw.bytes.equals(INDENTED));
    assert.deepEqual(back!.descriptor, e.descriptor);
    assert.equal(await readStoredList(root, '127.0.0.1:5000/other:latest'), undefined);
    assert.equal(await removeStoredList(root, '127.0.0.1:5000/foo:latest'), true);
    assert.equal(await removeStoredList(root, '127.0.0.1:5000/foo:latest'), false);
  });

  test('a list in the reversible naming is found, and new entries join it there', async () => {
    const root = join(dir.path, 'reversible');
    const listDir = join(root, '127.0.0.1%5000#foo%latest');
    await mkdir(listDir, { recursive: true });
    await writeFile(join(listDir, '127.0.0.1%5000#foo-armv7%latest'), formatStoredEntry(entry('127.0.0.1:5000/foo-armv7:latest')));
    await writeStoredEntry(root, '127.0.0.1:5000/foo:latest', entry('127.0.0.1:5000/foo-arm:latest'));
    assert.deepEqual((await readdir(listDir)).sort(), ['127.0.0.1%5000#foo-arm%latest', '127.0.0.1%5000#foo-armv7%latest']);
    assert.deepEqual(await readdir(root), ['127.0.0.1%5000#foo%latest'], 'no second directory in the classic naming');
    assert.deepEqual((await readStoredList(root, '127.0.0.1:5000/foo:latest'))!.map((e) => e.ref), ['127.0.0.1:5000/foo-arm:latest', '127.0.0.1:5000/foo-armv7:latest']);
  });

  test('the file docker writes (compact manifest, Raw) parses', () => {
    // What json.Marshal of docker's ImageManifest produces: Raw plus the manifest compacted.
    const text = JSON.stringify({
      Ref: 'example.com/alpine:3.0',
      Descriptor: { mediaType: MediaType.DockerManifest, digest: digestOfBytes(INDENTED), size: INDENTED.length, platform: { architecture: 'amd64', os: 'linux' } },
      Raw: INDENTED.toString('base64'),
      SchemaV2Manifest: MANIFEST,
    });
    const parsed = parseStoredEntry(text, 'file');
    assert.equal(parsed.ref, 'example.com/alpine:3.0');
    assert.ok(parsed.raw.bytes.equals(INDENTED));
    assert.deepEqual(parsed.descriptor.platform, { architecture: 'amd64', os: 'linux' });
  });

  test('older files: top-level Digest and Platform, no Raw; the manifest is the embedded text or its docker indentation', () => {
    const old = (digest: string): string =>
      `{"Ref":"example.com/alpine:3.0","Digest":"${digest}","SchemaV2Manifest":${COMPACT.toString()},"Platform":{"architecture":"arm64","os":"linux","os.version":"","variant":"v8"}}`;
    const exact = parseStoredEntry(old(digestOfBytes(COMPACT)), 'file');
    assert.ok(exact.raw.bytes.equals(COMPACT));
    assert.deepEqual(exact.descriptor.platform, { architecture: 'arm64', os: 'linux', 'os.version': '', variant: 'v8' });
    // docker re-indents with three spaces before pushing: the registry has those bytes.
    const reindented = parseStoredEntry(old(digestOfBytes(INDENTED)), 'file');
    assert.ok(reindented.raw.bytes.equals(INDENTED));
    assert.throws(() => parseStoredEntry(old(`sha256:${'c'.repeat(64)}`), 'file'), { code: 'LAYOUT_INVALID', message: /does not match its digest/ });
    assert.throws(() => parseStoredEntry('{"Ref":"a/b:1"}', 'file'), { code: 'LAYOUT_INVALID' });
    assert.throws(() => parseStoredEntry('not json', 'file'), { code: 'LAYOUT_INVALID' });
  });

  test('the exact text of a top-level value, and Go-style indentation', () => {
    const text = '{"a":"x\\"}{","B" : {"c":[1,{"d":"]"}]} ,"e":true}';
    assert.equal(topLevelValueText(text, 'B'), '{"c":[1,{"d":"]"}]}');
    assert.equal(topLevelValueText(text, 'e'), 'true');
    assert.equal(topLevelValueText(text, 'a'), '"x\\"}{"');
    assert.equal(topLevelValueText(text, 'missing'), undefined);
    for (const value of [MANIFEST, { a: [], b: {}, c: [1, 'x,y:z'], d: { e: null } }]) {
      assert.equal(goIndent(JSON.stringify(value), '   '), JSON.stringify(value, null, 3));
    }
  });
});
