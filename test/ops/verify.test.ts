// verify end to end, through the library and the CLI, on images made from Debian packages: an
// OCI layout, a registry (distribution) and a docker archive. Wrong-architecture content is named
// (file and machines) and exits 1; correct static and dynamic images pass with exit 0.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, cp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Descriptor } from '../../src/image/descriptor.js';
import type { Endpoint } from '../../src/endpoint/endpoint.js';
import type { Finding } from '../../src/verify/finding.js';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { copy } from '../../src/ops/copy.js';
import { verify } from '../../src/ops/verify.js';
import { parseLocation } from '../../src/reference/location.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { BUSYBOX_ARCHES, busyboxRoot, type BusyboxArch } from '../helpers/busybox.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { runCli } from '../helpers/run-cli.js';
import { tarOf } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';
import { dynamicArm64Root, putImage, putIndex } from '../helpers/verify-fixtures.js';

const exec = promisify(execFile);
const ALL = Object.keys(BUSYBOX_ARCHES) as BusyboxArch[];

async function tarRoot(dir: string): Promise<Buffer> {
  const { stdout } = await exec('tar', ['--numeric-owner', '-cf', '-', '-C', dir, '.'], { encoding: 'buffer', maxBuffer: 256 << 20 });
  return stdout;
}

/** An index whose entry for each Debian arch holds the busybox root of `contents[arch]` (default: its own). */
async function busyboxIndex(endpoint: Endpoint, tag: string, contents: Partial<Record<BusyboxArch, BusyboxArch>> = {}): Promise<void> {
  const entries: Descriptor[] = [];
  for (const arch of ALL) {
    const platform = parsePlatform(BUSYBOX_ARCHES[arch].platform);
    const layer = await tarRoot(await busyboxRoot(contents[arch] ?? arch));
    const image = await putImage(endpoint, { platform, layers: [{ bytes: layer }], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
    entries.push({ ...image, platform });
  }
  await putIndex(endpoint, entries, tag);
}

function errors(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => f.severity === 'error');
}

describe('verify', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let registry: DistributionHandle;
  let layoutPath: string;
  let layout: Endpoint;

  before(async () => {
    dir = await tempDir();
    registry = await startDistribution();
    layoutPath = join(dir.path, 'layout');
    layout = await openLayout(layoutPath, { create: true });
  });
  after(async () => {
    await registry?.stop();
    await dir?.remove();
  });

  test('an arm64-labelled image holding the amd64 busybox fails, naming the file and both machines (layout and docker archive)', async () => {
    const platform = parsePlatform('linux/arm64');
    const image = await putImage(layout, { platform, layers: [{ bytes: await tarRoot(await busyboxRoot('amd64')) }], config: { Env: ['PATH=/bin'], Entrypoint: ['/bin/sh'] } });
    await putIndex(layout, [{ ...image, platform }], 'mislabelled');

    const report = await verify({ location: `oci:${layoutPath}:mislabelled` });
    assert.equal(report.passed, false);
    const found = errors(report.findings);
    assert.deepEqual(
      found.map((f) => [f.rule, f.platform]),
      [['binary-arch-mismatch', 'linux/arm64']],
    );
    assert.equal(found[0]?.detail, 'entrypoint /bin/sh (/bin/busybox) is ELF 64-bit LSB x86-64, expected ELF 64-bit LSB AArch64');

    const cli = await runCli(['verify', `oci:${layoutPath}:mislabelled`]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.equal(cli.stderr, '');
    assert.match(cli.stdout, /^SEVERITY +PLATFORM +RULE +DETAIL\n/);
    assert.match(cli.stdout, /error +linux\/arm64 +binary-arch-mismatch +entrypoint \/bin\/sh \(\/bin\/busybox\) is ELF 64-bit LSB x86-64, expected ELF 64-bit LSB AArch64\n/);
    assert.match(cli.stdout, /failed: 1 error\(s\)/);

    // The same image as `docker save` writes it.
    const archive = join(dir.path, 'mislabelled.tar');
    await copy({ source: `oci:${layoutPath}:mislabelled`, destination: `docker-archive:${archive}:team/app:arm64`, platforms: [platform] });
    const json = await runCli(['verify', '--json', `docker-archive:${archive}:team/app:arm64`]);
    assert.equal(json.code, 1, json.stderr);
    const fromArchive = JSON.parse(json.stdout) as { passed: boolean; findings: Finding[] };
    assert.equal(fromArchive.passed, false);
    assert.deepEqual(errors(fromArchive.findings), found);
  });

  test('an entrypoint with no execute bit fails (it would exit 126), and so does a #! interpreter without one', async () => {
    const platform = parsePlatform('linux/arm64');
    const busybox = await readFile(join(await busyboxRoot('arm64'), 'bin', 'busybox'));
    const cases = [
      { tag: 'noexec', entries: [{ name: 'bin/busybox', content: busybox, mode: 0o644 }], entrypoint: '/bin/busybox', detail: 'entrypoint /bin/busybox has mode 0644: no execute bit' },
      {
        tag: 'noexec-interpreter',
        entries: [
          { name: 'bin/busybox', content: busybox, mode: 0o640 },
          { name: 'app/run', content: '#!/bin/busybox sh\necho hi\n', mode: 0o755 },
        ],
        entrypoint: '/app/run',
        detail: '#! interpreter /bin/busybox of entrypoint /app/run has mode 0640: no execute bit',
      },
      { tag: 'exec', entries: [{ name: 'bin/busybox', content: busybox, mode: 0o700 }], entrypoint: '/bin/busybox', detail: undefined },
    ];
    for (const { tag, entries, entrypoint, detail } of cases) {
      const image = await putImage(layout, { platform, layers: [{ bytes: await tarOf(entries) }], config: { Entrypoint: [entrypoint] } });
      await putIndex(layout, [{ ...image, platform }], tag);
      const report = await verify({ location: `oci:${layoutPath}:${tag}` });
      assert.deepEqual(
        errors(report.findings).map((f) => [f.rule, f.detail]),
        detail === undefined ? [] : [['entrypoint-not-executable', detail]],
        tag,
      );
    }
  });

  test('in a registry: an index whose ppc64le entry is really s390x fails on that entry only; the correct 7-platform index passes', async () => {
    const opener = createEndpointOpener({});
    try {
      const { endpoint } = await opener.open(parseLocation(`${registry.host}/verify/busybox:good`), 'write');
      await busyboxIndex(endpoint, 'good');
      await busyboxIndex(endpoint, 'swapped', { ppc64el: 's390x' });
    } finally {
      await opener.close();
    }
    const good = await runCli(['verify', `${registry.host}/verify/busybox:good`]);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.equal(good.stdout, 'passed: 0 error(s), 0 warning(s); checked 7 image(s) (linux/amd64, linux/arm64, linux/arm/v7, linux/arm/v5, linux/ppc64le, linux/s390x, linux/386)\n');

    const swapped = await verify({ location: `${registry.host}/verify/busybox:swapped` });
    assert.deepEqual(
      errors(swapped.findings).map((f) => [f.platform, f.rule, f.detail]),
      [['linux/ppc64le', 'binary-arch-mismatch', 'cmd sh (/bin/busybox) is ELF 64-bit MSB IBM S/390, expected ELF 64-bit LSB PowerPC64']],
    );
    const cli = await runCli(['verify', `${registry.host}/verify/busybox:swapped`]);
    assert.equal(cli.code, 1);

    const required = await runCli(['verify', `${registry.host}/verify/busybox:good`, '--require', 'linux/arm64,linux/riscv64']);
    assert.equal(required.code, 1);
    assert.match(required.stdout, /error +linux\/riscv64 +required-platform-missing +required platform linux\/riscv64 is not there/);
    assert.doesNotMatch(required.stdout, /linux\/arm64 +required/);
    assert.equal((await runCli(['verify', `${registry.host}/verify/busybox:good`, '--require', 'linux/arm/v5,linux/386'])).code, 0);
  });

  test('dynamic binaries: arm64 busybox with its loader and libc passes; a loader of another architecture fails', async () => {
    const root = await dynamicArm64Root(join(dir.path, 'dynamic'));
    const platform = parsePlatform('linux/arm64');
    const config = { Env: ['PATH=/usr/bin:/bin'], Entrypoint: ['sh', '-c'], Cmd: ['echo hi'] };
    const good = await putImage(layout, { platform, layers: [{ bytes: await tarRoot(root) }], config });
    await putIndex(layout, [{ ...good, platform }], 'dynamic');
    const report = await verify({ location: `oci:${layoutPath}:dynamic` });
    assert.deepEqual(report.findings, []);
    assert.equal(report.passed, true);

    // Debian's x86-64 loader where the arm64 one should be.
    const wrong = join(dir.path, 'dynamic-wrong');
    await cp(root, wrong, { recursive: true, verbatimSymlinks: true });
    await rm(join(wrong, 'lib/aarch64-linux-gnu/ld-linux-aarch64.so.1'));
    await copyFile('/lib64/ld-linux-x86-64.so.2', join(wrong, 'lib/aarch64-linux-gnu/ld-linux-aarch64.so.1'));
    const bad = await putImage(layout, { platform, layers: [{ bytes: await tarRoot(wrong) }], config });
    await putIndex(layout, [{ ...bad, platform }], 'dynamic-wrong');
    const cli = await runCli(['verify', '--json', `oci:${layoutPath}:dynamic-wrong`]);
    assert.equal(cli.code, 1);
    const { findings } = JSON.parse(cli.stdout) as { findings: Finding[] };
    assert.deepEqual(
      errors(findings).map((f) => f.detail),
      ['loader /lib/ld-linux-aarch64.so.1 (/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1) of entrypoint sh (/bin/busybox) is ELF 64-bit LSB x86-64, expected ELF 64-bit LSB AArch64'],
    );
  });

  test('a #! script entrypoint whose interpreter is another architecture fails; an upper layer replacing a wrong binary passes', async () => {
    const platform = parsePlatform('linux/arm64');
    const arm64 = await tarRoot(await busyboxRoot('arm64'));
    const amd64Busybox = await readFile(join(await busyboxRoot('amd64'), 'bin', 'busybox'));
    const script = await tarOf([
      { name: 'usr/local/bin/start', content: '#!/opt/tools/sh -e\necho started\n', mode: 0o755 },
      { name: 'opt/tools/sh', content: amd64Busybox, mode: 0o755 },
    ]);
    const config = { Env: ['PATH=/usr/local/bin:/bin'], Entrypoint: ['start'] };
    const image = await putImage(layout, { platform, layers: [{ bytes: arm64 }, { bytes: script }], config });
    await putIndex(layout, [{ ...image, platform }], 'script');
    const report = await verify({ location: `oci:${layoutPath}:script` });
    assert.deepEqual(
      errors(report.findings).map((f) => f.detail),
      ['#! interpreter /opt/tools/sh of entrypoint start (/usr/local/bin/start) is ELF 64-bit LSB x86-64, expected ELF 64-bit LSB AArch64'],
    );

    // Whiteouts: the wrong interpreter deleted by a third layer and the right one put in its place.
    const fix = await tarOf([
      { name: 'opt/tools/.wh.sh' },
      { name: 'opt/.wh.nothing-here' },
    ]);
    const replace = await tarOf([{ name: 'opt/tools/sh', type: 'symlink', linkname: '../../bin/busybox' }]);
    const fixed = await putImage(layout, { platform, layers: [{ bytes: arm64 }, { bytes: script }, { bytes: fix }, { bytes: replace }], config });
    await putIndex(layout, [{ ...fixed, platform }], 'script-fixed');
    const passed = await runCli(['verify', `oci:${layoutPath}:script-fixed`]);
    assert.equal(passed.code, 0, passed.stdout);
  });
});
