// The client suite every registry set-up runs (plain HTTP, TLS, Basic, token): push and read
// back byte-identically, HEAD, tags, catalog, delete, chunked upload, mount, referrers fallback.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { digestOfBytes, type Digest } from '../../src/digest/digest.js';
import type { Descriptor } from '../../src/image/descriptor.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { createRegistryClient, type RegistryClient, type RegistryClientOptions, type RegistryRepository } from '../../src/registry/client.js';
import { referrersTag } from '../../src/registry/referrers.js';
import { randomImage, randomIndex, seededBytes, THREE_PLATFORMS, type GeneratedIndex } from '../helpers/images.js';

export interface SuiteTarget {
  readonly host: string;
  readonly options: RegistryClientOptions;
  readonly scheme: 'http' | 'https';
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function blobOf(bytes: Buffer, mediaType: string = MediaType.OciLayerGzip): Descriptor {
  return { mediaType, digest: digestOfBytes(bytes), size: bytes.length };
}

/** Asserts a rejection with `code`, returning the error for more checks. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isPolyarchError(error), `expected a PolyarchError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.ok(!error.message.includes('\n'), `one-line message: ${error.message}`);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** Registers the shared suite; `target()` is called in `before`, after the registry started. */
export function registrySuite(title: string, target: () => SuiteTarget): void {
  describe(title, () => {
    let client: RegistryClient;
    let repo: RegistryRepository;
    let made: GeneratedIndex;
    let options: RegistryClientOptions;
    let host: string;

    before(async () => {
      ({ host, options } = target());
      client = createRegistryClient(host, options);
      repo = client.repository('suite/app');
      made = await randomIndex(repo, THREE_PLATFORMS, { tag: '1.0', layers: 2, bytes: 4096, seed: title });
    });
    after(async () => {
      await client?.close();
    });

    test('ping finds the scheme', async () => {
      assert.equal((await client.ping()).scheme, target().scheme);
    });

    test('an index and its images read back byte-identically', async () => {
      const top = await repo.getManifest('1.0');
      assert.ok(top.bytes.equals(made.index.bytes));
      assert.equal(top.digest, made.index.digest);
      assert.equal(top.mediaType, MediaType.OciIndex);
      for (const image of made.images) {
        const child = await repo.getManifest(image.manifest.digest);
        assert.ok(child.bytes.equals(image.manifest.bytes));
        assert.equal(child.mediaType, MediaType.OciManifest);
        const config = await readAll(await repo.openBlob({ mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.size }));
        assert.ok(config.equals(image.config.bytes));
        for (const layer of image.layers) assert.ok((await readAll(await repo.openBlob(layer.descriptor))).equals(layer.bytes));
      }
    });

    test('a Docker schema 2 image keeps its media type', async () => {
      const image = await randomImage(repo, { platform: { os: 'linux', architecture: 's390x' }, format: 'docker', tag: 'docker', bytes: 512 });
      const got = await repo.getManifest('docker');
      assert.equal(got.mediaType, MediaType.DockerManifest);
      assert.ok(got.bytes.equals(image.manifest.bytes));
    });

    test('HEAD resolves tags and digests; unknown ones are undefined or MANIFEST_UNKNOWN', async () => {
      assert.deepEqual(await repo.resolve('1.0'), { mediaType: MediaType.OciIndex, digest: made.index.digest, size: made.index.size });
      assert.deepEqual(await repo.headManifest(made.index.digest), { mediaType: MediaType.OciIndex, digest: made.index.digest, size: made.index.size });
      assert.equal(await repo.resolve('nope'), undefined);
      const error = await rejectsWithCode(repo.getManifest('nope'), 'MANIFEST_UNKNOWN');
      assert.match(error.message, new RegExp(`${host.replace(/\./g, '\\.')}/suite/app:nope`));
      const layer = made.images[0]!.layers[0]!.descriptor;
      assert.equal(await repo.hasBlob(layer), true);
      assert.equal(await repo.hasBlob(blobOf(Buffer.from('never pushed'))), false);
      await rejectsWithCode(repo.openBlob(blobOf(Buffer.from('never pushed'))), 'BLOB_UNKNOWN');
    });

    test('tags are listed across pages of n', async () => {
      const tagged = client.repository('suite/tags');
      const image = await randomImage(tagged, { platform: { os: 'linux', architecture: 'amd64' }, bytes: 256, seed: 'tags' });
      const names = ['t5', 't1', 't3', 't2', 't4'];
      for (const tag of names) await tagged.putManifest(image.manifest, { tag });
      assert.deepEqual(await tagged.listTags({ pageSize: 2 }), [...names].sort());
      assert.deepEqual(await tagged.listTags(), [...names].sort());
    });

    test('catalog lists repositories', async () => {
      const all = await client.catalog({ pageSize: 1 });
      assert.ok(all.includes('suite/app'), all.join(','));
    });

    test('delete removes a manifest and a blob', async () => {
      const doomed = client.repository('suite/doomed');
      const image = await randomImage(doomed, { platform: { os: 'linux', architecture: 'riscv64' }, bytes: 256, seed: 'doomed', tag: 'x' });
      await doomed.deleteManifest(image.manifest.digest);
      assert.equal(await doomed.resolve(image.manifest.digest), undefined);
      const layer = image.layers[0]!.descriptor;
      await doomed.deleteBlob(layer.digest);
      assert.equal(await doomed.hasBlob(layer), false);
    });

    test('a blob read piece by piece goes up piece by piece, in one request or in chunks, and reads back', async () => {
      const chunked = createRegistryClient(host, { ...options, chunkSize: 64 * 1024 });
      try {
        // Over 256 KiB: a plain-HTTP source drains its socket into reused buffers.
        const bytes = seededBytes(`${title}-pieces`, 600 * 1024 + 3);
        const descriptor = blobOf(bytes);
        const from = client.repository('suite/pieces-from');
        await from.putBlob(descriptor, Readable.from([bytes]));
        for (const [what, to] of [['one request', client.repository('suite/pieces-one')], ['chunks', chunked.repository('suite/pieces-chunked')]] as const) {
          await to.putBlobFrom(descriptor, (take) => from.readBlobInto(descriptor, take));
          assert.ok((await readAll(await to.openBlob(descriptor))).equals(bytes), what);
        }
        // A taker that breaks with what looks like a cut is not resumed past the piece it lost.
        let calls = 0;
        const broken = Object.assign(new Error('the file went away'), { code: 'ECONNRESET' });
        const failure = await from
          .readBlobInto(descriptor, async () => {
            if (++calls === 2) throw broken;
          })
          .catch((error: unknown) => error);
        assert.equal(failure, broken);
      } finally {
        await chunked.close();
      }
    });

    test('a blob larger than chunkSize goes up in chunks and reads back', async () => {
      const chunked = createRegistryClient(host, { ...options, chunkSize: 64 * 1024 });
      try {
        const bytes = seededBytes(`${title}-chunked`, 300 * 1024 + 7);
        const descriptor = blobOf(bytes);
        const target = chunked.repository('suite/chunked');
        // Many small pieces, as a file stream gives them.
        const pieces = Array.from({ length: Math.ceil(bytes.length / 10_000) }, (_, i) => bytes.subarray(i * 10_000, (i + 1) * 10_000));
        await target.putBlob(descriptor, Readable.from(pieces));
        assert.ok((await readAll(await target.openBlob(descriptor))).equals(bytes));
      } finally {
        await chunked.close();
      }
    });

    test('an upload that is shorter than declared fails with SIZE_MISMATCH', async () => {
      const bytes = seededBytes(`${title}-short`, 1000);
      await rejectsWithCode(repo.putBlob({ ...blobOf(bytes), size: 2000 }, Readable.from([bytes])), 'SIZE_MISMATCH');
    });

    test('mount from another repository; a missing blob is not mounted', async () => {
      const target = client.repository('suite/mounted');
      const layer = made.images[1]!.layers[0]!.descriptor;
      assert.equal(await target.mountBlob(layer, 'suite/app'), true);
      assert.equal(await target.hasBlob(layer), true);
      assert.equal(await target.mountBlob(blobOf(Buffer.from('absent')), 'suite/app'), false);
    });

    test('referrers fall back to the sha256-<hex> tag (distribution 2.8 has no API)', async () => {
      const subject = made.images[0]!;
      assert.deepEqual(await repo.listReferrers(subject.manifest.digest), []);
      const empty = Buffer.from('{}');
      await repo.putBlob(blobOf(empty, MediaType.OciEmpty), Readable.from([empty]));
      const artifact = rawFromJson(
        {
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: 'application/vnd.example.sbom',
          config: { mediaType: MediaType.OciEmpty, digest: digestOfBytes(empty), size: 2 },
          layers: [{ mediaType: MediaType.OciEmpty, digest: digestOfBytes(empty), size: 2 }],
          subject: subject.descriptor,
        },
        MediaType.OciManifest,
      );
      await repo.putManifest(artifact);
      const entry: Descriptor = { mediaType: MediaType.OciManifest, digest: artifact.digest, size: artifact.size, artifactType: 'application/vnd.example.sbom' };
      const index = rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [entry] }, MediaType.OciIndex);
      await repo.putManifest(index, { tag: referrersTag(subject.manifest.digest as Digest) });
      assert.deepEqual(await repo.listReferrers(subject.manifest.digest), [entry]);
      assert.deepEqual(await repo.listReferrers(subject.manifest.digest, { artifactType: 'application/vnd.example.sbom' }), [entry]);
      assert.deepEqual(await repo.listReferrers(subject.manifest.digest, { artifactType: 'application/other' }), []);
    });

    test('a manifest over maxManifestSize is refused both ways', async () => {
      const small = createRegistryClient(host, { ...options, maxManifestSize: 100 });
      try {
        await rejectsWithCode(small.repository('suite/app').getManifest('1.0'), 'SIZE_INVALID');
        await rejectsWithCode(small.repository('suite/app').putManifest(made.index, { tag: 'big' }), 'SIZE_INVALID');
      } finally {
        await small.close();
      }
    });
  });
}
