// Item 9.17: `docker save` stores a layer shared by two images once; the second image's
// `<id>/layer.tar` is a relative symlink to the first (moby image/tarexport). Links are followed
// inside the archive's own namespace only: a link that leaves the archive, or a loop, is refused
// with one line, and the filesystem is never read through one.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { lstat, mkdir, open, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tarOf as tarEntries, type TarEntry } from '../helpers/tar.js';
import { digestOfBytes } from '../../src/digest/digest.js';
import { CLI_PATH, runCli, withoutProgress } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

interface TarItem {
  readonly name: string;
  readonly data?: Buffer;
  readonly symlink?: string;
  readonly hardlink?: string;
}

/** The archive's items as tar entries: a file's bytes, or a symbolic or hard link. */
function tarOf(items: readonly TarItem[]): Promise<Buffer> {
  return tarEntries(
    items.map((item): TarEntry =>
      item.symlink !== undefined
        ? { name: item.name, type: 'symlink', linkname: item.symlink }
        : item.hardlink !== undefined
          ? { name: item.name, type: 'link', linkname: item.hardlink }
          : { name: item.name, content: item.data ?? Buffer.alloc(0) },
    ),
  );
}

/** An uncompressed layer holding one file. */
async function layer(name: string): Promise<Buffer> {
  return tarOf([{ name, data: Buffer.from(`content of ${name}\n`) }]);
}

const ID_A1 = 'a1'.repeat(32);
const ID_A2 = 'a2'.repeat(32);
const ID_B1 = 'b1'.repeat(32);
const ID_B2 = 'b2'.repeat(32);
const ID_C = 'cc'.repeat(32);

interface Saved {
  readonly base: Buffer;
  readonly topA: Buffer;
  readonly topB: Buffer;
}

/**
 * A legacy `docker save` of a:1 and b:1, which share their base layer. `shared` says how b's copy
 * of the base layer is stored (moby writes a relative symlink); `prefix` is prepended to entry names.
 */
async function dockerSave(saved: Saved, shared: readonly TarItem[], bBaseLayer = `${ID_B1}/layer.tar`): Promise<Buffer> {
  const config = (top: Buffer): Buffer =>
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOfBytes(saved.base), digestOfBytes(top)] } }));
  const configA = config(saved.topA);
  const configB = config(saved.topB);
  const hex = (b: Buffer): string => digestOfBytes(b).slice(7);
  const manifest = [
    { Config: `${hex(configA)}.json`, RepoTags: ['a:1'], Layers: [`${ID_A1}/layer.tar`, `${ID_A2}/layer.tar`] },
    { Config: `${hex(configB)}.json`, RepoTags: ['b:1'], Layers: [bBaseLayer, `${ID_B2}/layer.tar`] },
  ];
  return tarOf([
    { name: `${ID_A1}/layer.tar`, data: saved.base },
    { name: `${ID_A2}/layer.tar`, data: saved.topA },
    ...shared,
    { name: `${ID_B2}/layer.tar`, data: saved.topB },
    { name: `${hex(configA)}.json`, data: configA },
    { name: `${hex(configB)}.json`, data: configB },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) },
  ]);
}

describe('9.17 docker-archive links', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let saved: Saved;

  before(async () => {
    dir = await tempDir();
    saved = { base: await layer('base.txt'), topA: await layer('a.txt'), topB: await layer('b.txt') };
  });

  after(async () => {
    await dir?.remove();
  });

  const GOOD: ReadonlyArray<{ readonly name: string; readonly shared: readonly TarItem[]; readonly bBaseLayer?: string }> = [
    { name: "moby's relative symlink to the other image's layer", shared: [{ name: `${ID_B1}/layer.tar`, symlink: `../${ID_A1}/layer.tar` }] },
    { name: 'a symlinked layer directory', shared: [{ name: ID_B1, symlink: ID_A1 }] },
    { name: 'a chain of two links', shared: [{ name: `${ID_C}/layer.tar`, symlink: `../${ID_A1}/layer.tar` }, { name: `${ID_B1}/layer.tar`, symlink: `../${ID_C}/layer.tar` }] },
    { name: 'a hard link', shared: [{ name: `${ID_B1}/layer.tar`, hardlink: `${ID_A1}/layer.tar` }] },
    { name: 'names spelled with ./ and //', shared: [{ name: `./${ID_B1}//layer.tar`, symlink: `./../${ID_A1}/./layer.tar` }], bBaseLayer: `./${ID_B1}/layer.tar` },
  ];

  for (const [i, { name, shared, bBaseLayer }] of GOOD.entries()) {
    test(`9.17 a shared layer stored as ${name} is read through the link`, async () => {
      const archive = join(dir.path, `good-${i}.tar`);
      await writeFile(archive, await dockerSave(saved, shared, bBaseLayer));
      const out = join(dir.path, `out-${i}`);
      const copied = await runCli(['copy', `docker-archive:${archive}:b:1`, `oci:${out}:b`]);
      assert.equal(copied.code, 0, copied.stderr);
      const shown = await runCli(['--json', 'inspect', `oci:${out}:b`]);
      assert.equal(shown.code, 0, shown.stderr);
      const layers = (JSON.parse(shown.stdout) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
      assert.deepEqual(layers, [digestOfBytes(saved.base), digestOfBytes(saved.topB)]);
    });
  }

  const BAD: ReadonlyArray<{ readonly name: string; readonly shared: readonly TarItem[]; readonly message: RegExp }> = [
    { name: 'an absolute symlink', shared: [{ name: `${ID_B1}/layer.tar`, symlink: '/etc/passwd' }], message: /leaves the archive/ },
    { name: 'a symlink climbing out with ..', shared: [{ name: `${ID_B1}/layer.tar`, symlink: '../../../../../../etc/passwd' }], message: /goes above the root of the archive/ },
    { name: 'a directory symlink to /', shared: [{ name: ID_B1, symlink: '/' }], message: /leaves the archive/ },
    { name: 'a hard link climbing out', shared: [{ name: `${ID_B1}/layer.tar`, hardlink: '../etc/passwd' }], message: /goes above the root of the archive/ },
    {
      name: 'a loop of two symlinks',
      shared: [{ name: `${ID_C}/layer.tar`, symlink: `../${ID_B1}/layer.tar` }, { name: `${ID_B1}/layer.tar`, symlink: `../${ID_C}/layer.tar` }],
      message: /more than 40 links/,
    },
    { name: 'a directory linked to itself', shared: [{ name: ID_B1, symlink: `./${ID_B1}` }], message: /more than 40 links/ },
    { name: 'a dangling symlink', shared: [{ name: `${ID_B1}/layer.tar`, symlink: `../${ID_C}/layer.tar` }], message: /which is not in the archive/ },
  ];

  for (const [i, { name, shared, message }] of BAD.entries()) {
    test(`9.17 ${name} is refused with one line`, async () => {
      const archive = join(dir.path, `bad-${i}.tar`);
      await writeFile(archive, await dockerSave(saved, shared));
      const out = await runCli(['inspect', `docker-archive:${archive}:b:1`]);
      assert.equal(out.code, 1, out.stdout);
      assert.match(out.stderr, message);
      assert.match(out.stderr, /\[LAYOUT_INVALID\]\n$/);
      assert.equal(out.stderr.split('\n').length, 2, out.stderr);
      assert.doesNotMatch(out.stderr, /root:/, 'nothing of the host file is read');
    });
  }
});

/** A ustar header for a regular file `name` of `size` bytes (the bytes themselves are left to the caller: a sparse file). */
function fileHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  const octal = (value: number, at: number, width: number) => header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'latin1');
  header.write(name, 0, 'latin1');
  octal(0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  header.write('        ', 148, 'latin1');
  header.write('0', 156, 'latin1');
  header.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return header;
}

describe('9.17 docker-archive sizes, counts, types and kinds', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir('polyarch-archive-limits-')));
  after(() => dir.remove());

  const refused = async (archive: string, message: RegExp) => {
    const out = await runCli(['inspect', `docker-archive:${archive}`]);
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, message);
    assert.match(out.stderr, /\[LAYOUT_INVALID\]\n$/);
    assert.equal(out.stderr.split('\n').length, 2, out.stderr);
  };

  test('9.17 a 3 GiB manifest.json (sparse) is refused by its size, not read (node aborted past 2 GiB)', async () => {
    const archive = join(dir.path, 'huge-manifest.tar');
    const size = 3 * 1024 ** 3;
    const handle = await open(archive, 'w');
    await handle.write(fileHeader('manifest.json', size), 0, 512, 0);
    await handle.truncate(512 + size + 1024); // the data and the end-of-archive blocks, as holes
    await handle.close();
    await refused(archive, /manifest\.json is 3221225472 bytes, more than the 16777216 it may have/);
  });

  test('9.17 layer paths that are not text, and a million layer paths in a small manifest.json, are refused before any is read', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const save = async (name: string, manifest: unknown) => {
      const archive = join(dir.path, name);
      await writeFile(archive, await tarOf([{ name: 'c.json', data: config }, { name: 'l.tar', data: await layer('x') }, { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) }]));
      return archive;
    };
    await refused(await save('numbers.tar', [{ Config: 'c.json', Layers: [42] }]), /a Layers entry is not a path/);
    await refused(await save('tags.tar', [{ Config: 'c.json', RepoTags: 'app:1', Layers: ['l.tar'] }]), /RepoTags is not a list of names/);
    await refused(await save('million.tar', [{ Config: 'c.json', Layers: Array.from({ length: 1_000_000 }, () => 'l.tar') }]), /more than 100000 layers in all/);
  });

  test('9.17 an archive that is a FIFO is refused at once, not waited on', async () => {
    const fifo = join(dir.path, 'pipe.tar');
    execFileSync('mkfifo', [fifo]);
    for (const kind of ['docker-archive', 'oci-archive']) {
      const out = await runCli(['inspect', `${kind}:${fifo}`]);
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, /pipe\.tar: is not a regular file \(an archive is read from a file\) \[LAYOUT_INVALID\]\n$/);
    }
  });

  test('9.17 SIGTERM stops the opening of an archive whose unnamed 100 GiB layer is being hashed', async () => {
    const archive = join(dir.path, 'big-layer.tar');
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const head = await tarOf([{ name: 'c.json', data: config }, { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: 'c.json', Layers: ['big/layer.tar'] }])) }]);
    // The small entries, without their end-of-archive blocks, then the big layer as a hole.
    const body = head.subarray(0, head.length - 1024);
    const size = 100 * 1024 ** 3;
    const handle = await open(archive, 'w');
    await handle.write(body, 0, body.length, 0);
    await handle.write(fileHeader('big/layer.tar', size), 0, 512, body.length);
    await handle.truncate(body.length + 512 + size + 1024);
    await handle.close();
    const child = spawn(process.execPath, [CLI_PATH, 'inspect', `docker-archive:${archive}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    await delay(1500);
    const sent = Date.now();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 143, stderr);
    assert.ok(Date.now() - sent < 10_000, `stopped ${Date.now() - sent} ms after SIGTERM`);
    assert.match(stderr, /terminated \[INTERRUPTED\]/);
  });
});

describe('archive destinations that are not regular files', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let source = '';
  let context = '';
  before(async () => {
    dir = await tempDir('polyarch-archive-dest-');
    context = join(dir.path, 'context');
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\nCOPY f /f\n');
    await writeFile(join(context, 'f'), 'f\n');
    source = join(dir.path, 'source');
    const built = await runCli(['build', '--platform', 'linux/amd64', '-o', `oci:${source}:1`, context], { env: { XDG_CACHE_HOME: join(dir.path, 'cache') } });
    assert.equal(built.code, 0, built.stderr);
  });
  after(() => dir.remove());

  test('a device, a named pipe or a link where an archive goes is refused in one line and left as it was; nothing is written through the link', async () => {
    const victim = join(dir.path, 'victim.txt');
    await writeFile(victim, 'keep\n');
    const places: [string, RegExp][] = [
      [join(dir.path, 'pipe.tar'), /is a named pipe, not a file/],
      [join(dir.path, 'link.tar'), /is a symbolic link, not a file/],
    ];
    execFileSync('mkfifo', [places[0]![0]]);
    await symlink(victim, places[1]![0]);
    // A device (what /dev/null is): root only.
    if (process.getuid?.() === 0) {
      places.push([join(dir.path, 'null.tar'), /is a device, not a file/]);
      execFileSync('mknod', [places[2]![0], 'c', '1', '3']);
    }
    const env = { XDG_CACHE_HOME: join(dir.path, 'cache') };
    for (const [place, said] of places) {
      const before = await lstat(place);
      const runs = [
        ['copy', `oci:${source}:1`, `docker-archive:${place}`],
        ['copy', `oci:${source}:1`, `oci-archive:${place}`],
        ['build', '--platform', 'linux/amd64', '-o', `type=tar,dest=${place}`, context],
        ['build', '--platform', 'linux/amd64', '-o', `type=oci,dest=${place}`, context],
        ['build', '--platform', 'linux/amd64', '-o', `type=docker,dest=${place}`, context],
      ];
      for (const args of runs) {
        const out = await runCli(args, { env });
        assert.equal(out.code, 2, `${args.join(' ')}: ${out.stderr}`);
        assert.match(withoutProgress(out.stderr), said);
        assert.equal(withoutProgress(out.stderr).trim().split('\n').length, 1, out.stderr);
        const after = await lstat(place);
        assert.equal(after.ino, before.ino, `${place} was replaced`);
        assert.equal(after.mode, before.mode);
      }
    }
    assert.equal(await readFile(victim, 'utf8'), 'keep\n');
    // type=local into something that is not a directory: one line, not a raw EEXIST.
    const local = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=local,dest=${victim}`, context], { env });
    assert.equal(local.code, 2, local.stderr);
    assert.match(local.stderr, /victim\.txt is not a directory/);
  });
  test('temp names a writer left beside an archive are swept without following them: a planted link (to a file or a directory) goes, what it points at stays', async () => {
    const out = join(dir.path, 'swept');
    const host = join(dir.path, 'swept-host');
    await mkdir(join(host, 'tree'), { recursive: true });
    await writeFile(join(host, 'file.txt'), 'host file\n');
    await writeFile(join(host, 'tree', 'inside.txt'), 'host tree\n');
    await mkdir(out);
    // Named as a dead writer's temp (no process has pid 999999 here): what the sweep removes.
    await symlink(join(host, 'file.txt'), join(out, '.tmp-999999-abcdef.polyarch-tmp'));
    await symlink(join(host, 'tree'), join(out, '.rootfs-999999-abcdef.polyarch-tmp'));
    const env = { XDG_CACHE_HOME: join(dir.path, 'cache') };
    const run = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=tar,dest=${join(out, 'rootfs.tar')}`, context], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await readdir(out), ['rootfs.tar']);
    assert.equal(await readFile(join(host, 'file.txt'), 'utf8'), 'host file\n');
    assert.equal(await readFile(join(host, 'tree', 'inside.txt'), 'utf8'), 'host tree\n');
  });
});
