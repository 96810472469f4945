// Interop of RUN output with tools we did not write: what `polyarch build --push` made by running
// steps on amd64, arm64 and arm/v7 (the foreign ones under qemu) is pulled back per platform by
// skopeo (into an OCI layout that umoci unpacks) and by buildah (`from --platform`, then `mount`),
// and the files they show hold what each platform's RUN steps wrote, without the base file a
// step deleted (its whiteout applied by their own layer code).
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { storeBaseIndex } from '../helpers/base-images.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { BUSYBOX_ARCHES, copyBusyboxRoot, type BusyboxArch } from '../helpers/busybox.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);
const ARCHES: readonly BusyboxArch[] = ['amd64', 'arm64', 'armhf'];
const DOCKERFILE = [
  'ARG BASE',
  'FROM $BASE',
  'RUN uname -m > /arch',
  'RUN rm /etc/base-file && echo "$TARGETPLATFORM" > /etc/target',
  '',
].join('\n');

/** What a platform's root must hold after the build. */
async function assertRoot(root: string, arch: BusyboxArch, tool: string): Promise<void> {
  const { platform, machine } = BUSYBOX_ARCHES[arch];
  assert.equal(await readFile(join(root, 'arch'), 'utf8'), `${machine}\n`, `${tool} ${platform}: /arch`);
  assert.equal(await readFile(join(root, 'etc', 'target'), 'utf8'), `${platform}\n`, `${tool} ${platform}: /etc/target`);
  assert.equal(existsSync(join(root, 'etc', 'base-file')), false, `${tool} ${platform}: the deleted base file is gone`);
  // The rest of the base is still there beside the whiteout.
  assert.match(await readFile(join(root, 'etc', 'passwd'), 'utf8'), /^root:x:0:0:/, `${tool} ${platform}: /etc/passwd`);
}

function requireProgram(program: string, pkg: string): void {
  if (spawnSync(program, ['--version']).status !== 0) throw new Error(`${program} is missing: install the Debian package ${pkg}`);
}

describe('skopeo, umoci and buildah read what build pushed after RUN steps', { timeout: 600_000 }, () => {
  let reg: DistributionHandle;
  let dir: { path: string; remove(): Promise<void> };
  let image = '';

  before(async () => {
    // A missing program is a failure, never a skip.
    requireProgram('skopeo', 'skopeo');
    requireProgram('umoci', 'umoci');
    requireProgram('buildah', 'buildah');
    await ensureEmulation(ARCHES);
    reg = await startDistribution();
    dir = await tempDir();
    const base = `${reg.host}/busybox:multi`;
    const parts = [];
    for (const arch of ARCHES) {
      const root = await copyBusyboxRoot(arch, join(dir.path, `base-${arch}`));
      await writeFile(join(root, 'etc', 'base-file'), `from the ${arch} base\n`);
      parts.push({ platform: BUSYBOX_ARCHES[arch].platform, dir: root });
    }
    await storeBaseIndex(base, parts);
    const context = join(dir.path, 'context');
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), DOCKERFILE);
    image = `${reg.host}/interop:1`;
    const platforms = ARCHES.map((a) => BUSYBOX_ARCHES[a].platform).join(',');
    const out = await runCli(['build', '--platform', platforms, '--build-arg', `BASE=${base}`, '-t', image, '--push', context], { env: { XDG_CACHE_HOME: join(dir.path, 'cache') } });
    assert.equal(out.code, 0, out.stderr);
  });
  after(async () => {
    await reg?.stop();
    await dir?.remove();
  });

  test('skopeo copies each platform into an OCI layout; umoci unpacks what the RUN steps wrote', async () => {
    for (const arch of ARCHES) {
      const [, architecture, variant] = BUSYBOX_ARCHES[arch].platform.split('/');
      const layout = join(dir.path, `skopeo-${arch}`);
      await exec('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', architecture!, ...(variant ? ['--override-variant', variant] : []), `docker://${image}`, `oci:${layout}:pulled`]);
      const bundle = join(dir.path, `umoci-${arch}`);
      await exec('umoci', ['unpack', ...(process.getuid?.() === 0 ? [] : ['--rootless']), '--image', `${layout}:pulled`, bundle]);
      await assertRoot(join(bundle, 'rootfs'), arch, 'skopeo+umoci');
    }
  });

  test('buildah from --platform mounts each platform’s root with the RUN output', async () => {
    // buildah's own store, away from the machine's: vfs needs no kernel overlay and is removed with the temp dir.
    const store = ['--root', join(dir.path, 'buildah', 'root'), '--runroot', join(dir.path, 'buildah', 'run'), '--storage-driver', 'vfs'];
    const env = { ...process.env, TMPDIR: dir.path };
    const buildah = async (...args: string[]) => (await exec('buildah', [...store, ...args], { env })).stdout.trim();
    for (const arch of ARCHES) {
      const platform = BUSYBOX_ARCHES[arch].platform;
      const container = await buildah('from', '--quiet', '--platform', platform, '--tls-verify=false', '--name', `interop-${arch}`, `docker://${image}`);
      try {
        const root = await buildah('mount', container);
        await assertRoot(root, arch, 'buildah');
        await buildah('umount', container);
      } finally {
        await buildah('rm', container);
      }
    }
    await buildah('rmi', '--all', '--force');
  });
});
