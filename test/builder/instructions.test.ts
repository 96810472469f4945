// Dockerfile features beyond plain COPY, read back by tools we did not write (skopeo, tar, zstd):
// here-documents, --parents, --chown by name from the base image, symlinks, parent directories
// that keep the base's modes, zstd layers and
// buildx-style annotations.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, cp, link, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildSuite } from '../helpers/build-suite.js';
import { runCli, withoutProgress } from '../helpers/run-cli.js';

const exec = promisify(execFile);
const FIXTURES = new URL('../../../test/fixtures/build/', import.meta.url).pathname;
const EXAMPLE = new URL('../../../examples/hello', import.meta.url).pathname;

interface Pulled {
  readonly dir: string;
  readonly manifest: { annotations?: Record<string, string>; layers: { digest: string; mediaType: string }[] };
}

/** skopeo's own pull of one architecture, into a `dir:` copy. */
async function pull(into: string, ref: string, arch: string): Promise<Pulled> {
  const dir = join(into, `pull-${arch}-${Date.now()}`);
  await exec('skopeo', ['copy', '--src-tls-verify=false', '--override-os', 'linux', '--override-arch', arch, `docker://${ref}`, `dir:${dir}`]);
  return { dir, manifest: JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Pulled['manifest'] };
}

/** `tar -tv` of every layer (system tar; zstd layers through the zstd program): path → "mode uid/gid [-> link]". */
async function listing(pulled: Pulled): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  for (const layer of pulled.manifest.layers) {
    const blob = join(pulled.dir, layer.digest.slice(7));
    const read = layer.mediaType.endsWith('+zstd') ? `zstd -dc '${blob}' | tar -tvf - --numeric-owner` : `tar -tvzf '${blob}' --numeric-owner`;
    for (const line of (await exec('sh', ['-c', read])).stdout.split('\n').filter(Boolean)) {
      const fields = line.split(/\s+/);
      const [mode, owner, , , , path] = fields;
      // `a -> b` for a symbolic link, `a link to b` for a hard link.
      const target = fields[6] === '->' ? ` -> ${fields[7]}` : fields[6] === 'link' ? ` link to ${fields[8]}` : '';
      entries.set(path!.replace(/\/$/, ''), `${mode} ${owner}${target}`);
    }
  }
  return entries;
}

/** One file's bytes from the newest layer that has it. */
async function fileText(pulled: Pulled, path: string): Promise<string | undefined> {
  for (const layer of [...pulled.manifest.layers].reverse()) {
    const blob = join(pulled.dir, layer.digest.slice(7));
    const read = layer.mediaType.endsWith('+zstd') ? `zstd -dc '${blob}' | tar -xOf - '${path}'` : `tar -xOzf '${blob}' '${path}'`;
    const out = await exec('sh', ['-c', `${read} 2>/dev/null`]).catch(() => undefined);
    if (out) return out.stdout;
  }
  return undefined;
}

describe('build: instructions and layer formats', () => {
  const suite = buildSuite();

  test('here-documents, --parents, --chown by name from the base, --chmod, symlinks, parent directories', async () => {
    const { reg, dir, env } = suite;
    const users = join(dir.path, 'users');
    await cp(join(FIXTURES, 'users'), users, { recursive: true });
    await mkdir(join(users, 'tmp'));
    await writeFile(join(users, 'tmp', '.keep'), '');
    await chmod(join(users, 'tmp'), 0o1777);
    const base = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '-t', `${reg.host}/users:1`, '--push', users], { env });
    assert.equal(base.code, 0, base.stderr);
    const ref = `${reg.host}/instructions:1`;
    const out = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${reg.host}/users:1`, '-t', ref, '--push', join(FIXTURES, 'instructions')], { env });
    assert.equal(out.code, 0, out.stderr);

    const arm = await pull(dir.path, ref, 'arm64');
    assert.equal(await fileText(arm, 'etc/motd'), 'hello from arm64\n', 'an unquoted here-document expands build args');
    assert.equal(await fileText(arm, 'usr/local/bin/SCRIPT'), '#!/bin/sh\necho "$TARGETARCH stays as written"\n', 'a quoted one is kept as written, tabs stripped by <<-');
    const entries = await listing(arm);
    assert.equal(entries.get('usr/local/bin/SCRIPT'), '-rwxr-xr-x 0/0');
    assert.equal(entries.get('etc/motd'), '-rw-r--r-- 0/0');
    assert.equal(entries.get('srv/docs/README.md'), '-rw-r--r-- 1001/50', 'app:staff from the base image');
    assert.equal(entries.get('srv/src/lib/core.txt'), '-rw-r--r-- 1001/50', '--parents keeps the source directories');
    assert.equal(entries.get('opt/lib/plugins/extra.txt'), '-rw-r--r-- 0/0', 'a /./ pivot keeps only what follows it');
    assert.equal(entries.get('app/lib/current'), 'lrwxrwxrwx 1001/1001 -> core.txt', 'a symlink stays a link; a user alone takes its uid as gid');
    assert.equal(entries.get('app/lib/plugins/extra.txt'), '-rw-r--r-- 1001/1001');
    assert.equal(entries.get('app/lib/plugins'), 'drwxr-xr-x 1001/1001', 'a copied directory is owned as --chown says');
    assert.equal(entries.get('app'), 'drwxr-xr-x 1001/1001', 'so is a directory the COPY creates');
    assert.equal(entries.get('tmp'), 'drwxrwxrwt 0/0', "a directory the base has keeps the base's mode and owner");
    assert.equal(entries.get('etc'), 'drwxr-xr-x 0/0');
    assert.deepEqual([...entries.keys()].filter((p) => p.startsWith('globbed/')), ['globbed/README.md', 'globbed/extra.txt'], 'globs match in every segment');
    assert.deepEqual([...entries.keys()].filter((p) => p.startsWith('trimmed/')), ['trimmed/current'], '--exclude (repeatable) drops plugins/ and core.txt');
    assert.equal(await fileText(await pull(dir.path, ref, 'amd64'), 'etc/motd'), 'hello from amd64\n');
  });

  test('zstd layers at a chosen level and annotations where buildx puts them', async () => {
    const { reg, dir, env } = suite;
    const ref = `${reg.host}/zstd:1`;
    const local = join(dir.path, 'zstd-local');
    const out = await runCli(
      [
        'build', '--platform', 'linux/amd64,linux/arm64', '--compression', 'zstd', '--compression-level', '19',
        '--annotation', 'index:org.opencontainers.image.description=demo',
        '--annotation', 'manifest[linux/arm64]:org.example.arm=yes',
        '--annotation', 'manifest-descriptor:org.example.entry=1',
        '-t', ref, '--push', '-o', `type=local,dest=${local}`, EXAMPLE,
      ],
      { env },
    );
    assert.equal(out.code, 0, out.stderr);
    const index = JSON.parse((await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout) as { annotations: Record<string, string>; manifests: { annotations?: Record<string, string> }[] };
    assert.deepEqual(index.annotations, { 'org.opencontainers.image.description': 'demo' });
    assert.deepEqual(index.manifests.map((m) => m.annotations), [{ 'org.example.entry': '1' }, { 'org.example.entry': '1' }]);
    const arm = await pull(dir.path, ref, 'arm64');
    assert.deepEqual(arm.manifest.annotations, { 'org.example.arm': 'yes' });
    assert.deepEqual(arm.manifest.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+zstd']);
    assert.equal(await fileText(arm, 'hello'), 'hello from arm64\n', 'the zstd program reads the layer');
    assert.equal((await pull(dir.path, ref, 'amd64')).manifest.annotations, undefined, 'the platform-limited annotation stays on arm64');
    assert.equal(await readFile(join(local, 'linux_arm64', 'hello'), 'utf8'), 'hello from arm64\n', 'polyarch unpacks its own zstd layers');
    const buildx = await runCli(['build', '-q', '--platform', 'linux/amd64', '-o', `type=oci,dest=${join(dir.path, 'z.tar')},compression=zstd`, EXAMPLE], { env });
    assert.equal(buildx.code, 0, buildx.stderr);
    const layout = join(dir.path, 'z-layout');
    await mkdir(layout);
    await exec('tar', ['-xf', join(dir.path, 'z.tar'), '-C', layout]);
    const top = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const image = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', (JSON.parse(await readFile(join(layout, 'blobs', 'sha256', top.manifests[0]!.digest.slice(7)), 'utf8')) as { manifests: { digest: string }[] }).manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { mediaType: string }[] };
    assert.equal(image.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd', 'buildx\'s compression= output attribute works too');
  });

  test('files a stage made from here-documents can be copied from and looked up by later stages', async () => {
    const { reg, dir, env } = suite;
    const ctx = join(dir.path, 'stages');
    await mkdir(ctx, { recursive: true });
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        'FROM scratch AS gen',
        'ARG TARGETARCH',
        'COPY <<EOF /etc/passwd',
        'svc:x:700:700::/:/bin/sh',
        'EOF',
        'COPY <<EOF /conf/app.yaml',
        'arch: ${TARGETARCH}',
        'EOF',
        'FROM gen AS owned',
        'COPY --chown=svc <<EOF /conf/owned',
        'mine',
        'EOF',
        'FROM scratch',
        'COPY --from=owned /conf/ /conf/',
        '',
      ].join('\n'),
    );
    const ref = `${reg.host}/stages:1`;
    const out = await runCli(['build', '--platform', 'linux/arm64', '-t', ref, '--push', ctx], { env });
    assert.equal(out.code, 0, out.stderr);
    const arm = await pull(dir.path, ref, 'arm64');
    assert.equal(await fileText(arm, 'conf/app.yaml'), 'arch: arm64\n');
    assert.equal((await listing(arm)).get('conf/owned'), '-rw-r--r-- 700/700', 'svc from the passwd a here-document wrote');
  });

  test('owners, modes and hard links survive COPY --from an image and ADD of a tar, unless --chown', async () => {
    const { reg, dir, env } = suite;
    const ctx = join(dir.path, 'keep-owners');
    await mkdir(join(ctx, 'payload'), { recursive: true });
    await writeFile(join(ctx, 'payload', 'setuid-tool'), '#!/bin/sh\n');
    await exec('ln', [join(ctx, 'payload', 'setuid-tool'), join(ctx, 'payload', 'hard-linked')]);
    await exec('tar', ['-cf', join(ctx, 'tools.tar'), '--owner=1234', '--group=5678', '--mode=4755', '-C', join(ctx, 'payload'), 'setuid-tool', 'hard-linked']);
    // An image that holds conf/owned as 700:700, to copy from.
    const source = join(dir.path, 'owned-source');
    await mkdir(source, { recursive: true });
    await writeFile(join(source, 'Dockerfile'), 'FROM scratch\nCOPY <<EOF /etc/passwd\nsvc:x:700:700::/:/bin/sh\nEOF\nCOPY --chown=svc <<EOF /conf/owned\nmine\nEOF\n');
    const pushed = await runCli(['build', '--platform', 'linux/arm64', '-t', `${reg.host}/owned-source:1`, '--push', source], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nADD tools.tar /usr/bin/\nCOPY --from=${reg.host}/owned-source:1 /conf/owned /kept/\nCOPY --from=${reg.host}/owned-source:1 --chown=1:1 /conf/owned /chowned/\n`);
    const ref = `${reg.host}/keep-owners:1`;
    const out = await runCli(['build', '--platform', 'linux/arm64', '-t', ref, '--push', ctx], { env });
    assert.equal(out.code, 0, out.stderr);
    const entries = await listing(await pull(dir.path, ref, 'arm64'));
    // A hard link in the tar stays one, as BuildKit's unpack and copy keep it: the name that sorts first holds the bytes.
    assert.equal(entries.get('usr/bin/hard-linked'), '-rwsr-xr-x 1234/5678');
    assert.equal(entries.get('usr/bin/setuid-tool'), 'hrwsr-xr-x 1234/5678 link to usr/bin/hard-linked');
    assert.equal(entries.get('kept/owned'), '-rw-r--r-- 700/700');
    assert.equal(entries.get('chowned/owned'), '-rw-r--r-- 1/1');
  });

  test("a base's ONBUILD triggers run first in the child build and are not passed on", async () => {
    const { reg, dir, env } = suite;
    const base = join(dir.path, 'onbuild-base');
    await mkdir(base, { recursive: true });
    await writeFile(join(base, 'Dockerfile'), 'FROM scratch\nONBUILD COPY app.txt /onbuild/\nONBUILD ENV TRIGGERED=yes\n');
    assert.equal((await runCli(['build', '--platform', 'linux/amd64', '-t', `${reg.host}/onbuild-base:1`, '--push', base], { env })).code, 0);
    const child = join(dir.path, 'onbuild-child');
    await mkdir(child, { recursive: true });
    await writeFile(join(child, 'app.txt'), 'from the child context\n');
    await writeFile(join(child, 'Dockerfile'), `FROM ${reg.host}/onbuild-base:1\nLABEL child=1\n`);
    const ref = `${reg.host}/onbuild-child:1`;
    const out = await runCli(['build', '--platform', 'linux/amd64', '-t', ref, '--push', child], { env });
    assert.equal(out.code, 0, out.stderr);
    const amd = await pull(dir.path, ref, 'amd64');
    assert.equal(await fileText(amd, 'onbuild/app.txt'), 'from the child context\n');
    const config = JSON.parse((await exec('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout) as { config: { Env: string[]; OnBuild?: string[] } };
    assert.ok(config.config.Env.includes('TRIGGERED=yes'));
    assert.equal(config.config.OnBuild, undefined);
  });

  test('ADD URL downloads (redirects followed), checks --checksum, keeps mode 600, never unpacks', async () => {
    const { dir, env } = suite;
    const payload = randomBytes(100_000);
    const digest = createHash('sha256').update(payload).digest('hex');
    const server = createServer((request, response) => {
      if (request.url === '/redirect') response.writeHead(302, { location: '/files/tool.bin' }).end();
      else if (request.url === '/files/tool.bin') response.writeHead(200).end(payload);
      else response.writeHead(404).end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const ctx = join(dir.path, 'add-url');
      await mkdir(ctx, { recursive: true });
      await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nADD ${base}/files/tool.bin /opt/\nADD --checksum=sha256:${digest} --chmod=755 ${base}/redirect /bin/tool\n`);
      const local = join(dir.path, 'add-url-out');
      const out = await runCli(['build', '-o', `type=local,dest=${local}`, ctx], { env });
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(await readFile(join(local, 'opt', 'tool.bin')), payload);
      assert.equal((await stat(join(local, 'opt', 'tool.bin'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(local, 'bin', 'tool'))).mode & 0o777, 0o755);

      await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nADD --checksum=sha256:${'0'.repeat(64)} ${base}/files/tool.bin /opt/\n`);
      const wrong = await runCli(['build', '-o', `type=local,dest=${join(dir.path, 'never')}`, ctx], { env, cwd: ctx });
      assert.equal(wrong.code, 1, `a digest mismatch is exit 1 wherever it happens: ${wrong.stderr}`);
      assert.match(withoutProgress(wrong.stderr), new RegExp(`^polyarch: Dockerfile:2: ${base}/files/tool.bin: content is sha256:${digest}, not the --checksum given`));
      // A checksum is of one download: never taken for a file of the context (it would go unchecked) nor for several sources.
      await writeFile(join(ctx, 'local.bin'), payload);
      for (const sources of ['local.bin', `${base}/files/tool.bin ${base}/redirect`]) {
        await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nADD --checksum=sha256:${digest} ${sources} /opt/\n`);
        const refused = await runCli(['build', '-o', `type=local,dest=${join(dir.path, 'never')}`, ctx], { env, cwd: ctx });
        assert.equal(refused.code, 2, refused.stderr);
        assert.match(withoutProgress(refused.stderr), /^polyarch: Dockerfile:2: ADD --checksum: takes one source, an http\(s\) URL, not "/);
      }
      await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nADD ${base}/missing /opt/\n`);
      const missing = await runCli(['build', ctx], { env, cwd: ctx });
      assert.equal(missing.code, 1, missing.stderr);
      assert.match(missing.stderr, /Dockerfile:2: http:\/\/127\.0\.0\.1:\d+\/missing: HTTP 404/);
    } finally {
      server.close();
    }
  });

  test('bad input: unclosed here-document, unknown user, a required variable, a bad HEALTHCHECK or EXPOSE, a multi-platform docker archive, bad compression or annotation', async () => {
    const { reg, dir, env } = suite;
    const cases: [string, string[], RegExp][] = [
      ['FROM scratch\nCOPY <<EOF /x\nhi\n', [], /Dockerfile:2: here-document <<EOF has no closing EOF line/],
      ['FROM scratch\nCOPY --chown=nobody <<EOF /x\nhi\nEOF\n', [], /Dockerfile:2: --chown=nobody: user "nobody" is not in the image's \/etc\/passwd/],
      ['FROM scratch\nARG NAME\nCOPY <<EOF /x\n${NAME:?NAME is required}\nEOF\n', [], /Dockerfile:3: NAME: NAME is required/],
      ['FROM scratch\n', ['--platform', 'linux/amd64,linux/arm64', '-o', 'type=docker,dest=x.tar'], /--output type=docker,dest=x.tar: a docker archive holds one platform, not 2/],
      ['FROM scratch\nHEALTHCHECK --interval=soon CMD true\n', [], /Dockerfile:2: HEALTHCHECK --interval=soon: expected a duration/],
      ['FROM scratch\nHEALTHCHECK --retries=0x5 CMD true\n', [], /Dockerfile:2: HEALTHCHECK --retries=0x5: expected a whole number/],
      ['FROM scratch\nEXPOSE http\n', [], /Dockerfile:2: EXPOSE http: expected PORT\[-PORT\]/],
      ['FROM scratch\n', ['--compression', 'lz4'], /compression "lz4" is not one of gzip, zstd, uncompressed/],
      ['FROM scratch\n', ['--compression-level', '12'], /compression level "12" is out of range for gzip \(0–9\)/],
      ['FROM scratch\n', ['--annotation', 'layer:k=v'], /--annotation layer:k=v: type "layer" is not one of/],
      // A whole number too big is out of range, not "not a whole number".
      ['FROM scratch\n', ['--source-date-epoch', '99999999999999999'], /--source-date-epoch 99999999999999999 is out of range \(0–\d+\)/],
    ];
    const ctx = join(dir.path, 'bad');
    for (const [dockerfile, extra, message] of cases) {
      await mkdir(ctx, { recursive: true });
      await writeFile(join(ctx, 'Dockerfile'), dockerfile);
      const out = await runCli(['build', ...extra, '-t', `${reg.host}/never:1`, '--push', ctx], { env, cwd: ctx });
      assert.equal(out.code, 2, `${dockerfile}: ${out.stderr}`);
      assert.match(out.stderr, message);
      assert.equal(withoutProgress(out.stderr).split('\n').length, 2, out.stderr);
    }
    assert.equal((await fetch(`${reg.url}/v2/never/tags/list`)).status, 404, 'nothing was pushed');
  });
  test('COPY to `.` or a path ending in `/.` puts the file inside that directory, as BuildKit does', async () => {
    const { dir, env } = suite;
    const ctx = join(dir.path, 'dot-dest');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nWORKDIR /src\nCOPY a .\nCOPY b sub/.\nCOPY c ./c-file\n');
    for (const name of ['a', 'b', 'c']) await writeFile(join(ctx, name), `${name}\n`);
    const dest = join(dir.path, 'dot-dest-out');
    const out = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=local,dest=${dest}`, ctx], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await readFile(join(dest, 'src', 'a'), 'utf8'), 'a\n');
    assert.equal(await readFile(join(dest, 'src', 'sub', 'b'), 'utf8'), 'b\n');
    assert.equal(await readFile(join(dest, 'src', 'c-file'), 'utf8'), 'c\n', 'without a trailing slash the destination is the file');
  });

  test('COPY of an empty directory makes its destination, and names of one file stay hard links, as BuildKit copies them', async () => {
    const { dir, env } = suite;
    const ctx = join(dir.path, 'empty-and-links');
    await mkdir(join(ctx, 'empty'), { recursive: true });
    await mkdir(join(ctx, 'hl', 'sub'), { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY empty /emptyd/\nCOPY empty /deep/er\nCOPY hl /hl/\n');
    await writeFile(join(ctx, 'hl', 'one'), 'one\n');
    await link(join(ctx, 'hl', 'one'), join(ctx, 'hl', 'sub', 'two'));
    await link(join(ctx, 'hl', 'one'), join(ctx, 'hl', 'a-three'));
    const tar = join(dir.path, 'empty-and-links.tar');
    const out = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=tar,dest=${tar}`, ctx], { env });
    assert.equal(out.code, 0, out.stderr);
    const listed = (await exec('tar', ['-tvf', tar])).stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(5).join(' '));
    for (const path of ['emptyd/', 'deep/', 'deep/er/']) assert.ok(listed.includes(path), `${path} in ${listed.join(', ')}`);
    // The name that sorts first holds the bytes; the others link to it.
    assert.ok(listed.includes('hl/a-three'), listed.join(', '));
    assert.ok(listed.includes('hl/one link to hl/a-three'), listed.join(', '));
    assert.ok(listed.includes('hl/sub/two link to hl/a-three'), listed.join(', '));
  });
});
