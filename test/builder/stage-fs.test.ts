// The stage filesystem: COPY --from=<stage> reads everything the stage holds (its base image's
// files, what its RUN steps made, not what they deleted) with owners and modes as the layers give
// them; COPY and RUN layers interleave; named pipes are kept and devices and sockets left out.
// Bases are multi-arch busybox images made here; results are read back from an OCI layout with tar.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chown, chmod, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildImages } from '../../src/builder/build.js';
import { diffTree } from '../../src/layer/diff.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { snapshotTree } from '../../src/layer/snapshot.js';
import { storeBaseIndex } from '../helpers/base-images.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { buildSuite } from '../helpers/build-suite.js';
import { BUSYBOX_ARCHES, copyBusyboxRoot, type BusyboxArch } from '../helpers/busybox.js';
import { runCli, withoutProgress } from '../helpers/run-cli.js';

const exec = promisify(execFile);
const ARCHES: readonly BusyboxArch[] = ['amd64', 'arm64'];
const PLATFORMS = ARCHES.map((a) => BUSYBOX_ARCHES[a].platform).join(',');
/** A version 2 file capability: cap_setuid and cap_net_raw, permitted and effective. */
const CAPABILITY = Buffer.from('0100000280200000000000000000000000000000', 'hex');
/** 2001-01-01, in seconds: the time the base's /etc/base-file carries (its /opt: a minute later). */
const BASE_TIME = 978_307_200;

interface Layer {
  readonly blob: string;
}

/** The layers of the image a layout's index has for `arch`. */
async function layersOf(layout: string, arch: string): Promise<Layer[]> {
  const blob = (digest: string) => join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const json = async (digest: string) => JSON.parse(await readFile(blob(digest), 'utf8')) as Record<string, unknown>;
  const top = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  let index = await json(top.manifests[0]!.digest);
  const entry = (index.manifests as { digest: string; platform: { architecture: string } }[]).find((m) => m.platform.architecture === arch);
  assert.ok(entry, `an ${arch} image`);
  index = await json(entry.digest);
  return (index.layers as { digest: string }[]).map((l) => ({ blob: blob(l.digest) }));
}

/** `tar -tv` of every layer: path → "mode uid/gid", newest layer winning. */
async function listing(layers: readonly Layer[]): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  for (const layer of layers) {
    for (const line of (await exec('tar', ['-tvzf', layer.blob, '--numeric-owner'])).stdout.split('\n').filter(Boolean)) {
      const [mode, owner, , , , path] = line.split(/\s+/);
      entries.set(path!.replace(/\/$/, ''), `${mode} ${owner}`);
    }
  }
  return entries;
}

/** One file's text from the newest layer that has it. */
async function fileText(layers: readonly Layer[], path: string): Promise<string | undefined> {
  for (const layer of [...layers].reverse()) {
    const out = await exec('tar', ['-xOzf', layer.blob, path]).catch(() => undefined);
    if (out) return out.stdout;
  }
  return undefined;
}

describe('stage filesystem', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';
  const passwd = new Map<BusyboxArch, string>();

  // Each platform's base: busybox, /etc/base-file, and /opt/owned owned by 1000:1000 with mode 4750.
  before(async () => {
    await ensureEmulation(ARCHES);
    base = `${suite.reg.host}/busybox:stage-fs`;
    const parts = [];
    for (const arch of ARCHES) {
      const root = await copyBusyboxRoot(arch, join(suite.dir.path, `base-${arch}`));
      await writeFile(join(root, 'etc', 'base-file'), `from the ${arch} base\n`);
      await mkdir(join(root, 'opt'), { recursive: true });
      await writeFile(join(root, 'opt', 'owned'), 'owned\n');
      await chown(join(root, 'opt', 'owned'), 1000, 1000);
      await chmod(join(root, 'opt', 'owned'), 0o4750);
      // Times from 2001, as an old base's files have: a stage must see these, not its unpack's.
      await utimes(join(root, 'etc', 'base-file'), BASE_TIME, BASE_TIME);
      await utimes(join(root, 'opt'), BASE_TIME + 60, BASE_TIME + 60);
      passwd.set(arch, await readFile(join(root, 'etc', 'passwd'), 'utf8'));
      parts.push({ platform: BUSYBOX_ARCHES[arch].platform, dir: root });
    }
    await storeBaseIndex(base, parts);
  });

  async function build(name: string, dockerfile: string, files: Record<string, string> = {}, platforms = PLATFORMS) {
    const ctx = join(suite.dir.path, name);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [path, content] of Object.entries(files)) await writeFile(join(ctx, path), content);
    const layout = join(suite.dir.path, `${name}-out`);
    const out = await runCli(['build', '--platform', platforms, '-o', `oci:${layout}:1`, ctx], { env: suite.env, cwd: ctx });
    return { ...out, layout };
  }

  test('COPY --from a stage reads base files and what its RUN made, owners and modes kept; what it deleted is not found', async () => {
    const dockerfile = [
      `FROM ${base} AS b`,
      'RUN uname -m > /made && chown 1000:1000 /made && chmod 640 /made && rm /etc/base-file',
      'FROM scratch',
      'COPY --from=b /etc/passwd /opt/owned /made /got/',
      '',
    ].join('\n');
    const out = await build('whole', dockerfile);
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ARCHES) {
      const layers = await layersOf(out.layout, BUSYBOX_ARCHES[arch].platform.split('/')[1]!);
      assert.equal(layers.length, 1, 'scratch plus one COPY');
      assert.equal(await fileText(layers, 'got/passwd'), passwd.get(arch), 'a file of the base image');
      assert.equal(await fileText(layers, 'got/made'), `${BUSYBOX_ARCHES[arch].machine}\n`, 'a file the step made');
      const entries = await listing(layers);
      assert.equal(entries.get('got/owned'), '-rwsr-x--- 1000/1000', 'the base layer\'s owner and setuid mode');
      assert.equal(entries.get('got/made'), '-rw-r----- 1000/1000', 'the owner and mode the step set');
    }
    const deleted = await build('deleted', `FROM ${base} AS b\nRUN rm /etc/base-file\nFROM scratch\nCOPY --from=b /etc/base-file /x\n`, {}, 'linux/arm64');
    assert.equal(deleted.code, 2, deleted.stderr);
    assert.match(deleted.stderr, /Dockerfile:4: COPY source "\/etc\/base-file" not found in stage b/);
    assert.equal(withoutProgress(deleted.stderr).trim().split('\n').length, 1);
  });

  test("a step sees its base's files with the layers' modification times, not the unpack's", async () => {
    const dockerfile = [`FROM ${base} AS b`, 'RUN stat -c %Y /etc/base-file /opt > /times', 'FROM scratch', 'COPY --from=b /times /got/', ''].join('\n');
    const out = await build('times', dockerfile);
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ARCHES) {
      const layers = await layersOf(out.layout, BUSYBOX_ARCHES[arch].platform.split('/')[1]!);
      assert.equal(await fileText(layers, 'got/times'), `${BASE_TIME}\n${BASE_TIME + 60}\n`, `${arch}: the times the step saw`);
    }
  });

  test('COPY into a folder the stage links elsewhere writes through the link, and into a folder it has without a trailing slash, as BuildKit does', async () => {
    const dockerfile = [
      `FROM ${base}`,
      // As Debian's usr-merge: the folder is a link into /usr; a relative and an absolute link.
      'RUN mkdir -p /usr/tools /opt/real && ln -s usr/tools /tools && ln -s /opt/real /opt/abs',
      'COPY f /tools/',
      'COPY f /opt/abs/sub/g',
      // A folder the stage has (or a link to one) is copied into even without a trailing slash.
      'COPY f /etc',
      'COPY g /opt/abs',
      'RUN test -L /tools && test -L /opt/abs && cat /usr/tools/f /opt/real/sub/g /etc/f /opt/real/g > /seen',
      // A link a step deleted is not followed any more: the COPY makes the folder.
      'RUN rm /tools',
      'COPY f /tools/again',
      'RUN test -d /tools && ! test -L /tools && test ! -e /usr/tools/again && cat /tools/again > /seen-again',
      '',
    ].join('\n');
    const out = await build('through-links', dockerfile, { f: 'copied\n', g: 'g\n' }, 'linux/amd64');
    assert.equal(out.code, 0, out.stderr);
    const layers = await layersOf(out.layout, 'amd64');
    const copies = await listing(layers.slice(-8, -4));
    assert.ok(copies.has('usr/tools/f'), [...copies.keys()].join(' '));
    assert.ok(copies.has('opt/real/sub/g'), [...copies.keys()].join(' '));
    assert.equal(copies.has('tools'), false, 'the link is not replaced by a directory');
    assert.equal(copies.has('opt/abs'), false);
    assert.ok(copies.has('etc/f') && copies.has('opt/real/g'), [...copies.keys()].join(' '));
    assert.equal(await fileText(layers, 'seen'), 'copied\ncopied\ncopied\ng\n');
    const again = await listing(layers.slice(-2, -1));
    assert.ok(again.has('tools/again') && !again.has('usr/tools/again'), [...again.keys()].join(' '));
    assert.equal(await fileText(layers, 'seen-again'), 'copied\n');
  });

  test('COPY and RUN interleave; a later COPY --from sees the stage as its last step left it', async () => {
    const dockerfile = [
      `FROM ${base} AS b`,
      'COPY a /a',
      'RUN cat /a /etc/base-file > /b',
      'COPY c /c',
      'FROM b AS d',
      'RUN cat /b /c > /d && rm /a',
      'FROM scratch',
      'COPY --from=b /a /b /c /from-b/',
      'COPY --from=d /d /from-d/',
      'COPY --from=d /etc/base-file /from-d/',
      '',
    ].join('\n');
    const out = await build('interleave', dockerfile, { a: 'first\n', c: 'second\n' });
    assert.equal(out.code, 0, out.stderr);
    for (const arch of ARCHES) {
      const layers = await layersOf(out.layout, BUSYBOX_ARCHES[arch].platform.split('/')[1]!);
      const baseFile = `from the ${arch} base\n`;
      assert.equal(await fileText(layers, 'from-b/a'), 'first\n');
      assert.equal(await fileText(layers, 'from-b/b'), `first\n${baseFile}`);
      assert.equal(await fileText(layers, 'from-b/c'), 'second\n', 'a COPY after the stage\'s last RUN');
      assert.equal(await fileText(layers, 'from-d/d'), `first\n${baseFile}second\n`);
      assert.equal(await fileText(layers, 'from-d/base-file'), baseFile, 'a derived stage reads its base stage\'s base image');
    }
    const gone = await build('interleave-gone', `${dockerfile}COPY --from=d /a /x\n`, { a: 'first\n', c: 'second\n' }, 'linux/amd64');
    assert.equal(gone.code, 2, gone.stderr);
    assert.match(gone.stderr, /Dockerfile:11: COPY source "\/a" not found in stage d/);
  });

  test('--exclude, --chown, --chmod, --parents and globs work on a stage as on the context', async () => {
    const dockerfile = [
      `FROM ${base} AS b`,
      'RUN mkdir -p /data/sub && echo one > /data/sub/keep.bin && echo two > /data/sub/skip.txt && echo three > /data/top.bin',
      'FROM scratch',
      'COPY --from=b --exclude=**/*.txt --chown=7:8 /data/ /d/',
      'COPY --from=b --parents --chmod=600 /data/sub/keep.bin /p/',
      'COPY --from=b /data/*.bin /g/',
      '',
    ].join('\n');
    const out = await build('flags', dockerfile, {}, 'linux/arm64');
    assert.equal(out.code, 0, out.stderr);
    const entries = await listing(await layersOf(out.layout, 'arm64'));
    assert.equal(entries.get('d/sub/keep.bin'), '-rw-r--r-- 7/8');
    assert.equal(entries.get('d/top.bin'), '-rw-r--r-- 7/8');
    assert.equal(entries.has('d/sub/skip.txt'), false, '--exclude');
    assert.equal(entries.get('p/data/sub/keep.bin'), '-rw------- 0/0', '--parents and --chmod');
    assert.equal(entries.get('g/top.bin'), '-rw-r--r-- 0/0', 'a glob');
    assert.equal(entries.has('g/sub'), false);
  });

  test('COPY --from its own stage or a later one is refused on its line', async () => {
    const cases = [
      { dockerfile: `FROM ${base} AS b\nCOPY --from=b /etc/passwd /x\n`, error: /Dockerfile:2: COPY --from=b names this stage itself: a stage can copy only from the stages before it/ },
      { dockerfile: `FROM ${base}\nCOPY --from=0 /etc/passwd /x\n`, error: /Dockerfile:2: COPY --from=0 names this stage itself/ },
      { dockerfile: `FROM scratch AS a\nCOPY --from=later /x /x\nFROM ${base} AS later\nFROM a\n`, error: /Dockerfile:2: COPY --from=later names a later stage/ },
    ];
    for (const c of cases) {
      const out = await build('self', c.dockerfile, {}, 'linux/amd64');
      assert.equal(out.code, 2, out.stderr);
      assert.match(out.stderr, c.error);
      assert.equal(withoutProgress(out.stderr).trim().split('\n').length, 1, out.stderr);
    }
  });

  test('a named pipe a step made is kept in its layer and copied as a pipe, never opened', async () => {
    const dockerfile = [`FROM ${base} AS b`, 'RUN mkfifo -m 620 /pipe', 'FROM b AS c', 'RUN test -p /pipe && echo yes > /seen', 'FROM scratch', 'COPY --from=c /pipe /seen /got/', ''].join('\n');
    const out = await build('fifo', dockerfile, {}, 'linux/amd64');
    assert.equal(out.code, 0, out.stderr);
    const layers = await layersOf(out.layout, 'amd64');
    assert.equal((await listing(layers)).get('got/pipe'), 'prw--w---- 0/0');
    assert.equal(await fileText(layers, 'got/seen'), 'yes\n', 'the derived stage\'s root (a copy of its origin\'s) has the pipe');
  });

  test('a device node a step made is left out of its layer; the build goes on', async () => {
    // A user namespace may make only the 0/0 character device (overlayfs's whiteout), which is
    // enough to see it skipped; only in a copied root: an overlay mount refuses to make it.
    const context = join(suite.dir.path, 'device');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), `FROM ${base}\nRUN busybox mknod /whiteout-device c 0 0 && echo kept > /kept\n`);
    const amd64 = parsePlatform('linux/amd64');
    const result = await buildImages({ context, platforms: [amd64], buildPlatform: amd64, cacheDir: join(suite.dir.path, 'device-cache'), stageRoots: 'copy' });
    const blob = (digest: string) => join(result.layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
    const manifest = JSON.parse(await readFile(blob(result.images[0]!.digest), 'utf8')) as { layers: { digest: string }[] };
    const layers = manifest.layers.map((l) => ({ blob: blob(l.digest) }));
    const entries = await listing(layers.slice(-1));
    assert.equal(entries.has('whiteout-device'), false);
    assert.equal(await fileText(layers, 'kept'), 'kept\n');
  });

  test('extended attributes: a base file\'s capability and user attribute reach the stage root and the layer of a step that touches it; trusted ones never', async () => {
    const root = await copyBusyboxRoot('amd64', join(suite.dir.path, 'xattr-base'));
    await mkdir(join(root, 'opt'), { recursive: true });
    await writeFile(join(root, 'opt', 'capped'), 'capped\n');
    await writeFile(join(root, 'opt', 'noted'), 'noted\n');
    // cap_setuid,cap_net_raw+ep: a binary value with a byte above 0x7f, as a capability usually has.
    await exec('setfattr', ['-n', 'security.capability', '-v', `0s${CAPABILITY.toString('base64')}`, join(root, 'opt', 'capped')]);
    await exec('setfattr', ['-n', 'user.note', '-v', 'hé=llo', join(root, 'opt', 'noted')]);
    await exec('setfattr', ['-n', 'trusted.secret', '-v', 'host-only', join(root, 'opt', 'noted')]);
    const tar = join(suite.dir.path, 'xattr-base.tar');
    await exec('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', tar, '-C', root, '.']);
    const image = `${suite.reg.host}/busybox:xattrs`;
    await storeBaseIndex(image, [{ platform: 'linux/amd64', tar }]);
    const out = await build('xattrs', `FROM ${image}\nRUN touch /opt/capped /opt/noted && echo new > /opt/new\n`, {}, 'linux/amd64');
    assert.equal(out.code, 0, out.stderr);
    const layers = await layersOf(out.layout, 'amd64');
    const unpacked = join(suite.dir.path, 'xattrs-step-layer');
    await mkdir(unpacked);
    await exec('tar', ['--xattrs', '--xattrs-include=*', '-xzf', layers.at(-1)!.blob, '-C', unpacked]);
    const attrs = async (path: string) => (await exec('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', join(unpacked, path)])).stdout.split('\n').slice(1).filter(Boolean);
    assert.deepEqual(await attrs('opt/capped'), [`security.capability=0x${CAPABILITY.toString('hex')}`]);
    assert.deepEqual(await attrs('opt/noted'), [`user.note=0x${Buffer.from('hé=llo').toString('hex')}`], 'user attributes kept, trusted ones never applied');
    assert.deepEqual(await attrs('opt/new'), []);
    // COPY --from a stage keeps them too.
    const copied = await build('xattrs-copy', `FROM ${image} AS b\nRUN touch /opt/capped\nFROM scratch\nCOPY --from=b /opt/ /got/\n`, {}, 'linux/amd64');
    assert.equal(copied.code, 0, copied.stderr);
    await exec('tar', ['--xattrs', '--xattrs-include=*', '-xzf', (await layersOf(copied.layout, 'amd64')).at(-1)!.blob, '-C', unpacked]);
    assert.deepEqual(await attrs('got/capped'), [`security.capability=0x${CAPABILITY.toString('hex')}`]);
    assert.deepEqual(await attrs('got/noted'), [`user.note=0x${Buffer.from('hé=llo').toString('hex')}`]);
  });

  test('devices and sockets are left out of a step\'s layer and listed as skipped', async () => {
    const root = join(suite.dir.path, 'specials');
    await mkdir(root, { recursive: true });
    const before = await snapshotTree(root);
    await exec('mknod', [join(root, 'null'), 'c', '1', '3']);
    await exec('mknod', [join(root, 'disk'), 'b', '7', '0']);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve));
    try {
      await writeFile(join(root, 'file'), 'kept\n');
      const changes = await diffTree(before);
      assert.deepEqual(changes.entries.map((e) => `${e.type} ${e.path}`), ['file file']);
      assert.deepEqual([...changes.skipped].sort(), ['disk', 'null', 'sock']);
      assert.deepEqual(changes.notices.map((n) => n.type).sort(), ['block-device', 'char-device', 'socket']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
