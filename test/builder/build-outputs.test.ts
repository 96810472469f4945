// The library's typed build outputs end to end: one build written to each kind of output at once,
// the compression an output asks for used for the layers, and an output that cannot hold the build
// refused before any work.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PolyarchError, buildImages, parsePlatform, type BuildOutput } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';
import { Writable } from 'node:stream';
import { isTempName } from '../../src/internal/temp-path.js';

const AMD64 = parsePlatform('linux/amd64');
const ARM64 = parsePlatform('linux/arm64');

describe('typed build outputs', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let context = '';

  before(async () => {
    dir = await tempDir('polyarch-outputs-');
    context = join(dir.path, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
    await writeFile(join(context, 'hello.txt'), 'hello\n');
  });
  after(async () => dir?.remove());

  test('one build goes to every output kind, with the compression the first output asks for', async () => {
    const at = (name: string) => join(dir.path, name);
    const outputs: BuildOutput[] = [
      { type: 'oci', dest: at('image.tar'), name: 'example/app:v2', compression: { kind: 'zstd' } },
      { type: 'local', dest: at('rootfs') },
      { type: 'tar', dest: at('rootfs.tar') },
      { type: 'location', location: `oci:${at('layout')}:v2` },
    ];
    const result = await buildImages({ context, platforms: [AMD64, ARM64], buildPlatform: AMD64, cacheDir: at('cache'), outputs });
    assert.deepEqual(result.outputs, [`oci-archive:${at('image.tar')}:v2`, `local:${at('rootfs')}`, `tar:${at('rootfs.tar')}`, `oci:${at('layout')}:v2`]);
    type IndexJson = { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const archived = JSON.parse(spawnSync('tar', ['-xOf', at('image.tar'), 'index.json'], { encoding: 'utf8' }).stdout) as IndexJson;
    assert.deepEqual(archived.manifests.map((m) => [m.digest, m.annotations?.['org.opencontainers.image.ref.name']]), [[result.index.digest, 'v2']], 'the archive holds the built index, named by the tag of its name');
    const layout = JSON.parse(await readFile(join(at('layout'), 'index.json'), 'utf8')) as IndexJson;
    assert.deepEqual(layout.manifests.map((m) => m.digest), [result.index.digest]);
    const manifest = JSON.parse(await readFile(join(at('layout'), 'blobs', 'sha256', result.images[0]!.digest.slice(7)), 'utf8')) as { layers: { mediaType: string }[] };
    assert.equal(manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd', 'the oci output\'s compression was used');
    assert.equal(await readFile(join(at('rootfs'), 'linux_arm64', 'hello.txt'), 'utf8'), 'hello\n');
    // The layer's times (the source date epoch, 0 here), as buildx's local exporter leaves them, not the export's.
    assert.equal((await lstat(join(at('rootfs'), 'linux_arm64', 'hello.txt'))).mtimeMs, 0);
    const listed = spawnSync('tar', ['-tf', at('rootfs.tar')], { encoding: 'utf8' });
    assert.match(listed.stdout, /linux_amd64\/hello\.txt/);
  });

  test('an archive or layout output given several names holds them all, as buildx writes them: each in RepoTags, each tag in index.json', async () => {
    const at = (name: string) => join(dir.path, 'named', name);
    const names = ['example/app:1', 'example/app:2', 'other/app:1'];
    const result = await buildImages({
      context,
      platforms: [AMD64],
      buildPlatform: AMD64,
      cacheDir: at('cache'),
      outputs: [
        { type: 'docker', dest: at('docker.tar'), name: names },
        { type: 'oci', dest: at('oci.tar'), name: names },
        { type: 'oci', dest: at('layout'), name: names, tar: false },
      ],
    });
    const manifestJson = JSON.parse(spawnSync('tar', ['-xOf', at('docker.tar'), 'manifest.json'], { encoding: 'utf8' }).stdout) as { RepoTags: string[] }[];
    assert.deepEqual(manifestJson.map((m) => m.RepoTags), [['example/app:1', 'example/app:2', 'other/app:1']]);
    type IndexJson = { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const archived = JSON.parse(spawnSync('tar', ['-xOf', at('oci.tar'), 'index.json'], { encoding: 'utf8' }).stdout) as IndexJson;
    // Two names of one tag are one entry: index.json names by tag.
    assert.deepEqual(archived.manifests.map((m) => [m.digest, m.annotations?.['org.opencontainers.image.ref.name']]), [[result.index.digest, '1'], [result.index.digest, '2']]);
    // tar=false: the same index.json, in a directory (it kept only the first tag before).
    const layout = JSON.parse(await readFile(join(at('layout'), 'index.json'), 'utf8')) as IndexJson;
    assert.deepEqual(layout.manifests.map((m) => [m.digest, m.annotations?.['org.opencontainers.image.ref.name']]), [[result.index.digest, '1'], [result.index.digest, '2']]);
    for (const tag of ['1', '2']) {
      const read = spawnSync('skopeo', ['inspect', '--raw', `oci:${at('layout')}:${tag}`], { encoding: 'utf8' });
      assert.equal(read.status, 0, read.stderr);
      assert.equal((JSON.parse(read.stdout) as { digest?: string; manifests: unknown[] }).manifests.length, 1, tag);
    }
    // A reader we did not write finds the image by each name.
    for (const name of names) {
      const read = spawnSync('skopeo', ['inspect', '--raw', `docker-archive:${at('docker.tar')}:${name}`], { encoding: 'utf8' });
      assert.equal(read.status, 0, read.stderr);
      // skopeo reads a docker archive's image as docker's schema 2: the one layer is there.
      assert.equal((JSON.parse(read.stdout) as { layers: unknown[] }).layers.length, 1, name);
    }
  });

  test('an archive for standard output goes to the given stream; a reader that stops taking it does not hold up Ctrl-C', { timeout: 60_000 }, async () => {
    const cacheDir = join(dir.path, 'stdout-cache');
    await assert.rejects(
      buildImages({ context, platforms: [AMD64], buildPlatform: AMD64, cacheDir, outputs: [{ type: 'tar', dest: '-' }] }),
      (error: unknown) => error instanceof PolyarchError && error.code === 'USAGE' && /dest=- sends the archive to standard output, and none was given/.test(error.message),
    );
    const chunks: Buffer[] = [];
    const taken = new Writable({ write: (chunk: Buffer, _encoding, done) => void (chunks.push(chunk), done()) });
    const result = await buildImages({ context, platforms: [AMD64], buildPlatform: AMD64, cacheDir, outputs: [{ type: 'oci', dest: '-' }], stdout: taken });
    assert.deepEqual(result.outputs, ['oci-archive:-:latest']);
    const archive = join(dir.path, 'from-stdout.tar');
    await writeFile(archive, Buffer.concat(chunks));
    assert.match(spawnSync('tar', ['-tf', archive], { encoding: 'utf8' }).stdout, /index\.json/);
    // A reader that takes one piece and then nothing more (a pipe nobody reads): stopping still stops.
    const stop = new AbortController();
    const stuck = new Writable({ highWaterMark: 1, write: () => void setTimeout(() => stop.abort(), 100) });
    await assert.rejects(
      buildImages({ context, platforms: [AMD64], buildPlatform: AMD64, cacheDir, outputs: [{ type: 'tar', dest: '-' }], stdout: stuck, signal: stop.signal }),
      (error: unknown) => error instanceof PolyarchError && error.code === 'INTERRUPTED',
    );
    assert.deepEqual((await readdir(cacheDir)).filter(isTempName), [], 'the staged archive is gone');
  });

  test('a platform no engine runs (arm64/v8 reads as OS arm64) is refused before any work, with the spelling meant', async () => {
    const cacheDir = join(dir.path, 'platform-cache');
    for (const [text, message] of [
      ['arm64/v8', 'platform arm64/v8: unknown OS "arm64"; OS/ARCH comes first: did you mean linux/arm64/v8?'],
      ['linux/foo', 'platform linux/foo: unknown architecture "foo"'],
    ] as const) {
      await assert.rejects(
        buildImages({ context, platforms: [parsePlatform(text)], buildPlatform: AMD64, cacheDir, outputs: [{ type: 'tar', dest: join(dir.path, 'never.tar') }] }),
        (error: unknown) => error instanceof PolyarchError && error.code === 'INVALID_PLATFORM' && error.message === message,
      );
    }
    assert.equal(existsSync(cacheDir), false, 'no cache was made');
  });

  test('a docker archive for two platforms is refused before anything is built or written', async () => {
    const cacheDir = join(dir.path, 'refused-cache');
    await assert.rejects(
      buildImages({ context, platforms: [AMD64, ARM64], buildPlatform: AMD64, cacheDir, outputs: [{ type: 'docker', dest: join(dir.path, 'd.tar') }] }),
      (error: unknown) => error instanceof PolyarchError && error.code === 'USAGE' && /docker archive holds one platform, not 2/.test(error.message),
    );
    assert.equal(existsSync(cacheDir), false, 'no cache was made');
    assert.equal(existsSync(join(dir.path, 'd.tar')), false);
  });

  test('a registry output with no names is refused with one line', async () => {
    await assert.rejects(
      buildImages({ context, platforms: [AMD64], buildPlatform: AMD64, cacheDir: join(dir.path, 'cache'), outputs: [{ type: 'registry', names: [] }] }),
      (error: unknown) => error instanceof PolyarchError && error.code === 'USAGE' && error.message === '--output type=registry,name=: needs name= or -t',
    );
  });
});
