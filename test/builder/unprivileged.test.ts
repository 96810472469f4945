// polyarch run and polyarch build with RUN started by an ordinary user (an unused uid, through
// setpriv): the step runs in bubblewrap's own user namespace, root inside (or its USER) mapped
// onto the caller, and each RUN layer records the step's own user as the owner of what it made,
// not the caller's uid. This caller has no passwd entry, which newuidmap needs, so a line of its
// uid in /etc/subuid changes nothing (subordinate-ids.test.ts covers an account that has one). The
// same build run by root gives the same owners (root steps as root, USER steps as that user).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { storeBaseIndex } from '../helpers/base-images.js';
import { copyBusyboxRoot } from '../helpers/busybox.js';
import { CLI_PATH } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A uid and gid no account on this machine uses. */
const CALLER = 4242;

describe('an ordinary user runs steps', { timeout: 300_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let home = '';

  before(async () => {
    dir = await tempDir('polyarch-unprivileged-');
    await chmod(dir.path, 0o755);
    const root = await copyBusyboxRoot('amd64', join(dir.path, 'busybox'));
    await storeBaseIndex(`oci:${join(dir.path, 'layout')}:img`, [{ platform: 'linux/amd64', dir: root }], {
      config: { Env: ['PATH=/bin'], Cmd: ['sh', '-c', 'id -u; touch /x && echo wrote'] },
    });
    home = join(dir.path, 'home');
    await mkdir(home);
    spawnSync('chown', ['-R', `${CALLER}:${CALLER}`, dir.path]);
  });
  after(async () => dir.remove());

  /** The CLI as the ordinary user, with its own home, cache and temporary directory. */
  function asCaller(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
    const result = spawnSync(
      'setpriv',
      [`--reuid=${CALLER}`, `--regid=${CALLER}`, '--clear-groups', 'env', `HOME=${home}`, `XDG_CACHE_HOME=${join(home, 'cache')}`, `TMPDIR=${home}`, process.execPath, CLI_PATH, ...args],
      { encoding: 'utf8', cwd: dir.path },
    );
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** The CLI as root (the test's own user), with a cache of its own. */
  function asRootCli(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [CLI_PATH, ...args], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: join(dir.path, 'root-cache') } });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** `path uid:gid` for every entry of each layer of the image in an oci layout. */
  async function layerOwners(layout: string): Promise<Map<string, string>[]> {
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const blob = async (digest: string) => readFile(join(layout, 'blobs', ...digest.split(':')));
    let manifest = JSON.parse((await blob(index.manifests[0]!.digest)).toString()) as { manifests?: { digest: string }[]; layers?: { digest: string }[] };
    if (manifest.manifests) manifest = JSON.parse((await blob(manifest.manifests[0]!.digest)).toString()) as typeof manifest;
    return (manifest.layers ?? []).map((layer) => {
      const listing = spawnSync('tar', ['-tvz', '--numeric-owner', '-f', join(layout, 'blobs', ...layer.digest.split(':'))], { encoding: 'utf8' }).stdout;
      const owners = new Map<string, string>();
      for (const line of listing.trim().split('\n')) {
        const fields = line.trim().split(/\s+/);
        owners.set((fields[5] ?? '').replace(/^\.\//, '').replace(/\/$/, ''), fields[1]?.replace('/', ':') ?? '');
      }
      return owners;
    });
  }

  test('polyarch run: the command is root inside, and nothing is left behind', async () => {
    assert.notEqual(process.getuid?.(), CALLER);
    const out = asCaller(['run', `oci:${join(dir.path, 'layout')}:img`]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, '0\nwrote\n');
    // TMPDIR is home: no temporary root is left there, only the CLI's own code cache (its cache directory is home/cache).
    assert.equal(spawnSync('ls', ['-A', home], { encoding: 'utf8' }).stdout, 'cache\n', 'no temporary root is left');
    assert.equal(spawnSync('ls', ['-A', join(home, 'cache', 'polyarch')], { encoding: 'utf8' }).stdout, 'code\n', 'the cache holds only the code cache');
  });

  for (const withSubordinateIds of [false, true]) {
    test(`polyarch build with RUN: layers record the step's user, never the caller's uid (${withSubordinateIds ? 'with' : 'without'} an /etc/subuid line)`, async () => {
      const saved = new Map<string, string | undefined>();
      if (withSubordinateIds) {
        for (const file of ['/etc/subuid', '/etc/subgid']) {
          saved.set(file, await readFile(file, 'utf8').catch(() => undefined));
          await writeFile(file, `${saved.get(file) ?? ''}${CALLER}:${CALLER * 100}:65536\n`);
        }
      }
      try {
        await buildAndCheck(withSubordinateIds ? 'sub' : 'plain');
      } finally {
        // The machine's files exactly as they were.
        for (const [file, text] of saved) {
          if (text === undefined) await rm(file, { force: true });
          else await writeFile(file, text);
        }
      }
    });
  }

  test('type=local run by an ordinary user keeps u+rwx on directories, so a second export into the same dest works and the user can remove it; type=tar reads a base\'s 0000 file without root', async () => {
    const ctx = join(dir.path, 'ro-ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), `FROM oci:${join(dir.path, 'layout')}:img\nRUN mkdir -p /ro/sub && echo z > /ro/sub/z && chmod 500 /ro/sub /ro && echo s > /f && chmod 4750 /f\n`);
    spawnSync('chown', ['-R', `${CALLER}:${CALLER}`, ctx]);
    const dest = join(home, 'exported');
    for (const round of [1, 2]) {
      const out = asCaller(['build', '-q', '--platform', 'linux/amd64', '-o', `type=local,dest=${dest}`, ctx]);
      assert.equal(out.code, 0, `export ${round}: ${out.stderr}`);
    }
    assert.equal((await stat(join(dest, 'ro'))).mode & 0o7777, 0o700, 'the layer says 0500; its exporter keeps u+rwx');
    assert.equal((await stat(join(dest, 'f'))).mode & 0o7777, 0o4750, 'files keep their modes');
    assert.equal(spawnSync('setpriv', [`--reuid=${CALLER}`, `--regid=${CALLER}`, '--clear-groups', 'rm', '-rf', dest]).status, 0, 'the user can remove what it exported');
    // type=tar reads a base's 0000 file and directory without root, and keeps their modes.
    const zeroCtx = join(dir.path, 'zero-ctx');
    await mkdir(zeroCtx);
    await writeFile(join(zeroCtx, 'Dockerfile'), `FROM oci:${join(dir.path, 'layout')}:img\nRUN echo s > /secret && chmod 0 /secret && mkdir /d0 && chmod 0 /d0\n`);
    const zeroLayout = join(dir.path, 'zero-layout');
    const made = asRootCli(['build', '-q', '--platform', 'linux/amd64', '-o', `type=oci,tar=false,dest=${zeroLayout}`, zeroCtx]);
    assert.equal(made.code, 0, made.stderr);
    const fromZero = join(dir.path, 'from-zero');
    await mkdir(fromZero);
    await writeFile(join(fromZero, 'Dockerfile'), `FROM oci:${zeroLayout}\nENV X=1\n`);
    spawnSync('chown', ['-R', `${CALLER}:${CALLER}`, zeroLayout, fromZero]);
    const tar = join(home, 'exported.tar');
    const out = asCaller(['build', '-q', '--platform', 'linux/amd64', '-o', `type=tar,dest=${tar}`, fromZero]);
    assert.equal(out.code, 0, out.stderr);
    const listing = spawnSync('tar', ['-tvf', tar], { encoding: 'utf8' }).stdout;
    assert.match(listing, /^---------- \S+ +\d+ \S+ \S+ secret$/m);
    assert.match(listing, /^d--------- \S+ +\d+ \S+ \S+ d0\/$/m);
    assert.deepEqual(spawnSync('ls', ['-A', home], { encoding: 'utf8' }).stdout.split('\n').filter((n) => n.includes('polyarch-tmp')), [], 'no staging left');
  });

  test('RUN steps over a base with a 0000 file and directory, making their own, build without root: the layers keep the modes, and a later step holds only what it made', async () => {
    const zeroCtx = join(dir.path, 'zero-base-ctx');
    await mkdir(zeroCtx);
    await writeFile(join(zeroCtx, 'Dockerfile'), `FROM oci:${join(dir.path, 'layout')}:img\nRUN echo s > /secret && chmod 0 /secret && mkdir /d0 && echo in > /d0/in && chmod 0 /d0\n`);
    const zeroBase = join(dir.path, 'zero-base');
    const made = asRootCli(['build', '-q', '--platform', 'linux/amd64', '-o', `type=oci,tar=false,dest=${zeroBase}`, zeroCtx]);
    assert.equal(made.code, 0, made.stderr);
    // A link the step made to a directory of the caller's that it cannot read: never followed, never opened.
    const hostShut = join(dir.path, 'host-shut');
    await mkdir(hostShut);
    const ctx = join(dir.path, 'shut-ctx');
    await mkdir(ctx);
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM oci:${zeroBase}\nRUN cat /secret /d0/in > /read && echo x > /x && chmod 000 /x && mkdir /shut && echo f > /shut/f && chmod 000 /shut && ln -s ${hostShut} /out\nRUN echo next > /next\n`,
    );
    spawnSync('chown', ['-R', `${CALLER}:${CALLER}`, zeroBase, ctx, hostShut]);
    await chmod(hostShut, 0);
    const out = join(dir.path, 'shut-out');
    const built = asCaller(['build', '-q', '--platform', 'linux/amd64', '-o', `type=oci,tar=false,dest=${out}`, ctx]);
    assert.equal(built.code, 0, built.stderr);
    const layers = await layerOwners(out);
    const [made1, made2] = layers.slice(-2).map((owners) => [...owners.keys()].sort());
    assert.deepEqual(made1, ['out', 'read', 'shut', 'shut/f', 'x']);
    assert.equal((await stat(hostShut)).mode & 0o7777, 0, "the caller's directory the link names is as it was");
    assert.deepEqual(made2, ['next'], 'the next step holds only its own file, not what the one before shut');
    const listing = spawnSync('sh', ['-c', `for b in ${join(out, 'blobs', 'sha256')}/*; do tar -tvzf "$b" --numeric-owner 2>/dev/null; done`], { encoding: 'utf8' }).stdout;
    assert.match(listing, /^---------- 0\/0 +2 \S+ \S+ x$/m);
    assert.match(listing, /^d--------- 0\/0 +0 \S+ \S+ shut\/$/m);
    const read = spawnSync('sh', ['-c', `for b in ${join(out, 'blobs', 'sha256')}/*; do tar -xOzf "$b" read 2>/dev/null; done`], { encoding: 'utf8' }).stdout;
    assert.equal(read, 's\nin\n', "the step read the base's 0000 file and what its 0000 directory holds");
  });

  test('the same build run by root: the USER step\'s files are 1000:1000 in its layer too', async () => {
    await buildAndCheck('root', true);
  });

  async function buildAndCheck(name: string, asRoot = false): Promise<void> {
    const ctx = join(dir.path, `ctx-${name}`);
    await mkdir(ctx);
    await writeFile(
      join(ctx, 'Dockerfile'),
      `FROM oci:${join(dir.path, 'layout')}:img\nRUN touch /made && id -u > /root-id\nUSER app\nRUN touch /home/app/mine && id -u > /home/app/app-id\n`,
    );
    spawnSync('chown', ['-R', `${CALLER}:${CALLER}`, ctx]);
    const args = ['build', '--platform', 'linux/amd64', '-o', `oci:${join(dir.path, `out-${name}`)}:1`, ctx];
    const out = asRoot ? asRootCli(args) : asCaller(args);
    assert.equal(out.code, 0, out.stderr);
    const layers = await layerOwners(join(dir.path, `out-${name}`));
    assert.equal(layers.length, 3);
    assert.equal(layers[1]?.get('made'), '0:0');
    assert.equal(layers[1]?.get('root-id'), '0:0');
    assert.equal(layers[2]?.get('home/app/mine'), '1000:1000');
    assert.equal(layers[2]?.get('home/app/app-id'), '1000:1000');
    for (const layer of layers) for (const [path, owner] of layer) assert.ok(!owner.includes(String(CALLER)), `${path} ${owner}`);
  }
});
