// The stage filesystem as a way in: a stage's root is made from hostile base layers and changed by
// hostile steps, then read by COPY --from=<stage> and by the steps of derived stages. Links the
// layers or the steps make (to the host, to `/`, climbing with `..`) resolve inside the stage's
// root, hard links to host files are refused, and a host directory beside the build (with a
// secret, a victim file and a subdirectory) is the same afterwards, with no output sharing its
// inodes or holding its secret.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { digestOfBytes } from '../../src/digest/digest.js';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import type { Descriptor } from '../../src/image/descriptor.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { parseLocation } from '../../src/reference/location.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { buildSuite } from '../helpers/build-suite.js';
import { copyBusyboxRoot } from '../helpers/busybox.js';
import { runCli, withoutProgress } from '../helpers/run-cli.js';
import { packToBuffer, tarOf, type TarEntry } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';
import { materializeLayers } from '../../src/layer/materialize.js';

const exec = promisify(execFile);

const dir = (name: string): TarEntry => ({ name, type: 'directory' });
const sym = (name: string, linkname: string): TarEntry => ({ name, type: 'symlink', linkname });
const hard = (name: string, linkname: string): TarEntry => ({ name, type: 'link', linkname });
const file = (name: string, content = 'pwned\n'): TarEntry => ({ name, content });
/** A relative link target that climbs far above any root, then names a host path. */
const climb = (host: string) => `${'../'.repeat(24)}${host.slice(1)}`;

/** Everything under `path`: type, mode, link count, inode, and link text or content. */
async function snapshot(path: string, rel = '', out = new Map<string, string>()): Promise<Map<string, string>> {
  const s = await lstat(path);
  let what = `${s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'link' : s.isFile() ? 'file' : 'other'} mode=${s.mode.toString(8)} nlink=${s.nlink} ino=${s.ino}`;
  if (s.isSymbolicLink()) what += ` -> ${await readlink(path)}`;
  else if (s.isFile()) what += ` ${(await readFile(path)).toString('base64')}`;
  out.set(rel, what);
  if (s.isDirectory()) for (const n of (await readdir(path)).sort()) await snapshot(join(path, n), rel ? `${rel}/${n}` : n, out);
  return out;
}

/** Every regular file under `path`, with its inode and content. */
async function filesUnder(path: string, found: { path: string; ino: number; content: Buffer }[] = []) {
  const s = await lstat(path).catch(() => undefined);
  if (s?.isDirectory()) for (const n of await readdir(path)) await filesUnder(join(path, n), found);
  else if (s?.isFile()) found.push({ path, ino: s.ino, content: await readFile(path) });
  return found;
}

/** Pushes a linux/amd64 image whose layers are the given tars (gzipped) as REPO:1. */
async function pushImage(registry: string, repo: string, tars: readonly Buffer[]): Promise<string> {
  const { endpoint } = await createEndpointOpener().open(parseLocation(`${registry}/${repo}:1`), 'write');
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const tar of tars) {
    const gz = gzipSync(tar);
    const layer: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOfBytes(gz), size: gz.length };
    await endpoint.putBlob(layer, Readable.from([gz]));
    layers.push(layer);
    diffIds.push(digestOfBytes(tar));
  }
  const config = rawFromJson({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: diffIds }, history: [] }, MediaType.OciConfig);
  const configDescriptor: Descriptor = { mediaType: config.mediaType, digest: config.digest, size: config.size };
  await endpoint.putBlob(configDescriptor, Readable.from([config.bytes]));
  await endpoint.putManifest(rawFromJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDescriptor, layers }, MediaType.OciManifest), { tag: '1' });
  return `${registry}/${repo}:1`;
}

describe('stage filesystem: hostile layers and steps stay inside the stage root', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let busyboxTar = Buffer.alloc(0);

  before(async () => {
    await ensureEmulation(['amd64']);
    const root = await copyBusyboxRoot('amd64', join(suite.dir.path, 'busybox'));
    busyboxTar = (await exec('tar', ['--numeric-owner', '-cf', '-', '-C', root, '.'], { encoding: 'buffer', maxBuffer: 64 << 20 })).stdout;
  });

  /** A host directory the build must not touch: a secret, a victim, a subdirectory. */
  async function hostFor(name: string) {
    const host = join(suite.dir.path, `host-${name}`);
    const marker = `HOST-SECRET-${randomBytes(8).toString('hex')}`;
    await mkdir(join(host, 'sub'), { recursive: true });
    await writeFile(join(host, 'marker'), marker);
    await writeFile(join(host, 'victim'), 'victim\n');
    await writeFile(join(host, 'sub', 'keep'), 'keep\n');
    return { host, marker, before: await snapshot(host) };
  }

  async function assertUntouched(h: Awaited<ReturnType<typeof hostFor>>, output: string): Promise<void> {
    assert.deepEqual([...(await snapshot(h.host))], [...h.before], 'the host directory changed');
    const hostInodes = new Set((await filesUnder(h.host)).map((f) => f.ino));
    for (const f of await filesUnder(output)) {
      assert.ok(!hostInodes.has(f.ino), `${f.path} is a hard link to a host file`);
      assert.ok(!f.content.includes(h.marker), `${f.path} holds the host's secret`);
    }
  }

  async function build(name: string, dockerfile: string, files: Record<string, string> = {}) {
    const ctx = join(suite.dir.path, `ctx-${name}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    for (const [path, content] of Object.entries(files)) await writeFile(join(ctx, path), content);
    const dest = join(suite.dir.path, `out-${name}`);
    const out = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=local,dest=${dest}`, ctx], { env: suite.env });
    return { ...out, dest };
  }

  test('a base whose layers make links to the host and then write, delete and empty through them: the stage root holds it all', async () => {
    const h = await hostFor('base');
    const image = await pushImage(suite.reg.host, 'evil-stage-base', [
      busyboxTar,
      await tarOf([sym('x', h.host), sym('r', climb(h.host)), dir('etc'), file('etc/ok', 'fine\n')]),
      await tarOf([file('x/evil-abs'), file('r/evil-rel'), file('x/.wh.victim'), file('r/sub/.wh..wh..opq'), file('x/marker', 'overwritten\n')]),
    ]);
    // The step reads through the links (inside its root), the later stage copies the whole root.
    // With a COPY before the RUN, the COPY unpacks the layers first (for the RUN ahead) instead of
    // scanning them; built first, while nothing has unpacked them yet.
    for (const [name, copyFirst] of [['base-copy-first', 'COPY f /f\n'], ['base', '']] as const) {
      const dockerfile = `FROM ${image} AS b\n${copyFirst}RUN cat /x/marker /r/evil-rel > /read\nFROM scratch\nCOPY --from=b / /got/\n`;
      const out = await build(name, dockerfile, { f: 'f\n' });
      await assertUntouched(h, out.dest);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(await readFile(join(out.dest, 'got', 'read'), 'utf8'), 'overwritten\npwned\n', 'the step saw the files inside its root');
      assert.equal(await readFile(join(out.dest, 'got', h.host, 'evil-abs'), 'utf8'), 'pwned\n', 'the write landed inside the root');
    }
  });

  test('links a step makes (to /, to the host, climbing out) resolve inside the stage root when a later stage copies through them', async () => {
    const h = await hostFor('step-links');
    const image = await pushImage(suite.reg.host, 'plain-stage-base', [busyboxTar]);
    const step = `echo stage-hostname > /etc/hostname && ln -s / /x && ln -s ${h.host}/marker /ln && ln -s ${climb(h.host)} /up && ln -s ${h.host} /dir`;
    const inside = await build('step-links', `FROM ${image} AS b\nRUN ${step}\nFROM scratch\nCOPY --from=b /x/etc/hostname /h\n`);
    await assertUntouched(h, inside.dest);
    assert.equal(inside.code, 0, inside.stderr);
    assert.equal(await readFile(join(inside.dest, 'h'), 'utf8'), 'stage-hostname\n', "the stage's own /etc/hostname, not the host's");
    for (const source of ['/ln', '/up/marker', '/dir/marker', `/x${h.host}/marker`, `/../../../../..${h.host}/marker`, '/dir/sub/']) {
      const out = await build('step-links-out', `FROM ${image} AS b\nRUN ${step}\nFROM scratch\nCOPY --from=b ${source} /stolen\n`);
      await assertUntouched(h, out.dest);
      assert.equal(out.code, 2, `${source}: ${out.stderr}`);
      assert.match(out.stderr, /not found in stage b/, source);
    }
  });

  test('a step that turns a directory into a link to the host: a later COPY into it and COPY --from through it stay in the root', async () => {
    const h = await hostFor('retarget');
    const image = await pushImage(suite.reg.host, 'retarget-base', [busyboxTar, await tarOf([dir('opt'), file('opt/app', 'app\n')])]);
    const dockerfile = [
      `FROM ${image} AS b`,
      `RUN rm -rf /opt && ln -s ${h.host} /opt`,
      'COPY payload /opt/planted',
      'RUN cat /opt/planted > /seen && echo step > /opt/victim',
      'FROM scratch',
      'COPY --from=b /opt/ /got/',
      'COPY --from=b /seen /seen',
      '',
    ].join('\n');
    const out = await build('retarget', dockerfile, { payload: 'planted\n' });
    await assertUntouched(h, out.dest);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await readFile(join(out.dest, 'seen'), 'utf8'), 'planted\n');
    assert.equal(await readFile(join(out.dest, 'got', 'planted'), 'utf8'), 'planted\n');
    assert.equal(await readFile(join(out.dest, 'got', 'victim'), 'utf8'), 'step\n');
  });

  test('a base that hard-links a host file (through a link, or climbing) is refused when the stage root is made', async () => {
    const h = await hostFor('hard');
    for (const [n, linkname] of [`x/marker`, `${climb(h.host)}/marker`].entries()) {
      const image = await pushImage(suite.reg.host, `evil-stage-hard-${n}`, [busyboxTar, await tarOf([sym('x', h.host), file('ok'), hard('stolen', linkname)])]);
      const out = await build(`hard-${n}`, `FROM ${image} AS b\nCOPY ok /ok\nFROM scratch\nCOPY --from=b /stolen /stolen\n`, { ok: 'ok\n' });
      await assertUntouched(h, out.dest);
      assert.notEqual(out.code, 0, 'the build should fail');
      assert.match(out.stderr, /\[LAYOUT_INVALID\]/);
      assert.equal(withoutProgress(out.stderr).trim().split('\n').length, 1, out.stderr);
    }
  });

  test('a hard link a step makes inside its root is copied as the stage file it names', async () => {
    const image = await pushImage(suite.reg.host, 'hard-inside-base', [busyboxTar]);
    const out = await build('hard-inside', `FROM ${image} AS b\nRUN ln /etc/passwd /hl\nFROM scratch\nCOPY --from=b /hl /etc/passwd /got/\n`);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await readFile(join(out.dest, 'got', 'hl'), 'utf8'), await readFile(join(out.dest, 'got', 'passwd'), 'utf8'));
    assert.match(await readFile(join(out.dest, 'got', 'hl'), 'utf8'), /^root:/);
  });
});

test('extended attributes from a hostile layer: only user.* and file capabilities, never through a link, never on the host', async () => {
  const tmp = await tempDir('polyarch-xattr-');
  try {
    const root = join(tmp.path, 'root');
    const host = join(tmp.path, 'host');
    await mkdir(root);
    await mkdir(host);
    await writeFile(join(host, 'f'), 'host file\n');
    const entry = (tar: Parameters<Parameters<typeof packToBuffer>[0]>[0], header: Record<string, unknown>, body?: string) =>
      new Promise<void>((resolve, reject) => tar.entry({ mtime: new Date(0), mode: 0o644, ...header } as never, body ?? (undefined as never), (error?: Error | null) => (error ? reject(error) : resolve())));
    const xattr = (pairs: Record<string, string>) => Object.fromEntries(Object.entries(pairs).map(([k, v]) => [`SCHILY.xattr.${k}`, v]));
    const layer = await packToBuffer(async (tar) => {
      await entry(tar, { name: 'a', type: 'file', pax: xattr({ 'user.ok': 'kept', 'trusted.evil': '1', 'security.selinux': 'system_u:object_r:shadow_t:s0', 'system.posix_acl_access': 'x' }) }, 'a\n');
      // Attributes on a link would be set on what it points to by a careless extractor.
      await entry(tar, { name: 'l', type: 'symlink', linkname: join(host, 'f'), pax: xattr({ 'user.evil': '1' }) });
      // A file with attributes, then its directory replaced by a link to the host in the same layer.
      await entry(tar, { name: 'd/', type: 'directory', mode: 0o755 });
      await entry(tar, { name: 'd/f', type: 'file', pax: xattr({ 'user.evil': '1' }) }, 'f\n');
      await entry(tar, { name: 'd', type: 'symlink', linkname: host });
    });
    await materializeLayers(root, [{ mediaType: MediaType.OciLayer, digest: 'sha256:hostile' }], async () => Readable.from([layer]));
    const attrs = async (path: string) => (await exec('getfattr', ['-h', '-d', '-m', '-', '--absolute-names', path])).stdout.split('\n').slice(1).filter(Boolean);
    assert.deepEqual(await attrs(join(root, 'a')), ['user.ok="kept"']);
    assert.deepEqual(await attrs(join(host, 'f')), [], 'a host file got attributes');
    assert.deepEqual(await attrs(host), []);
  } finally {
    await tmp.remove();
  }
});
