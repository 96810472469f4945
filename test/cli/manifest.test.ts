// Issue 3's acceptance as a user runs it: docker's manifest workflow with polyarch's verbatim flags
// (checked by `docker manifest inspect` and skopeo), `index create` from a registry image plus a
// local layout, bad input, manifest-tool's push, explain. Two-way docker interop: interop/docker-manifest.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { parseLocation } from '../../src/reference/location.js';
import type { Platform } from '../../src/platform/platform.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { randomImage, type GeneratedImage } from '../helpers/images.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);

async function pushImage(location: string, platform: Platform, format: 'oci' | 'docker' = 'docker'): Promise<GeneratedImage> {
  const opener = createEndpointOpener();
  try {
    const parsed = parseLocation(location);
    const { endpoint, reference } = await opener.open(parsed, 'write');
    return await randomImage(endpoint, { platform, format, tag: reference ?? 'latest', seed: location, bytes: 2048 });
  } finally {
    await opener.close();
  }
}

/** The manifest skopeo fetches for a platform, read from its dir: output. */
async function skopeoPick(dir: string, ref: string, arch: string, variant?: string): Promise<string> {
  const out = join(dir, `pick-${arch}-${variant ?? ''}-${Math.random().toString(36).slice(2)}`);
  await exec('skopeo', ['copy', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', arch, ...(variant ? ['--override-variant', variant] : []), `docker://${ref}`, `dir:${out}`]);
  return readFile(join(out, 'manifest.json'), 'utf8');
}

describe('docker manifest workflow and index create', () => {
  let reg: DistributionHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let env: NodeJS.ProcessEnv;
  let x86: GeneratedImage;
  let arm64: GeneratedImage;

  before(async () => {
    reg = await startDistribution();
    dir = await tempDir();
    env = { DOCKER_CONFIG: join(dir.path, 'docker') };
    // Per-arch images named as the seeds name them, with the platform only in their configs.
    x86 = await pushImage(`${reg.host}/foo-x86_64:latest`, { os: 'linux', architecture: 'amd64' });
    arm64 = await pushImage(`${reg.host}/foo-arm64:latest`, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    await pushImage(`${reg.host}/foo-armv7:latest`, { os: 'linux', architecture: 'arm', variant: 'v7' });
  });
  after(async () => {
    await reg?.stop();
    await dir?.remove();
  });

  test('the seed workflow with verbatim flags; docker and skopeo read the result', async () => {
    const r = reg.host;
    const steps = [
      ['manifest', 'create', '--insecure', `${r}/foo:latest`, `${r}/foo-x86_64:latest`, `${r}/foo-arm64:latest`],
      ['manifest', 'annotate', `${r}/foo:latest`, `${r}/foo-x86_64:latest`, '--os', 'linux', '--arch', 'amd64'],
      ['manifest', 'annotate', `${r}/foo:latest`, `${r}/foo-arm64:latest`, '--os', 'linux', '--arch', 'arm64', '--variant', 'v8'],
      ['manifest', 'push', '--insecure', `${r}/foo:latest`],
    ];
    for (const args of steps) {
      const out = await runCli(args, { env });
      assert.equal(out.code, 0, `${args.join(' ')}: ${out.stderr}`);
    }
    const { stdout } = await exec('docker', ['manifest', 'inspect', '--insecure', `${r}/foo:latest`], { env: { ...process.env, ...env } });
    const list = JSON.parse(stdout) as { manifests: { digest: string; platform: { architecture: string; os: string } }[] };
    assert.deepEqual(list.manifests.map((m) => [m.platform.os, m.platform.architecture, m.digest]).sort(), [
      ['linux', 'amd64', x86.manifest.digest],
      ['linux', 'arm64', arm64.manifest.digest],
    ]);
    assert.equal(await skopeoPick(dir.path, `${r}/foo:latest`, 'arm64', 'v8'), arm64.manifest.bytes.toString());
    assert.equal(await skopeoPick(dir.path, `${r}/foo:latest`, 'amd64'), x86.manifest.bytes.toString());
  });

  test('x86_64 is normalized to amd64 with a notice; --amend replaces instead of keeping stale entries', async () => {
    const r = reg.host;
    assert.equal((await runCli(['manifest', 'create', `${r}/norm:1`, `${r}/foo-x86_64:latest`], { env })).code, 0);
    const annotated = await runCli(['manifest', 'annotate', `${r}/norm:1`, `${r}/foo-x86_64:latest`, '--arch', 'x86_64'], { env });
    assert.equal(annotated.code, 0, annotated.stderr);
    assert.match(annotated.stderr, /notice: .*"x86_64".*"amd64"/);
    // What no engine pulls is refused, as docker refuses it, instead of stored and pushed.
    for (const [flag, value, said] of [['--arch', 'bogus', /unknown architecture "bogus"/], ['--os', 'linux arm', /os "linux arm" is not a valid component/], ['--variant', 'v8/../x', /variant "v8\/..\/x" is not a valid component/]] as const) {
      const refused = await runCli(['manifest', 'annotate', `${r}/norm:1`, `${r}/foo-x86_64:latest`, flag, value], { env });
      assert.equal(refused.code, 2, `${flag} ${value}`);
      assert.match(refused.stderr, said);
      assert.match(refused.stderr, /\[INVALID_PLATFORM\]\n$/);
    }
    const again = await runCli(['manifest', 'create', `${r}/norm:1`, `${r}/foo-armv7:latest`], { env });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /--amend/);
    assert.equal((await runCli(['manifest', 'create', '--amend', `${r}/norm:1`, `${r}/foo-armv7:latest`], { env })).code, 0);
    const shown = await runCli(['manifest', 'inspect', `${r}/norm:1`], { env });
    const list = JSON.parse(shown.stdout) as { manifests: { platform: { architecture: string; variant?: string } }[] };
    assert.deepEqual(list.manifests.map((m) => `${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ''}`).sort(), ['amd64', 'arm/v7']);
    assert.equal((await runCli(['manifest', 'rm', `${r}/norm:1`], { env })).code, 0);
  });

  test('index create from a registry image and a local layout never pushed before (the acceptance command, verbatim)', async () => {
    // The registry image is a Docker manifest (as `docker push` writes), the layout OCI: one OCI index.
    const local = await pushImage(`oci:${join(dir.path, 'local-arm64')}:latest`, { os: 'linux', architecture: 'arm64' }, 'oci');
    const made = await runCli(['index', 'create', '-t', `${reg.host}/bar:1`, `${reg.host}/foo-x86_64:latest`, 'oci:./local-arm64:latest', '--annotation', 'org.opencontainers.image.version=1', '--annotation', 'manifest-descriptor:org.example.entry=x'], { cwd: dir.path });
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.match(made.stderr, /^notice: the index mixes Docker and OCI image manifests/);
    const index = JSON.parse((await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/bar:1`])).stdout) as { mediaType: string; annotations: object; manifests: { digest: string; annotations: object }[] };
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.annotations, { 'org.opencontainers.image.version': '1' }, 'a bare KEY=VALUE annotates the index');
    assert.deepEqual(index.manifests.map((m) => m.annotations), [{ 'org.example.entry': 'x' }, { 'org.example.entry': 'x' }]);
    assert.deepEqual(index.manifests.map((m) => m.digest), [x86.manifest.digest, local.manifest.digest]);
    assert.equal(await skopeoPick(dir.path, `${reg.host}/bar:1`, 'arm64'), local.manifest.bytes.toString());
    assert.equal(await skopeoPick(dir.path, `${reg.host}/bar:1`, 'amd64'), x86.manifest.bytes.toString());
  });

  test('manifest inspect prints JSON as docker does: a registry list, and -v with each entry', async () => {
    const fresh = { DOCKER_CONFIG: join(dir.path, 'no-local-lists') }; // so the registry answers, not the local list
    const shown = await runCli(['manifest', 'inspect', '--insecure', `${reg.host}/foo:latest`], { env: fresh });
    assert.equal(shown.code, 0, shown.stderr);
    const list = JSON.parse(shown.stdout) as { manifests: { digest: string }[] };
    assert.deepEqual(list.manifests.map((m) => m.digest).sort(), [x86.manifest.digest, arm64.manifest.digest].sort());
    const verbose = await runCli(['manifest', 'inspect', '-v', `${reg.host}/foo:latest`], { env: fresh });
    const documents = JSON.parse(verbose.stdout) as { Ref: string; Descriptor: { digest: string }; SchemaV2Manifest?: unknown }[];
    assert.deepEqual(documents.map((d) => d.Ref).sort(), [x86.manifest.digest, arm64.manifest.digest].sort().map((d) => `${reg.host}/foo:latest@${d}`));
    assert.ok(documents.every((d) => d.SchemaV2Manifest !== undefined));
    const missing = await runCli(['manifest', 'inspect', `${reg.host}/no-list:1`, `${reg.host}/foo-x86_64:latest`], { env });
    assert.equal(missing.code, 1, 'not found is exit 1');
    assert.match(missing.stderr, /no local manifest list .*no-list:1 .*\[NOT_FOUND\]\n$/);
  });

  test('bad input is one line and exit 2; a missing source one line and exit 1', async () => {
    const r = reg.host;
    const platform = await runCli(['index', 'create', '-t', `${r}/bad:1`, `${r}/foo-x86_64:latest,platform=linux/amd64/v2/x`]);
    assert.equal(platform.code, 2);
    assert.match(platform.stderr, /\[INVALID_PLATFORM\]\n$/);
    const missing = await runCli(['index', 'create', '-t', `${r}/bad:1`, `${r}/does-not-exist:1`]);
    assert.equal(missing.code, 1, 'not found is exit 1');
    assert.match(missing.stderr, /does-not-exist:1.*\[MANIFEST_UNKNOWN\]\n$/);
    await pushImage(`${r}/other-amd64:latest`, { os: 'linux', architecture: 'amd64' });
    const duplicate = await runCli(['index', 'create', '-t', `${r}/bad:1`, `${r}/foo-x86_64:latest`, `${r}/other-amd64:latest,platform=linux/amd64`]);
    assert.equal(duplicate.code, 2);
    assert.match(duplicate.stderr, /two sources have platform linux\/amd64: .*foo-x86_64:latest and .*other-amd64:latest \[USAGE\]\n$/);
    // platform= cannot make an arm64 image an amd64 one: its config says what it is (polyarch verify would call the index wrong).
    const relabel = await runCli(['index', 'create', '-t', `${r}/bad:1`, `${r}/foo-arm64:latest,platform=linux/amd64`]);
    assert.equal(relabel.code, 1);
    assert.match(relabel.stderr, /^polyarch: source \S+foo-arm64:latest: its config says linux\/arm64\/v8, not linux\/amd64; .*\[ARCH_MISMATCH\]\n$/);
    // Nor the lone image of a one-entry index, which is what a one-platform buildx push makes.
    assert.equal((await runCli(['index', 'create', '-t', `${r}/one-entry:1`, `${r}/foo-x86_64:latest`])).code, 0);
    const lone = await runCli(['index', 'create', '-t', `${r}/bad:1`, `${r}/one-entry:1,platform=linux/arm64`]);
    assert.equal(lone.code, 1);
    assert.match(lone.stderr, /its config says linux\/amd64, not linux\/arm64; .*\[ARCH_MISMATCH\]\n$/);
    // What the config leaves out may be added: an amd64 image recorded as amd64/v2.
    const variant = await runCli(['index', 'create', '-t', `${r}/v2:1`, `${r}/foo-x86_64:latest,platform=linux/amd64/v2`]);
    assert.equal(variant.code, 0, variant.stderr);
    const annotation = await runCli(['index', 'create', '-t', `${r}/bad:1`, `${r}/foo-x86_64:latest`, '--annotation', 'manifest:k=v']);
    assert.equal(annotation.code, 2);
    assert.match(annotation.stderr, /--annotation manifest:k=v: index create annotates the index and its entries/);
    // An index has nowhere to go in a docker archive: said before any blob moves.
    const archive = await runCli(['index', 'create', '-t', `docker-archive:${join(dir.path, 'index.tar')}`, `${r}/foo-x86_64:latest`]);
    assert.equal(archive.code, 2);
    assert.match(archive.stderr, /a docker archive holds images, not an index; write oci-archive:FILE or oci:DIR/);
    assert.doesNotMatch(archive.stderr, /copy sha256/);
    for (const out of [platform, missing, duplicate, relabel, annotation, archive]) assert.equal(out.stderr.split('\n').length, 2, out.stderr);
  });

  test('push from-spec and from-args accept variants manifest-tool rejects', async () => {
    const r = reg.host;
    await pushImage(`${r}/app-linuxarm64v8.2:1`, { os: 'linux', architecture: 'arm64', variant: 'v8.2' });
    await pushImage(`${r}/app-linuxamd64v3:1`, { os: 'linux', architecture: 'amd64', variant: 'v3' });
    await pushImage(`${r}/app-linuxriscv64:1`, { os: 'linux', architecture: 'riscv64' });
    const args = await runCli(['push', 'from-args', '--platforms', 'linux/arm64/v8.2,linux/amd64/v3,linux/riscv64', '--template', `${r}/app-OSARCHVARIANT:1`, '--target', `${r}/app:1`]);
    assert.equal(args.code, 0, args.stderr);
    const spec = join(dir.path, 'spec.yaml');
    await writeFile(spec, `image: ${r}/app:2\ntags: ['2.0', 'latest']\nmanifests:\n  - image: ${r}/app-linuxarm64v8.2:1\n    platform:\n      architecture: arm64\n      os: linux\n      variant: v8.2\n  - image: ${r}/app-linuxriscv64:1\n    platform:\n      architecture: riscv64\n      os: linux\n`);
    const fromSpec = await runCli(['push', 'from-spec', spec]);
    assert.equal(fromSpec.code, 0, fromSpec.stderr);
    for (const tag of ['2', '2.0', 'latest']) {
      const index = JSON.parse((await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${r}/app:${tag}`])).stdout) as { manifests: { platform: { architecture: string; variant?: string } }[] };
      assert.deepEqual(index.manifests.map((m) => `${m.platform.architecture}/${m.platform.variant ?? ''}`), ['arm64/v8.2', 'riscv64/']);
    }
  });

  test('explain names the entry a host pulls and why the others were passed over', async () => {
    const out = await runCli(['explain', `${reg.host}/foo:latest`, '--host', 'linux/arm64/v8.2']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /accepts: +linux\/arm64\/v8\.2 → linux\/arm64\/v8\.1 → linux\/arm64 → linux\/arm\/v8/);
    assert.match(out.stdout, new RegExp(`pulls: +linux/arm64(/v8)? ${arm64.manifest.digest}`));
    assert.match(out.stdout, /passed over: linux\/amd64/);
    const none = await runCli(['explain', '--json', `${reg.host}/foo:latest`, '--host', 'linux/s390x']);
    assert.equal(none.code, 0, none.stderr);
    assert.equal((JSON.parse(none.stdout) as { chosen?: unknown }).chosen, undefined);
  });
});

describe('index assembly against a TLS registry with a self-signed certificate', () => {
  let reg: DistributionHandle;
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    reg = await startDistribution({ tls: true });
    dir = await tempDir();
  });
  after(async () => {
    await reg?.stop();
    await dir?.remove();
  });

  test('index create with --ca-file; manifest create/push with --insecure', async () => {
    const opener = createEndpointOpener({ caFile: reg.caFile! });
    const images: GeneratedImage[] = [];
    for (const [name, platform] of [['foo-x86_64', { os: 'linux', architecture: 'amd64' }], ['foo-arm64', { os: 'linux', architecture: 'arm64' }]] as const) {
      const { endpoint } = await opener.open(parseLocation(`${reg.host}/${name}:1`), 'write');
      images.push(await randomImage(endpoint, { platform, tag: '1', seed: `tls-${name}`, format: 'docker' }));
    }
    await opener.close();
    const untrusted = await runCli(['index', 'create', '-t', `${reg.host}/foo:1`, `${reg.host}/foo-x86_64:1`]);
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /\[TLS\]\n/);
    const made = await runCli(['--ca-file', reg.caFile!, 'index', 'create', '-t', `${reg.host}/foo:1`, `${reg.host}/foo-x86_64:1`, `${reg.host}/foo-arm64:1`]);
    assert.equal(made.code, 0, made.stderr);
    const env = { DOCKER_CONFIG: join(dir.path, 'docker') };
    assert.equal((await runCli(['manifest', 'create', '--insecure', `${reg.host}/foo:2`, `${reg.host}/foo-x86_64:1`, `${reg.host}/foo-arm64:1`], { env })).code, 0);
    const pushed = await runCli(['manifest', 'push', '--insecure', `${reg.host}/foo:2`], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    const entries = async (tag: string) =>
      (JSON.parse((await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/foo:${tag}`])).stdout) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest).sort();
    // docker orders a local list by file name, index create by argument order: same entries either way.
    assert.deepEqual(await entries('2'), await entries('1'));
    const shown = await runCli(['--insecure', 'inspect', '--platform', 'linux/arm64', `${reg.host}/foo:2`]);
    assert.match(shown.stdout, new RegExp(`Digest:\\s+${images[1]!.manifest.digest}`));
  });
});
