// Interop with the real docker CLI (its `manifest` commands need no daemon; DOCKER_CONFIG points
// at a temp dir) through docker's own local store, both directions, against Debian's
// docker-registry on plain HTTP; skopeo, a client we did not write, checks platform selection.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
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

async function pushImage(location: string, platform: Platform): Promise<GeneratedImage> {
  const opener = createEndpointOpener();
  try {
    const { endpoint, reference } = await opener.open(parseLocation(location), 'write');
    return await randomImage(endpoint, { platform, format: 'docker', tag: reference ?? 'latest', seed: location, bytes: 2048 });
  } finally {
    await opener.close();
  }
}

interface ListJson {
  readonly mediaType: string;
  readonly manifests: readonly { readonly digest: string; readonly platform: Platform }[];
}

describe('polyarch and docker manifest share lists', () => {
  let reg: DistributionHandle;
  let dir: { path: string; remove: () => Promise<void> };
  let env: NodeJS.ProcessEnv;
  let x86: GeneratedImage;
  let aarch64: GeneratedImage;
  let armv7: GeneratedImage;
  const docker = async (...args: string[]): Promise<string> => (await exec('docker', args, { env: { ...process.env, ...env } })).stdout;
  const polyarch = async (...args: string[]): Promise<{ stdout: string; stderr: string }> => {
    const out = await runCli(args, { env });
    assert.equal(out.code, 0, `polyarch ${args.join(' ')}: ${out.stderr}`);
    return out;
  };
  /** The manifest skopeo fetches for a platform, as a client that never heard of polyarch picks it. */
  const skopeoPick = async (ref: string, arch: string, variant?: string): Promise<string> => {
    const out = join(dir.path, `pick-${Math.random().toString(36).slice(2)}`);
    await exec('skopeo', ['copy', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', arch, ...(variant ? ['--override-variant', variant] : []), `docker://${ref}`, `dir:${out}`]);
    return readFile(join(out, 'manifest.json'), 'utf8');
  };

  before(async () => {
    reg = await startDistribution();
    dir = await tempDir();
    env = { DOCKER_CONFIG: join(dir.path, 'docker') };
    x86 = await pushImage(`${reg.host}/foo-x86_64:latest`, { os: 'linux', architecture: 'amd64' });
    // Built on a machine whose toolchain wrote the kernel's name for the architecture.
    aarch64 = await pushImage(`${reg.host}/foo-arm64:latest`, { os: 'linux', architecture: 'aarch64' });
    armv7 = await pushImage(`${reg.host}/foo-armv7:latest`, { os: 'linux', architecture: 'arm', variant: 'v7' });
  });
  after(async () => {
    await reg?.stop();
    await dir?.remove();
  });

  test('polyarch creates and annotates; docker reads the local list as its own and pushes it; skopeo picks each platform', async () => {
    const r = reg.host;
    const created = await polyarch('manifest', 'create', `${r}/foo:1.0`, `${r}/foo-x86_64:latest`, `${r}/foo-arm64:latest`, `${r}/foo-armv7:latest`);
    assert.match(created.stderr, /foo-arm64:latest \(config\): normalized architecture "aarch64" to "arm64"/);
    const annotated = await polyarch('manifest', 'annotate', `${r}/foo:1.0`, `${r}/foo-arm64:latest`, '--arch', 'aarch64', '--variant', 'v8');
    assert.equal(annotated.stderr, `notice: ${r}/foo-arm64:latest: normalized architecture "aarch64" to "arm64"\n`);
    // docker's own reader (local list first, no registry): same documents as polyarch shows.
    const dockerView = JSON.parse(await docker('manifest', 'inspect', '-v', `${r}/foo:1.0`)) as unknown;
    const ours = JSON.parse((await polyarch('manifest', 'inspect', '-v', `${r}/foo:1.0`)).stdout) as unknown;
    assert.deepEqual(dockerView, ours);
    // docker would have rejected "aarch64" (its whitelist); the normalized list pushes.
    const pushed = await docker('manifest', 'push', '--insecure', `${r}/foo:1.0`);
    const digest = pushed.trim().split('\n').pop();
    assert.match(digest ?? '', /^sha256:[0-9a-f]{64}$/);
    const list = JSON.parse(await docker('manifest', 'inspect', '--insecure', `${r}/foo:1.0`)) as ListJson;
    assert.deepEqual(list.manifests.map((m) => [m.platform.architecture, m.platform.variant ?? '', m.digest]).sort(), [
      ['amd64', '', x86.manifest.digest],
      ['arm', 'v7', armv7.manifest.digest],
      ['arm64', 'v8', aarch64.manifest.digest],
    ]);
    assert.equal(await skopeoPick(`${r}/foo:1.0`, 'arm64', 'v8'), aarch64.manifest.bytes.toString());
    assert.equal(await skopeoPick(`${r}/foo:1.0`, 'arm', 'v7'), armv7.manifest.bytes.toString());
    assert.equal(await skopeoPick(`${r}/foo:1.0`, 'amd64'), x86.manifest.bytes.toString());
  });

  test('docker creates and annotates; polyarch annotates (armhf normalized) and pushes with --purge', async () => {
    const r = reg.host;
    await docker('manifest', 'create', '--insecure', `${r}/mixed:1`, `${r}/foo-x86_64:latest`, `${r}/foo-armv7:latest`);
    await docker('manifest', 'annotate', `${r}/mixed:1`, `${r}/foo-x86_64:latest`, '--os', 'linux', '--arch', 'amd64');
    const annotated = await polyarch('manifest', 'annotate', `${r}/mixed:1`, `${r}/foo-armv7:latest`, '--arch', 'armhf');
    assert.match(annotated.stderr, /normalized architecture "armhf" to "arm"/);
    // docker reads the file polyarch rewrote (its order: entry file names)
    const local = JSON.parse(await docker('manifest', 'inspect', `${r}/mixed:1`)) as ListJson;
    assert.deepEqual(local.manifests.map((m) => m.platform), [{ architecture: 'arm', os: 'linux', variant: 'v7' }, { architecture: 'amd64', os: 'linux' }]);
    const pushed = await polyarch('manifest', 'push', '--insecure', '--purge', `${r}/mixed:1`);
    assert.match(pushed.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.deepEqual(await readdir(join(dir.path, 'docker', 'manifests')).then((names) => names.filter((n) => n.includes('mixed'))), [], '--purge removed the local list');
    const raw = JSON.parse((await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${r}/mixed:1`])).stdout) as ListJson;
    assert.equal(raw.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    assert.equal(await skopeoPick(`${r}/mixed:1`, 'arm', 'v7'), armv7.manifest.bytes.toString());
  });

  test('docker amends a list polyarch created; polyarch --amend replaces a rebuilt entry instead of keeping it', async () => {
    const r = reg.host;
    await polyarch('manifest', 'create', `${r}/amend:1`, `${r}/foo-x86_64:latest`);
    await docker('manifest', 'create', '--insecure', '--amend', `${r}/amend:1`, `${r}/foo-armv7:latest`);
    const both = JSON.parse((await polyarch('manifest', 'inspect', `${r}/amend:1`)).stdout) as ListJson;
    assert.deepEqual(both.manifests.map((m) => m.digest).sort(), [x86.manifest.digest, armv7.manifest.digest].sort());
    // The x86_64 image is rebuilt under the same tag; the list must follow it.
    const rebuilt = await pushImage(`${r}/foo-x86_64:latest`, { os: 'linux', architecture: 'amd64', variant: 'v2' });
    const amended = await polyarch('manifest', 'create', '--amend', `${r}/amend:1`, `${r}/foo-x86_64:latest`);
    assert.match(amended.stderr, new RegExp(`replaced ${r}/foo-x86_64:latest \\(${x86.manifest.digest}\\) with ${r}/foo-x86_64:latest \\(${rebuilt.manifest.digest}\\)`));
    const after = JSON.parse((await polyarch('manifest', 'inspect', `${r}/amend:1`)).stdout) as ListJson;
    assert.deepEqual(after.manifests.map((m) => m.digest).sort(), [rebuilt.manifest.digest, armv7.manifest.digest].sort());
    const { stdout } = await polyarch('manifest', 'push', `${r}/amend:1`);
    const pushed = JSON.parse(await docker('manifest', 'inspect', '--insecure', `${r}/amend:1`)) as ListJson;
    assert.ok(pushed.manifests.some((m) => m.digest === rebuilt.manifest.digest && m.platform.variant === 'v2'), stdout);
  });
});
