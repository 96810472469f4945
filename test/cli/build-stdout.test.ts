// `build -o -` and `dest=-`, as buildx writes them: the tar of the filesystems, or an OCI or
// docker archive, on standard output and nothing else there, for `| tar -x` or `> FILE`. A
// terminal, a second output there and a directory output there are refused before any work, and
// a build that fails sends nothing.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI_PATH } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);

/** Runs the CLI with standard output to `file`; its exit code and stderr. */
function buildTo(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const fd = openSync(file, 'w');
    const child = spawn(process.execPath, [CLI_PATH, 'build', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

describe('build output on standard output (dest=-)', { timeout: 120_000 }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let context = '';
  let env: NodeJS.ProcessEnv = {};

  before(async () => {
    dir = await tempDir();
    context = join(dir.path, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt pipe /\n');
    await writeFile(join(context, 'hello.txt'), 'hello\n');
    // A named pipe too: unpacked for the export, it must carry its layer's time, not the export's.
    await exec('mkfifo', [join(context, 'pipe')]);
    env = { XDG_CACHE_HOME: join(dir.path, 'cache') };
  });
  after(() => dir.remove());

  test('-o - is the tar of every platform\'s filesystem, and stdout holds nothing else', async () => {
    const out = join(dir.path, 'rootfs.tar');
    const iid = join(dir.path, 'iid');
    const run = await buildTo(out, ['-q', '--platform', 'linux/amd64,linux/arm64', '--iidfile', iid, '-o', '-', context], env);
    assert.equal(run.code, 0, run.stderr);
    const listed = (await exec('tar', ['-tf', out])).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(listed, ['linux_amd64/', 'linux_amd64/hello.txt', 'linux_amd64/pipe', 'linux_arm64/', 'linux_arm64/hello.txt', 'linux_arm64/pipe']);
    assert.equal((await exec('tar', ['-xOf', out, 'linux_arm64/hello.txt'])).stdout, 'hello\n');
    // The digest line goes nowhere near the archive: a tar of whole 512-byte blocks, and the digest in --iidfile.
    assert.equal((await stat(out)).size % 512, 0);
    assert.match(await readFile(iid, 'utf8'), /^sha256:[0-9a-f]{64}$/);
    // The same build gives the same bytes: the platform folders and the pipes carry the epoch, not the time of the export.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const again = join(dir.path, 'rootfs-again.tar');
    assert.equal((await buildTo(again, ['-q', '--platform', 'linux/amd64,linux/arm64', '-o', '-', context], env)).code, 0);
    assert.deepEqual(await readFile(again), await readFile(out));
  });

  test('type=oci,dest=- and type=docker,dest=- are archives skopeo reads', async () => {
    const oci = join(dir.path, 'image-oci.tar');
    const ociRun = await buildTo(oci, ['-q', '--platform', 'linux/amd64,linux/arm64', '-o', 'type=oci,dest=-,name=example/app:v1', context], env);
    assert.equal(ociRun.code, 0, ociRun.stderr);
    const ociSeen = JSON.parse((await exec('skopeo', ['inspect', '--raw', `oci-archive:${oci}:v1`])).stdout) as { manifests?: unknown[] };
    assert.equal(ociSeen.manifests?.length, 2, 'the index of both platforms');

    const docker = join(dir.path, 'image-docker.tar');
    const dockerRun = await buildTo(docker, ['-q', '--platform', 'linux/arm64', '-o', 'type=docker,dest=-,name=example/app:v1', context], env);
    assert.equal(dockerRun.code, 0, dockerRun.stderr);
    const dockerSeen = JSON.parse((await exec('skopeo', ['inspect', `docker-archive:${docker}`])).stdout) as { Architecture?: string; Layers?: unknown[] };
    assert.equal(dockerSeen.Architecture, 'arm64');
    assert.equal(dockerSeen.Layers?.length, 1);
  });

  test('a terminal, two outputs there, or a directory output there is refused before any work; a failing build sends nothing', async () => {
    const refused = async (args: readonly string[], message: RegExp) => {
      const out = join(dir.path, 'refused.out');
      const run = await buildTo(out, ['-q', ...args, context], env);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr.trim(), message);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.equal((await stat(out)).size, 0, 'nothing on standard output');
    };
    await refused(['-o', '-', '-o', 'type=oci,dest=-'], /^polyarch: --output type=oci,dest=-: only one output can go to standard output \(dest=-\) \[USAGE\]$/);
    await refused(['-o', 'type=local,dest=-'], /^polyarch: --output type=local,dest=-: type=local writes a directory; dest=- \(standard output\) takes type=tar, oci or docker \[USAGE\]$/);

    // On a terminal (script gives the command one): refused, as buildx refuses it.
    const onTerminal = await exec('script', ['-qec', `${process.execPath} ${CLI_PATH} build -q -o - ${context}`, '/dev/null'], { env: { ...process.env, ...env } }).then(
      () => ({ code: 0, stdout: '' }),
      (error: { code: number; stdout: string }) => error,
    );
    assert.equal(onTerminal.code, 2);
    assert.match(onTerminal.stdout, /--output -: standard output is a terminal; redirect it/);

    const broken = join(dir.path, 'broken');
    await mkdir(broken, { recursive: true });
    await writeFile(join(broken, 'Dockerfile'), 'FROM scratch\nCOPY missing.txt /\n');
    const out = join(dir.path, 'failed.out');
    const run = await buildTo(out, ['-q', '-o', '-', broken], env);
    assert.match(run.stderr, /COPY source "missing.txt" not found/);
    assert.notEqual(run.code, 0);
    assert.equal((await stat(out)).size, 0, 'a failed build sends nothing');
  });
});
