// `polyarch build` as a user runs it: seed-shaped Dockerfiles built for several platforms,
// pushed to the embedded registry, read back by skopeo; reproducibility; bad input.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { parseLocation } from '../../src/reference/location.js';
import { buildSuite } from '../helpers/build-suite.js';
import { randomIndex } from '../helpers/images.js';
import { runCli, withoutProgress } from '../helpers/run-cli.js';

const exec = promisify(execFile);
const EXAMPLE = new URL('../../../examples/hello', import.meta.url).pathname;
const FIXTURES = new URL('../../../test/fixtures/build/', import.meta.url).pathname;

/** Every file in a gzip layer, path → content. */
async function layerFiles(gz: Buffer): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      if (header.type === 'file') files.set(header.name, Buffer.concat(chunks).toString());
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    tar.on('finish', resolve);
    tar.on('error', reject);
    Readable.from([gunzipSync(gz)]).pipe(tar);
  });
  return files;
}

/** What skopeo pulls for one architecture: the files of its last layer. */
async function pulledFiles(dir: string, ref: string, arch: string): Promise<Map<string, string>> {
  const out = join(dir, `pull-${arch}-${Date.now()}`);
  await exec('skopeo', ['copy', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', arch, `docker://${ref}`, `dir:${out}`]);
  const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
  return layerFiles(await readFile(join(out, manifest.layers.at(-1)!.digest.slice(7))));
}

describe('polyarch build', () => {
  const suite = buildSuite();

  test('FROM scratch + per-arch files: a 3-platform index whose arm64 entry holds the arm64 file', async () => {
    const { reg, dir, env } = suite;
    const out = await runCli(['build', '--platform', 'linux/amd64,linux/arm64,linux/riscv64', '-t', `${reg.host}/multi-demo:1`, '--push', EXAMPLE], { env });
    assert.equal(out.code, 0, out.stderr);
    const index = JSON.parse((await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/multi-demo:1`])).stdout) as { manifests: { platform: { architecture: string } }[] };
    assert.deepEqual(index.manifests.map((m) => m.platform.architecture), ['amd64', 'arm64', 'riscv64']);
    assert.equal((await pulledFiles(dir.path, `${reg.host}/multi-demo:1`, 'arm64')).get('hello'), 'hello from arm64\n');
    assert.equal((await pulledFiles(dir.path, `${reg.host}/multi-demo:1`, 'riscv64')).get('hello'), 'hello from riscv64\n');
    const config = JSON.parse((await exec('skopeo', ['inspect', '--config', '--tls-verify=false', '--override-arch', 'arm64', `docker://${reg.host}/multi-demo:1`])).stdout) as { architecture: string; config: { Cmd: string[] } };
    assert.equal(config.architecture, 'arm64');
    assert.deepEqual(config.config.Cmd, ['/hello']);
  });

  test("ENV and LABEL words as BuildKit reads them: a backslash inside single quotes is literal, and quoted names do not expand", async () => {
    const { reg, dir, env } = suite;
    const ctx = join(dir.path, 'env-words');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), ["FROM scratch", "ARG X=v", "ENV P='C:\\' Q=1", 'ENV R="a\\"b" S=\'x y\' T=$X', "LABEL 'k.$X'=1 \"l.$X\"=2 m=\"$X\"", 'ENV L legacy  form', ''].join('\n'));
    const out = await runCli(['build', '--platform', 'linux/amd64', '-t', `${reg.host}/env-words:1`, '--push', ctx], { env });
    assert.equal(out.code, 0, out.stderr);
    const config = JSON.parse((await exec('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${reg.host}/env-words:1`])).stdout) as { config: { Env: string[]; Labels: Record<string, string> } };
    assert.deepEqual(config.config.Env.filter((e) => !e.startsWith('PATH=')), ['P=C:\\', 'Q=1', 'R=a"b', 'S=x y', 'T=v', 'L=legacy  form']);
    assert.deepEqual(config.config.Labels, { 'k.$X': '1', 'l.v': '2', m: 'v' });
  });

  test('the same SOURCE_DATE_EPOCH gives the same index digest', async () => {
    const { dir, env } = suite;
    const a = await runCli(['build', '-q', '--platform', 'linux/amd64,linux/arm/v7', '--source-date-epoch', '1700000000', EXAMPLE], { env: { XDG_CACHE_HOME: join(dir.path, 'cache-a') } });
    const b = await runCli(['build', '-q', '--platform', 'linux/amd64,linux/arm/v7', EXAMPLE], { env: { XDG_CACHE_HOME: join(dir.path, 'cache-b'), SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.match(a.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(a.stdout, b.stdout);
    const c = await runCli(['build', '-q', '--platform', 'linux/amd64,linux/arm/v7', '--source-date-epoch', '1700000001', EXAMPLE], { env });
    // A failed third build prints nothing: without its exit code the comparison would pass anyway.
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.notEqual(c.stdout, a.stdout);
  });

  test('multi-stage with FROM --platform=$BUILDPLATFORM over a multi-arch base from the registry', async () => {
    const { reg, dir, env } = suite;
    const opener = createEndpointOpener();
    const { endpoint } = await opener.open(parseLocation(`${reg.host}/base:1`), 'write');
    const base = await randomIndex(endpoint, [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }], { tag: '1', layers: 2, bytes: 1024, seed: 'base' });
    await opener.close();
    const out = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${reg.host}/base:1`, '-o', `type=registry,name=${reg.host}/multi:1`, FIXTURES + 'multi-stage'], { env });
    assert.equal(out.code, 0, out.stderr);
    const config = JSON.parse((await exec('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', '--override-arch', 'arm64', `docker://${reg.host}/multi:1`])).stdout) as { architecture: string; rootfs: { diff_ids: string[] }; config: { Env: string[]; Labels: Record<string, string>; WorkingDir: string; ExposedPorts: object; Entrypoint: string[]; Cmd: string[]; Healthcheck: object } };
    assert.equal(config.architecture, 'arm64');
    assert.equal(config.rootfs.diff_ids.length, 4, 'two base layers, WORKDIR /app (made as BuildKit makes it) and one COPY');
    assert.ok(config.config.Env.includes('ARCH=arm64') && config.config.Env.includes('MODE=prod'));
    assert.equal(config.config.Labels['org.example.arch'], 'arm64');
    assert.equal(config.config.WorkingDir, '/app');
    assert.deepEqual(config.config.ExposedPorts, { '8080/tcp': {}, '9000/udp': {}, '9001/udp': {} });
    assert.deepEqual(config.config.Cmd, ['/bin/sh', '-c', 'serve --port $PORT'], 'the shell expands CMD at run time, not the build');
    assert.deepEqual(config.config.Healthcheck, { Test: ['CMD-SHELL', 'wget -q http://localhost/ || exit 1'], Interval: 30e9, Timeout: 90e9, Retries: 3 });
    assert.equal((await pulledFiles(dir.path, `${reg.host}/multi:1`, 'arm64')).get('app/app.txt'), 'app\n');
    const baseArm = JSON.parse((await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', '--override-arch', 'arm64', `docker://${reg.host}/multi:1`])).stdout) as { manifests: { digest: string }[] };
    assert.equal(baseArm.manifests.length, 2);
    void base;
  });

  test('.dockerignore keeps files out; an unchanged rebuild reuses its layers', async () => {
    const { reg, dir } = suite;
    const ctx = join(dir.path, 'ignore');
    await mkdir(join(ctx, 'app'), { recursive: true });
    await writeFile(join(ctx, 'app', 'keep.txt'), 'keep\n');
    await writeFile(join(ctx, 'app', 'secret.env'), 'TOKEN=x\n');
    await writeFile(join(ctx, '.dockerignore'), '**/*.env\n');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY app/ /app/\n');
    const cacheEnv = { XDG_CACHE_HOME: join(dir.path, 'cache-ignore') };
    const first = await runCli(['build', '-q', '--platform', 'linux/amd64', '-o', `type=registry,name=${reg.host}/ignore:1`, ctx], { env: cacheEnv });
    assert.equal(first.code, 0, first.stderr);
    const files = await pulledFiles(dir.path, `${reg.host}/ignore:1`, 'amd64');
    assert.deepEqual([...files.keys()], ['app/keep.txt']);
    const blobs = join(dir.path, 'cache-ignore', 'polyarch', 'build', 'blobs', 'sha256');
    const cacheDir = join(dir.path, 'cache-ignore', 'polyarch', 'build', 'polyarch-layer-cache');
    const before = (await readdir(blobs)).length;
    const cached = await readdir(cacheDir);
    const second = await runCli(['build', '-q', '--platform', 'linux/amd64', ctx], { env: cacheEnv });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout, 'same result');
    assert.deepEqual(await readdir(cacheDir), cached, 'no new layer was made');
    assert.equal((await readdir(blobs)).length, before);
  });

  test('NAME.dockerignore beside a Dockerfile called NAME wins over the context\'s .dockerignore', async () => {
    const { dir, env } = suite;
    const ctx = join(dir.path, 'ignore-own');
    await mkdir(join(ctx, 'app'), { recursive: true });
    await writeFile(join(ctx, 'app', 'keep.txt'), 'keep\n');
    await writeFile(join(ctx, 'app', 'secret.env'), 'TOKEN=x\n');
    await writeFile(join(ctx, '.dockerignore'), '**/*.env\n');
    await writeFile(join(ctx, 'release.Dockerfile'), 'FROM scratch\nCOPY app/ /app/\n');
    await writeFile(join(ctx, 'release.Dockerfile.dockerignore'), 'app/keep.txt\n');
    const local = join(dir.path, 'ignore-own-out');
    const out = await runCli(['build', '-f', join(ctx, 'release.Dockerfile'), '-o', `type=local,dest=${local}`, ctx], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(await readdir(join(local, 'app')), ['secret.env']);
  });

  test('native runners: each arch pushed by digest, then merged with index create', async () => {
    const { reg, dir, env } = suite;
    const digests: string[] = [];
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const metadata = join(dir.path, `meta-${platform.replace('/', '-')}.json`);
      const out = await runCli(['build', '--platform', platform, '-t', `${reg.host}/runner`, '--push', '--push-by-digest', '--metadata-file', metadata, EXAMPLE], { env });
      assert.equal(out.code, 0, out.stderr);
      const meta = JSON.parse(await readFile(metadata, 'utf8')) as { 'containerimage.digest': string; 'image.name': string };
      assert.equal(meta['image.name'], `${reg.host}/runner@${meta['containerimage.digest']}`);
      digests.push(meta['containerimage.digest']);
    }
    const tags = (await (await fetch(`${reg.url}/v2/runner/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, [], 'pushed by digest only');
    const merged = await runCli(['index', 'create', '-t', `${reg.host}/runner:1`, ...digests.map((d) => `${reg.host}/runner@${d}`)]);
    assert.equal(merged.code, 0, merged.stderr);
    assert.equal((await pulledFiles(dir.path, `${reg.host}/runner:1`, 'arm64')).get('hello'), 'hello from arm64\n');
  });

  test('type=local writes one filesystem per platform; type=tar one tar', async () => {
    const { dir, env } = suite;
    const local = join(dir.path, 'local-out');
    const tarOut = join(dir.path, 'rootfs.tar');
    const out = await runCli(['build', '--platform', 'linux/amd64,linux/arm/v7', '-o', `type=local,dest=${local}`, '-o', `type=tar,dest=${tarOut}`, EXAMPLE], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await readFile(join(local, 'linux_amd64', 'hello'), 'utf8'), 'hello from amd64\n');
    assert.equal(await readFile(join(local, 'linux_arm_v7', 'hello'), 'utf8'), 'hello from arm\n');
    const listed = (await exec('tar', ['-tf', tarOut])).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(listed, ['linux_amd64/', 'linux_amd64/hello', 'linux_arm_v7/', 'linux_arm_v7/hello']);
  });

  test('ADD unpacks a local tar archive; COPY does not', async () => {
    const { dir, env } = suite;
    const ctx = join(dir.path, 'add');
    await mkdir(join(ctx, 'payload', 'etc'), { recursive: true });
    await writeFile(join(ctx, 'payload', 'etc', 'app.conf'), 'on\n');
    await exec('tar', ['-czf', join(ctx, 'payload.tar.gz'), '-C', join(ctx, 'payload'), 'etc']);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nADD payload.tar.gz /opt/\nCOPY payload.tar.gz /kept/\n');
    const local = join(dir.path, 'add-out');
    const out = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=local,dest=${local}`, ctx], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await readFile(join(local, 'opt', 'etc', 'app.conf'), 'utf8'), 'on\n');
    assert.deepEqual(await readdir(join(local, 'kept')), ['payload.tar.gz']);
  });

  test('COPY --from an image takes files from that image for each platform', async () => {
    const { reg, dir, env } = suite;
    const ctx = join(dir.path, 'from-image');
    await mkdir(ctx, { recursive: true });
    const tools = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '-t', `${reg.host}/tools:1`, '--push', EXAMPLE], { env });
    assert.equal(tools.code, 0, tools.stderr);
    await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nCOPY --from=${reg.host}/tools:1 /hello /bin/tool\n`);
    const local = join(dir.path, 'from-image-out');
    const out = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '-o', `type=local,dest=${local}`, ctx], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await readFile(join(local, 'linux_arm64', 'bin', 'tool'), 'utf8'), 'hello from arm64\n');
    assert.equal(await readFile(join(local, 'linux_amd64', 'bin', 'tool'), 'utf8'), 'hello from amd64\n');
  });

  test('umoci unpacks the type=oci output; the docker output has the manifest.json docker load reads', async () => {
    const { dir, env } = suite;
    const archive = join(dir.path, 'hello-oci.tar');
    const dockerTar = join(dir.path, 'hello-docker.tar');
    const out = await runCli(['build', '--platform', 'linux/arm64', '-t', 'demo/hello:1', '-o', `type=oci,dest=${archive}`, '-o', `type=docker,dest=${dockerTar}`, EXAMPLE], { env });
    assert.equal(out.code, 0, out.stderr);
    const layout = join(dir.path, 'umoci-layout');
    await mkdir(layout);
    await exec('tar', ['-xf', archive, '-C', layout]);
    const tag = (JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] }).manifests[0]!.annotations['org.opencontainers.image.ref.name']!;
    // umoci unpacks an image, not an index: point it at the arm64 manifest through a second tag.
    const index = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', (JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest.slice(7)), 'utf8')) as { manifests: { digest: string; mediaType: string; size: number }[] };
    const top = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: unknown[] };
    top.manifests.push({ ...index.manifests[0], annotations: { 'org.opencontainers.image.ref.name': 'arm64' } });
    await writeFile(join(layout, 'index.json'), JSON.stringify(top));
    assert.equal(tag, '1', 'the OCI layout names the image by the -t tag');
    const bundle = join(dir.path, 'umoci-bundle');
    await exec('umoci', ['unpack', '--rootless', '--image', `${layout}:arm64`, bundle]);
    assert.equal(await readFile(join(bundle, 'rootfs', 'hello'), 'utf8'), 'hello from arm64\n');
    await exec('tar', ['-xf', dockerTar, '-C', dir.path, 'manifest.json']);
    const saved = JSON.parse(await readFile(join(dir.path, 'manifest.json'), 'utf8')) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    assert.equal(saved.length, 1);
    assert.deepEqual(saved[0]!.RepoTags, ['demo/hello:1']);
    assert.equal(saved[0]!.Layers.length, 1);
  });

  test('COPY of a directory of 150,000 entries builds, each entry in the layer (more than a call takes as spread arguments)', async () => {
    const { dir, env } = suite;
    const tree = join(dir.path, 'many-entries', 'tree');
    // 150 directories of 1,000 hard links to three files (links are the cheapest names to make):
    // above the ~125,000 items a push(...items) passes before V8's stack overflows.
    mkdirSync(tree, { recursive: true });
    for (let k = 0; k < 3; k++) writeFileSync(join(tree, `f${k}`), `file ${k}\n`);
    for (let i = 0; i < 150; i++) {
      mkdirSync(join(tree, `d${i}`));
      for (let j = 0; j < 1000; j++) linkSync(join(tree, `f${i % 3}`), join(tree, `d${i}`, `l${j}`));
    }
    await writeFile(join(tree, '..', 'Dockerfile'), 'FROM scratch\nCOPY tree /tree\n');
    const layout = join(dir.path, 'many-entries-out');
    const out = await runCli(['build', '--progress', 'quiet', '--platform', 'linux/amd64', '-o', `oci:${layout}:1`, join(tree, '..')], { env });
    assert.equal(out.code, 0, out.stderr);
    const blob = async (digest: string) => JSON.parse(await readFile(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as { manifests: { digest: string }[]; layers: { digest: string }[] };
    const top = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const image = await blob((await blob(top.manifests[0]!.digest)).manifests[0]!.digest);
    const listed = (await exec('tar', ['-tvzf', join(layout, 'blobs', 'sha256', image.layers[0]!.digest.slice(7))], { maxBuffer: 64 << 20 })).stdout.trim().split('\n');
    assert.equal(listed.length, 1 + 3 + 150 + 150 * 1000, 'tree/, its three files, 150 directories and 1,000 names in each');
    // One instruction's names of one file stay one file: the first name holds the bytes, the rest link to it.
    assert.equal(listed.filter((line) => line.startsWith('h')).length, 150 * 1000);
  });

  test('bad input: one line naming file and line, exit 2, nothing pushed', async () => {
    const { reg, dir, env } = suite;
    const ctx = join(dir.path, 'bad');
    await mkdir(ctx, { recursive: true });
    const cases: [string, string[], RegExp][] = [
      ['FROM scratch\nCOPY missing.txt /\n', [], /Dockerfile:2: COPY source "missing.txt" not found/],
      ['FROM scratch\nRUN --mount=type=ssh echo hi\n', [], /Dockerfile:2: RUN --mount=type=ssh is not supported/],
      ['FROM scratch\nBOGUS x\n', [], /Dockerfile:2: unknown instruction "BOGUS"/],
      ['FROM scratch AS a\n', ['--target', 'nope'], /no stage named "nope"/],
      ['FROM scratch\n', ['--platform', 'linux/amd64/v2/x'], /\[INVALID_PLATFORM\]/],
    ];
    for (const [dockerfile, extra, message] of cases) {
      await writeFile(join(ctx, 'Dockerfile'), dockerfile);
      const out = await runCli(['build', ...extra, '-t', `${reg.host}/never:1`, '--push', ctx], { env, cwd: ctx });
      assert.equal(out.code, 2, `${dockerfile}: ${out.stderr}`);
      assert.match(out.stderr, message);
      assert.equal(withoutProgress(out.stderr).split('\n').length, 2, out.stderr);
    }
    const tags = await fetch(`${reg.url}/v2/never/tags/list`);
    assert.equal(tags.status, 404, 'nothing was pushed');
  });
});
