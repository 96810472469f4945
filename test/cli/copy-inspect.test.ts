// The acceptance, as a user runs it: the built CLI against two real registries
// (CNCF distribution), an OCI layout and a docker archive, checked with skopeo.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { parseLocation } from '../../src/reference/location.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS, type GeneratedIndex } from '../helpers/images.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await exec('skopeo', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

describe('copy and inspect across registries, layouts and archives', () => {
  let a: DistributionHandle;
  let b: DistributionHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let generated: GeneratedIndex;

  before(async () => {
    [a, b] = await Promise.all([startDistribution(), startDistribution()]);
    dir = await tempDir();
    const opener = createEndpointOpener();
    const { endpoint } = await opener.open(parseLocation(`${a.host}/team/app:1.0`), 'write');
    generated = await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1.0', layers: 2, bytes: 64 * 1024, seed: 'cli' });
    await opener.close();
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await dir?.remove();
  });

  test('registry → registry keeps every manifest digest; skopeo and inspect agree', async () => {
    const copied = await runCli(['copy', `${a.host}/team/app:1.0`, `${b.host}/team/app:1.0`]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, new RegExp(generated.index.digest));

    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${b.host}/team/app:1.0`);
    assert.equal(raw, generated.index.bytes.toString('utf8'), 'index bytes are identical');

    const inspected = await runCli(['inspect', '--json', `${b.host}/team/app:1.0`]);
    assert.equal(inspected.code, 0, inspected.stderr);
    const json = JSON.parse(inspected.stdout) as { kind: string; descriptor: { digest: string }; entries: { descriptor: { digest: string }; platform: { architecture: string } }[] };
    assert.equal(json.kind, 'index');
    assert.equal(json.descriptor.digest, generated.index.digest);
    assert.deepEqual(
      json.entries.map((e) => [e.platform.architecture, e.descriptor.digest]),
      generated.images.map((i) => [i.platform.architecture, i.manifest.digest]),
    );
    // skopeo picks each platform's image itself; the manifest it fetched must be the one polyarch lists.
    for (const image of generated.images) {
      const out = join(dir.path, `picked-${image.platform.architecture}`);
      const args = ['copy', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', image.platform.architecture];
      if (image.platform.variant) args.push('--override-variant', image.platform.variant);
      await skopeo(...args, `docker://${b.host}/team/app:1.0`, `dir:${out}`);
      assert.equal((await readFile(join(out, 'manifest.json'))).toString(), image.manifest.bytes.toString(), `skopeo picked the ${image.platform.architecture} image`);
    }
  });

  test('inspect prints a platform table, layers for an image, and exact bytes with --raw', async () => {
    const table = await runCli(['inspect', `${a.host}/team/app:1.0`]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /PLATFORM\s+DIGEST\s+SIZE/);
    for (const [platform, image] of [['linux/amd64', generated.images[0]], ['linux/arm64/v8', generated.images[1]], ['linux/arm/v7', generated.images[2]]] as const) {
      assert.match(table.stdout, new RegExp(`^${platform}\\s+${image!.manifest.digest}\\s+${image!.manifest.size}\\s`, 'm'));
    }
    const image = await runCli(['inspect', '--platform', 'linux/arm64', `${a.host}/team/app:1.0`]);
    assert.equal(image.code, 0, image.stderr);
    assert.match(image.stdout, new RegExp(`Digest:\\s+${generated.images[1]!.manifest.digest}`));
    assert.match(image.stdout, /LAYER\s+DIGEST/);
    for (const layer of generated.images[1]!.layers) assert.match(image.stdout, new RegExp(layer.descriptor.digest));
    // A platform written as uname says it is the same image, and inspect says what it took it for.
    const named = await runCli(['inspect', '--platform', 'aarch64', `${a.host}/team/app:1.0`]);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(named.stderr, 'notice: platform aarch64 is linux/arm64\n');
    assert.match(named.stdout, new RegExp(`Digest:\\s+${generated.images[1]!.manifest.digest}`));
    const raw = await runCli(['inspect', '--raw', `${a.host}/team/app:1.0`]);
    assert.equal(raw.stdout, generated.index.bytes.toString('utf8'));
  });

  test('registry → oci layout → registry round trip preserves digests; skopeo reads the layout', async () => {
    const layout = join(dir.path, 'layout');
    const out = await runCli(['copy', `${a.host}/team/app:1.0`, `oci:${layout}:1.0`]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await skopeo('inspect', '--raw', `oci:${layout}:1.0`), generated.index.bytes.toString('utf8'));
    const back = await runCli(['copy', '-q', `oci:${layout}:1.0`, `${b.host}/team/back:2`]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.stdout.trim(), generated.index.digest);
    for (const image of generated.images) {
      const child = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${b.host}/team/back@${image.manifest.digest}`);
      assert.equal(child, image.manifest.bytes.toString('utf8'));
    }
  });

  test('one platform to a docker archive that skopeo reads', async () => {
    const archive = join(dir.path, 'arm64.tar');
    const out = await runCli(['copy', '--platform', 'linux/arm64', `${a.host}/team/app:1.0`, `docker-archive:${archive}:team/app:arm64`]);
    assert.equal(out.code, 0, out.stderr);
    const seen = JSON.parse(await skopeo('inspect', `docker-archive:${archive}`)) as { Architecture: string; RepoTags?: string[] };
    assert.equal(seen.Architecture, 'arm64');
    const ours = await runCli(['inspect', '--json', `docker-archive:${archive}`]);
    assert.equal(ours.code, 0, ours.stderr);
    assert.equal((JSON.parse(ours.stdout) as { descriptor: { digest: string } }).descriptor.digest, generated.images[1]!.manifest.digest);
    // Several platforms cannot go into one docker archive: one line, nothing written.
    const refused = await runCli(['copy', `${a.host}/team/app:1.0`, `docker-archive:${join(dir.path, 'all.tar')}`]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /choose it with --platform \(platforms\) \[USAGE\]\n$/);
    await assert.rejects(readFile(join(dir.path, 'all.tar')), { code: 'ENOENT' });

    // The archive holds one arm64 image: asked for another platform, copy and inspect say so, as
    // `docker pull --platform` does, instead of handing over arm64 (nothing is written).
    const wrong = join(dir.path, 'wrong');
    const notThere = await runCli(['copy', '--platform', 'linux/amd64', `docker-archive:${archive}`, `oci:${wrong}`]);
    assert.equal(notThere.code, 1);
    assert.match(notThere.stderr, /^polyarch: \S+arm64\.tar\S* is one linux\/arm64\S* image, not an index: it has no image for platform linux\/amd64 \[PLATFORM_NOT_IN_INDEX\]\n$/);
    await assert.rejects(readFile(join(wrong, 'index.json')), { code: 'ENOENT' });
    const inspected = await runCli(['inspect', '--platform', 'linux/amd64', `docker-archive:${archive}`]);
    assert.equal(inspected.code, 1);
    assert.match(inspected.stderr, /\[PLATFORM_NOT_IN_INDEX\]\n$/);
    assert.equal((await runCli(['copy', '-q', '--platform', 'linux/arm64', `docker-archive:${archive}`, `oci:${wrong}:1`])).code, 0, 'its own platform still copies');
    assert.equal((await runCli(['inspect', '-q', '--platform', 'linux/arm64', `docker-archive:${archive}`])).code, 0);
  });

  test('a platform subset rewrites the index so it is never sparse; --all is the whole index, as skopeo', async () => {
    const out = await runCli(['copy', '--json', '--platform', 'x86_64,linux/arm/v7', `${a.host}/team/app:1.0`, `${b.host}/team/subset:1`]);
    assert.equal(out.code, 0, out.stderr);
    // Said once, before the progress lines.
    assert.match(out.stderr, /^notice: platform x86_64 is linux\/amd64\n(?!.*notice)/s);
    const index = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${b.host}/team/subset:1`)) as { manifests: { digest: string; platform: { architecture: string } }[] };
    assert.deepEqual(index.manifests.map((m) => m.platform.architecture), ['amd64', 'arm']);
    // Every entry resolves in the destination: skopeo copies the whole index out of it.
    await skopeo('copy', '--all', '--src-tls-verify=false', `docker://${b.host}/team/subset:1`, `oci:${join(dir.path, 'subset')}:1`);
    // skopeo's habits: `copy --all docker://…` is the whole index (the default), and --all with a subset is one line.
    const all = await runCli(['copy', '--all', `docker://${a.host}/team/app:1.0`, `${b.host}/team/all:1`]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${b.host}/team/all:1`), generated.index.bytes.toString('utf8'));
    const both = await runCli(['copy', '-a', '--platform', 'linux/amd64', `${a.host}/team/app:1.0`, `${b.host}/team/both:1`]);
    assert.deepEqual([both.code, both.stderr], [2, 'polyarch: --all and --platform exclude each other: --all copies every platform, --platform only those it names [USAGE]\n']);
    const missing = await runCli(['copy', '--platform', 'linux/s390x', `${a.host}/team/app:1.0`, `${b.host}/team/none:1`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no image for platform linux\/s390x .*\[PLATFORM_NOT_IN_INDEX\]\n$/);
  });

  test('a destination no directory can be made in (below /proc) fails in one line instead of spinning forever', { skip: process.platform !== 'linux', timeout: 60_000 }, async () => {
    // Node's mkdir({ recursive: true }) retried such a path forever at full CPU, deaf to Ctrl-C.
    for (const destination of [`oci:/proc/polyarch-no-such-${process.pid}`, `oci-archive:/proc/polyarch-no-such-${process.pid}/a.tar`]) {
      const out = await runCli(['copy', `${a.host}/team/app:1.0`, destination]);
      assert.equal(out.code, 1, destination);
      assert.match(out.stderr, /^polyarch: .*no such file or directory, mkdir '\/proc\/polyarch-no-such-\d+'.*\n$/, destination);
    }
  });

  test('a destination of the wrong kind (a layout in a file, an archive over a directory) is one USAGE line before anything moves', async () => {
    const file = join(dir.path, 'plain-file');
    await writeFile(file, 'keep\n');
    const folder = join(dir.path, 'plain-dir');
    await mkdir(folder, { recursive: true });
    const cases: [string, RegExp][] = [
      [`oci:${file}`, /plain-file is a file, not a directory; an OCI layout is a directory/],
      [`oci-archive:${folder}`, /plain-dir is a directory; an archive is written as one file/],
      [`docker-archive:${folder}/`, /plain-dir\/ is a directory; an archive is written as one file/],
    ];
    for (const [destination, message] of cases) {
      const out = await runCli(['copy', '--platform', 'linux/amd64', `${a.host}/team/app:1.0`, destination]);
      assert.equal(out.code, 2, destination);
      assert.match(out.stderr, message);
      assert.equal(out.stderr.split('\n').length, 2, out.stderr);
    }
    assert.equal(await readFile(file, 'utf8'), 'keep\n');
    assert.deepEqual(await readdir(folder), [], 'nothing was left in the directory');
  });

  test('bad input gives one line and exit 2; an unknown image gives MANIFEST_UNKNOWN', async () => {
    const bad = await runCli(['inspect', 'Bad//Ref']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^polyarch: .*"Bad\/\/Ref".*\[INVALID_REFERENCE\]\n$/);
    const platform = await runCli(['inspect', '--platform', 'linux/amd64/v2/x', `${a.host}/team/app:1.0`]);
    assert.equal(platform.code, 2);
    assert.match(platform.stderr, /\[INVALID_PLATFORM\]\n$/);
    const unknown = await runCli(['inspect', `${a.host}/team/nothing:1`]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /\[MANIFEST_UNKNOWN\]\n$/);
    assert.equal(unknown.stderr.split('\n').length, 2, 'exactly one line');
    const usage = await runCli(['copy', 'only-one-arg']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /\[USAGE\]\n$/);
  });

  test('within one registry, blobs are mounted, not moved', async () => {
    const out = await runCli(['copy', '--json', `${a.host}/team/app:1.0`, `${a.host}/other/app:1.0`]);
    assert.equal(out.code, 0, out.stderr);
    const result = JSON.parse(out.stdout) as { blobsMounted: number; blobsCopied: number; bytesCopied: number };
    assert.equal(result.blobsMounted, 9);
    assert.equal(result.blobsCopied, 0);
    assert.equal(result.bytesCopied, 0);
  });

  test('tags, catalog and delete', async () => {
    const tags = await runCli(['tags', `${a.host}/team/app`]);
    assert.equal(tags.code, 0, tags.stderr);
    assert.deepEqual(tags.stdout.trim().split('\n'), ['1.0']);
    const catalog = await runCli(['catalog', '--json', b.host]);
    assert.equal(catalog.code, 0, catalog.stderr);
    assert.ok((JSON.parse(catalog.stdout) as string[]).includes('team/app'));
    const deleted = await runCli(['delete', `${b.host}/team/subset:1`]);
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = await runCli(['inspect', `${b.host}/team/subset:1`]);
    assert.equal(gone.code, 1);
    // A digest nothing holds is named as it was written, after "@".
    const zero = `sha256:${'0'.repeat(64)}`;
    const unknown = await runCli(['delete', `${b.host}/team/subset@${zero}`]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, new RegExp(`team/subset@${zero}: manifest unknown \\[MANIFEST_UNKNOWN\\]`));

    // In a layout, a tag entry goes (skopeo no longer finds it) and the other stays; a missing
    // layout is not made by a delete; an archive, written whole, is refused in one line.
    const layout = join(dir.path, 'delete-layout');
    for (const tag of ['1', '2']) assert.equal((await runCli(['copy', '-q', `${a.host}/team/app:1.0`, `oci:${layout}:${tag}`])).code, 0);
    const removed = await runCli(['rm', `oci:${layout}:2`]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual((await runCli(['tags', `oci:${layout}`])).stdout.trim().split('\n'), ['1']);
    await assert.rejects(skopeo('inspect', '--raw', `oci:${layout}:2`));
    assert.equal(await skopeo('inspect', '--raw', `oci:${layout}:1`), generated.index.bytes.toString('utf8'));
    const absent = await runCli(['rm', `oci:${join(dir.path, 'no-layout')}:1`]);
    assert.equal(absent.code, 1);
    assert.match(absent.stderr, /is not an OCI image layout \(no such directory\) \[LAYOUT_INVALID\]\n$/);
    await assert.rejects(stat(join(dir.path, 'no-layout')));
    const archive = join(dir.path, 'delete.tar');
    assert.equal((await runCli(['copy', '-q', `oci:${layout}:1`, `oci-archive:${archive}:1`])).code, 0);
    const refused = await runCli(['rm', `oci-archive:${archive}:1`]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^polyarch: \S+delete\.tar: an archive cannot be changed in place.*\[USAGE\]\n$/);
  });
});

describe('login against a TLS registry with htpasswd', () => {
  let secure: DistributionHandle;
  let config: { path: string; remove: () => Promise<void> };

  before(async () => {
    secure = await startDistribution({ tls: true, auth: { username: 'alice', password: 's3cret-pass' } });
    config = await tempDir();
  });
  after(async () => {
    await secure?.stop();
    await config?.remove();
  });

  test('login then inspect works; a wrong password is one UNAUTHORIZED line and its hint, exit 1', async () => {
    const common = ['--registry-config', config.path, '--ca-file', secure.caFile!];
    const wrong = await runCli([...common, 'login', '-u', 'alice', '--password-stdin', secure.host], { input: 'nope\n' });
    assert.equal(wrong.code, 1);
    // One line, then advice that fits a refused login (not "log in").
    assert.match(wrong.stderr, /^polyarch: .*\[UNAUTHORIZED\]\nhint: check the username and the password/);
    assert.equal(wrong.stderr.split('\n').length, 3);
    assert.ok(!wrong.stderr.includes('nope'));

    // As docker: an address with a scheme and a path logs in to its host.
    const ok = await runCli([...common, 'login', '-u', 'alice', '--password-stdin', `https://${secure.host}/v2/`], { input: 's3cret-pass\n' });
    assert.equal(ok.code, 0, ok.stderr);
    const stored = JSON.parse(await readFile(join(config.path, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(stored.auths[secure.host]!.auth, 'base64').toString(), 'alice:s3cret-pass');

    const opener = createEndpointOpener({ registryConfigDir: config.path, caFile: secure.caFile! });
    const { endpoint } = await opener.open(parseLocation(`${secure.host}/private/app:1`), 'write');
    const pushed = await randomIndex(endpoint, THREE_PLATFORMS.slice(0, 2), { tag: '1', bytes: 1024 });
    await opener.close();
    const seen = await runCli([...common, 'inspect', '-q', `${secure.host}/private/app:1`]);
    assert.equal(seen.code, 0, seen.stderr);
    assert.equal(seen.stdout.trim(), pushed.index.digest);

    const out = await runCli([...common, 'logout', `https://${secure.host}`]);
    assert.equal(out.code, 0, out.stderr);
    const denied = await runCli([...common, 'inspect', `${secure.host}/private/app:1`]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /\[UNAUTHORIZED\]\nhint: log in with polyarch login HOST/);
  });
});
