// Issue 9, item 2: COPY/ADD never read a host file through a symlink in the build context (or in
// an image copied from). Every context path is resolved as if the context were `/`: a link that
// leaves it is "not found", as BuildKit says; a link copied as part of a directory stays a link.
// The host "secrets" are marker files in a temp directory beside the context, not real /etc.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import { runCli, withoutProgress } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

interface Entry {
  readonly type: string;
  readonly linkname?: string;
  readonly text?: string;
}

/** A tar as bytes, from [name, content] pairs (gzip not needed: ADD takes plain tars too). */
async function tarOf(files: readonly (readonly [string, string])[]): Promise<Buffer> {
  const tar = pack();
  for (const [name, content] of files) tar.entry({ name, mode: 0o644 }, content);
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every blob of an OCI layout, as bytes (layers decompressed), and the image's layer entries. */
async function readImage(layout: string): Promise<{ entries: Map<string, Entry>; bytes: string }> {
  const blob = (digest: string) => readFile(join(layout, 'blobs', 'sha256', digest.slice(7)));
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const top = JSON.parse((await blob(index.manifests[0]!.digest)).toString()) as { manifests?: { digest: string }[]; layers?: { digest: string }[] };
  const manifest = top.manifests ? (JSON.parse((await blob(top.manifests[0]!.digest)).toString()) as { layers: { digest: string }[] }) : top;
  const entries = new Map<string, Entry>();
  for (const layer of manifest.layers ?? []) {
    const tar = extract();
    tar.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        const text = header.type === 'file' ? Buffer.concat(chunks).toString() : undefined;
        entries.set(header.name.replace(/\/$/, ''), { type: header.type ?? 'file', ...(header.linkname ? { linkname: header.linkname } : {}), ...(text !== undefined ? { text } : {}) });
        next();
      });
    });
    await pipeline(Readable.from([gunzipSync(await blob(layer.digest))]), tar);
  }
  // Every byte the layout holds, layers decompressed: the marker must be in none of them.
  let bytes = '';
  for (const name of await readdir(join(layout, 'blobs', 'sha256'))) {
    const raw = await readFile(join(layout, 'blobs', 'sha256', name));
    bytes += raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw).toString('latin1') : raw.toString('latin1');
  }
  return { entries, bytes };
}

describe('9.2 build contexts: symlinks never lead out of the context', () => {
  let dir: { path: string; remove(): Promise<void> };
  let outside: string;
  let marker: string;
  let env: NodeJS.ProcessEnv;
  let count = 0;

  before(async () => {
    dir = await tempDir('polyarch-ctx-');
    env = { XDG_CACHE_HOME: join(dir.path, 'cache') };
    // The "host": files a context must never reach, each holding the marker.
    marker = `HOST-SECRET-${randomBytes(8).toString('hex')}`;
    outside = join(dir.path, 'host');
    await mkdir(outside);
    await writeFile(join(outside, 'marker.txt'), `${marker}\n`);
    await writeFile(join(outside, 'host-a'), `${marker} a\n`);
    await writeFile(join(outside, 'host-b'), `${marker} b\n`);
    await writeFile(join(outside, 'real.tar'), await tarOf([['stolen.txt', `${marker} tar\n`]]));
    await writeFile(join(outside, 'ignore'), 'keep.txt\n');
    await writeFile(join(outside, 'Dockerfile'), `FROM scratch\nCOPY keep.txt /from-host-dockerfile\n`);
  });
  after(() => dir.remove());

  /** A fresh context holding `files` and `links` (`$HOST` stands for the host directory), built to an OCI layout with the CLI. */
  async function build(dockerfile: string | undefined, files: Record<string, string | Buffer>, links: Record<string, string>) {
    const ctx = join(dir.path, `ctx-${++count}`);
    await mkdir(ctx);
    if (dockerfile !== undefined) await writeFile(join(ctx, 'Dockerfile'), dockerfile.replaceAll('$HOST', outside));
    for (const [name, content] of Object.entries(files)) {
      await mkdir(join(ctx, name, '..'), { recursive: true });
      await writeFile(join(ctx, name), content);
    }
    for (const [name, target] of Object.entries(links)) {
      await mkdir(join(ctx, name, '..'), { recursive: true });
      await symlink(target.replaceAll('$HOST', outside), join(ctx, name));
    }
    const out = join(dir.path, `out-${count}`);
    const result = await runCli(['build', '--platform', 'linux/amd64', '-o', `oci:${out}:1`, ctx], { env });
    return { ...result, out };
  }

  const escapes: { name: string; dockerfile?: string; links: Record<string, string>; files?: Record<string, string>; error: RegExp }[] = [
    { name: 'a file link to an absolute host path', dockerfile: 'FROM scratch\nCOPY shadowlink /s\n', links: { shadowlink: '$HOST/marker.txt' }, error: /COPY source "shadowlink" not found in the build context/ },
    { name: 'a glob under a directory link', dockerfile: 'FROM scratch\nCOPY etcdir/host* /h/\n', links: { etcdir: '$HOST' }, error: /COPY source "etcdir\/host\*" matches no file in the build context/ },
    { name: 'a plain path under a directory link', dockerfile: 'FROM scratch\nCOPY etcdir/host-a /h\n', links: { etcdir: '$HOST' }, error: /COPY source "etcdir\/host-a" not found in the build context/ },
    { name: 'a directory link as the source', dockerfile: 'FROM scratch\nCOPY etcdir /e/\n', links: { etcdir: '$HOST' }, error: /COPY source "etcdir" not found in the build context/ },
    { name: 'a relative link climbing out with ..', dockerfile: 'FROM scratch\nCOPY up /u\n', links: { up: '../host/marker.txt' }, error: /COPY source "up" not found in the build context/ },
    { name: 'a nested link climbing out with many ..', dockerfile: 'FROM scratch\nCOPY sub/deep /u\n', links: { 'sub/deep': '../../../../../../../../..$HOST/marker.txt' }, error: /COPY source "sub\/deep" not found in the build context/ },
    { name: 'a link to / followed by the host path', dockerfile: 'FROM scratch\nCOPY root$HOST/marker.txt /m\n', links: { root: '/' }, error: /not found in the build context/ },
    { name: 'a glob whose only match is a link out', dockerfile: 'FROM scratch\nCOPY shadow* /s/\n', links: { shadowlink: '$HOST/marker.txt' }, error: /COPY source "shadow\*" matches no file in the build context/ },
    { name: 'a glob in a directory reached through a link out', dockerfile: 'FROM scratch\nCOPY */host-? /h/\n', links: { etcdir: '$HOST' }, error: /matches no file in the build context/ },
    { name: 'a chain of links ending outside', dockerfile: 'FROM scratch\nCOPY a /a\n', links: { a: './b', b: 'd', d: '$HOST/marker.txt' }, error: /COPY source "a" not found in the build context/ },
    { name: 'ADD of a local tar that is a link out', dockerfile: 'FROM scratch\nADD payload.tar /x/\n', links: { 'payload.tar': '$HOST/real.tar' }, error: /COPY source "payload.tar" not found in the build context/ },
    { name: 'COPY --parents through a directory link', dockerfile: 'FROM scratch\nCOPY --parents etcdir/host-a /p/\n', links: { etcdir: '$HOST' }, error: /COPY source "etcdir\/host-a" not found in the build context/ },
    { name: 'a link loop', dockerfile: 'FROM scratch\nCOPY loop1 /l\n', links: { loop1: 'loop2', loop2: 'loop1' }, error: /COPY source "loop1"(: too many levels of symbolic links| not found)/ },
    { name: 'the context\'s Dockerfile linking to a host file', links: { Dockerfile: '$HOST/marker.txt' }, error: /cannot read .*Dockerfile: no such file in the build context/ },
    { name: 'the context\'s Dockerfile linking to a host Dockerfile', links: { Dockerfile: '$HOST/Dockerfile' }, files: { 'keep.txt': 'kept\n' }, error: /cannot read .*Dockerfile: no such file in the build context/ },
  ];

  for (const c of escapes) {
    test(`9.2 ${c.name}: one-line "not found", exit 2, no host bytes anywhere`, async () => {
      const result = await build(c.dockerfile, c.files ?? {}, c.links);
      assert.equal(result.code, 2, `exit code (stderr: ${result.stderr})`);
      assert.match(result.stderr, c.error);
      assert.equal(withoutProgress(result.stderr).trim().split('\n').length, 1, result.stderr);
      assert.ok(!result.stderr.includes(marker), 'the host file is never quoted');
      await assert.rejects(readdir(result.out), 'no output was written');
    });
  }

  test('9.2 a Dockerfile on standard input (-f -) is held to the same context: a link out is "not found", nothing written', async () => {
    const ctx = join(dir.path, `ctx-${++count}`);
    await mkdir(ctx);
    await symlink(join(outside, 'marker.txt'), join(ctx, 'shadowlink'));
    await symlink(outside, join(ctx, 'etcdir'));
    const out = join(dir.path, `out-${count}`);
    // A continued comment line too: it is dropped, and the COPY after it is still the one refused.
    const input = 'FROM scratch\nCOPY \\\n  # $HOST/marker.txt\n  etcdir/host-a /h\nCOPY shadowlink /s\n';
    const result = await runCli(['build', '--platform', 'linux/amd64', '-f', '-', '-o', `oci:${out}:1`, ctx], { env, input });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^polyarch: Dockerfile:2: COPY source "etcdir\/host-a" not found in the build context \[USAGE\]$/m);
    assert.ok(!result.stderr.includes(marker));
    await assert.rejects(readdir(out), 'no output was written');
  });

  test('9.2 links inside the context are followed inside it; links in a copied directory stay links, never read', async () => {
    const result = await build(
      'FROM scratch\nCOPY good /g\nCOPY good rel /named/\nCOPY data/ /d/\nCOPY datalink/re* /dl/\nADD archive.tar /t/\n',
      { 'data/real.txt': 'in the context\n', 'real-archive.tar': await tarOf([['inner.txt', 'from the archive\n']]) },
      // `/data/real.txt` names the context's own data/real.txt: the context is `/` to its links.
      { good: '/data/real.txt', rel: 'data/real.txt', datalink: '../../data', 'data/leak': '$HOST/marker.txt', 'data/dirleak': '$HOST', 'data/inner': 'real.txt', 'archive.tar': '/data/../real-archive.tar' },
    );
    assert.equal(result.code, 0, result.stderr);
    const { entries, bytes } = await readImage(result.out);
    assert.deepEqual(entries.get('g'), { type: 'file', text: 'in the context\n' });
    assert.deepEqual(entries.get('named/good'), { type: 'file', text: 'in the context\n' }, 'a followed link keeps its own name');
    assert.deepEqual(entries.get('named/rel'), { type: 'file', text: 'in the context\n' });
    assert.deepEqual(entries.get('d/real.txt'), { type: 'file', text: 'in the context\n' });
    assert.deepEqual(entries.get('d/leak'), { type: 'symlink', linkname: join(outside, 'marker.txt') }, 'a link in a directory stays a link');
    assert.deepEqual(entries.get('d/dirleak'), { type: 'symlink', linkname: outside });
    assert.deepEqual(entries.get('d/inner'), { type: 'symlink', linkname: 'real.txt' });
    assert.deepEqual(entries.get('dl/real.txt'), { type: 'file', text: 'in the context\n' });
    assert.deepEqual(entries.get('t/inner.txt'), { type: 'file', text: 'from the archive\n' });
    assert.ok(![...entries.keys()].some((p) => p.startsWith('d/dirleak/')), 'a directory link is not walked');
    assert.ok(!bytes.includes(marker), 'no host bytes in any blob');
  });

  for (const name of ['.dockerignore', 'Dockerfile.dockerignore']) {
    test(`9.2 a ${name} that links out of the context is not read`, async () => {
      // The host file would exclude keep.txt; read inside the context, the link leads nowhere.
      const result = await build('FROM scratch\nCOPY keep.txt /k\n', { 'keep.txt': 'kept\n' }, { [name]: '$HOST/ignore' });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual((await readImage(result.out)).entries.get('k'), { type: 'file', text: 'kept\n' });
    });
  }

  test('a Dockerfile or .dockerignore in the context that is a named pipe is not waited on: one line, exit 2', { timeout: 60_000 }, async () => {
    for (const name of ['Dockerfile', '.dockerignore']) {
      const ctx = join(dir.path, `fifo-${name}`);
      await mkdir(ctx);
      if (name !== 'Dockerfile') await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY keep.txt /k\n');
      await writeFile(join(ctx, 'keep.txt'), 'kept\n');
      // Nobody ever writes to it: a read would wait forever.
      execFileSync('mkfifo', [join(ctx, name)]);
      const result = await runCli(['build', '--platform', 'linux/amd64', '-o', `oci:${join(dir.path, `fifo-out-${name}`)}:1`, ctx], { env });
      if (name === 'Dockerfile') {
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, /^polyarch: cannot read .*Dockerfile: is not a regular file \[USAGE\]\n$/);
      } else {
        // An ignore file that is no file is no ignore file, as a missing one.
        assert.equal(result.code, 0, result.stderr);
      }
    }
  });

  test('9.2 COPY --from an image: a link in the image never reaches the host', async () => {
    // The image holds links to host paths (as a hostile base image would) ...
    const image = await build('FROM scratch\nCOPY data/ /\n', { 'data/ok.txt': 'ok\n' }, { 'data/leak': '$HOST/marker.txt', 'data/dirleak': '$HOST' });
    assert.equal(image.code, 0, image.stderr);
    // ... which COPY --from resolves inside the image's filesystem, as it would inside a container.
    for (const source of ['/leak', '/dirleak/host-a']) {
      const result = await build(`FROM scratch\nCOPY --from=oci:${image.out}:1 ${source} /m\n`, {}, {});
      assert.equal(result.code, 2, `${source}: ${result.stderr}`);
      assert.match(result.stderr, /not found in the image/);
      assert.ok(!result.stderr.includes(marker));
    }
    const glob = await build(`FROM scratch\nCOPY --from=oci:${image.out}:1 /ok.txt /ok\n`, {}, {});
    assert.equal(glob.code, 0, glob.stderr);
    assert.deepEqual((await readImage(glob.out)).entries.get('ok'), { type: 'file', text: 'ok\n' });
  });
});
