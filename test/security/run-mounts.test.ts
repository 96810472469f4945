// RUN --mount against hostile input: Dockerfile values that try to leave the build cache or the
// context (or a directory given with --build-context), links in it, image paths climbing past the
// root, files .dockerignore hides, links a step plants in a cache mount for prune to follow, and
// secrets leaking into blobs or output.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildSuite } from '../helpers/build-suite.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';
import { runCli } from '../helpers/run-cli.js';

/** Every regular file below `dir`, links not followed. */
async function filesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const info = await lstat(path);
    if (info.isDirectory()) out.push(...(await filesBelow(path)));
    else if (info.isFile()) out.push(path);
  }
  return out;
}

describe('RUN --mount attacks', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';

  before(async () => {
    await ensureEmulation(['amd64']);
    base = `${suite.reg.host}/busybox:attack`;
    await storeBusyboxIndex(base, ['amd64'], suite.dir.path);
    // Beside every context: what a mount must never reach.
    await mkdir(join(suite.dir.path, 'outside'), { recursive: true });
    await writeFile(join(suite.dir.path, 'outside', 'host-secret'), 'host only\n');
  });

  let count = 0;
  async function build(dockerfile: string, prepare?: (ctx: string) => Promise<void>, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
    const ctx = join(suite.dir.path, `ctx-${++count}`);
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    await prepare?.(ctx);
    const dest = join(suite.dir.path, `out-${count}`);
    const out = await runCli(['build', '--platform', 'linux/amd64', '-o', `type=local,dest=${dest}`, ...args, ctx], { env: { ...suite.env, ...env }, cwd: ctx });
    return { ...out, dest, ctx };
  }
  const cacheDir = () => join(suite.env.XDG_CACHE_HOME!, 'polyarch', 'build');

  test('a cache id of ../../x names a hashed folder inside the build cache, nothing outside it', async () => {
    const out = await build(`FROM ${base}\nRUN --mount=type=cache,id=../../x,target=/c sh -c 'echo planted > /c/f'\n`);
    assert.equal(out.code, 0, out.stderr);
    const mounts = join(cacheDir(), 'polyarch-cache-mounts');
    for (const name of await readdir(mounts)) assert.match(name, /^[0-9a-f]{64}$/);
    const planted = (await filesBelow(mounts)).filter((f) => f.endsWith('/f'));
    assert.equal(planted.length, 1);
    assert.equal(await readFile(planted[0]!, 'utf8'), 'planted\n');
    for (const dir of [cacheDir(), join(cacheDir(), '..'), join(cacheDir(), '..', '..'), join(mounts, '..', '..')]) assert.equal(existsSync(join(dir, 'x')), false, dir);
  });

  test('a bind source cannot leave the context by .. or by a symlink', async () => {
    const links = async (ctx: string) => {
      await symlink('../outside', join(ctx, 'up'));
      await symlink(join(suite.dir.path, 'outside'), join(ctx, 'abs'));
    };
    for (const source of ['../outside/host-secret', '../../../../../../etc/passwd', 'up/host-secret', 'abs/host-secret', 'up']) {
      const out = await build(`FROM ${base}\nRUN --mount=source=${source},target=/m cat /m > /got\n`, links);
      assert.equal(out.code, 2, `${source}: ${out.stderr}`);
      assert.match(out.stderr, new RegExp(`Dockerfile:2: RUN --mount source "${source.replaceAll('.', '\\.')}" not found in the build context`));
    }
    // The whole context mounted: its links resolve inside the step's own root, never on the host.
    const whole = await build(`FROM ${base}\nRUN --mount=target=/src sh -c 'cat /src/up/host-secret /src/abs/host-secret 2>/dev/null > /got; ls /src > /listed'\n`, links);
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(await readFile(join(whole.dest, 'got'), 'utf8'), '');
    assert.deepEqual((await readFile(join(whole.dest, 'listed'), 'utf8')).trim().split('\n'), ['Dockerfile', 'abs', 'up']);
  });

  test('a directory given with --build-context is held to itself: links out are not found, what its .dockerignore hides is not there', async () => {
    const named = join(suite.dir.path, 'named-context');
    await mkdir(named);
    await symlink('../outside', join(named, 'up'));
    await symlink(join(suite.dir.path, 'outside', 'host-secret'), join(named, 'abs'));
    await writeFile(join(named, '.dockerignore'), 'hidden\n');
    await writeFile(join(named, 'hidden'), 'HIDDEN\n');
    await symlink('hidden', join(named, 'alias'));
    const args = ['--build-context', `named=${named}`];
    for (const [line, error] of [
      ['COPY --from=named up/host-secret /x', /Dockerfile:2: COPY source "up\/host-secret" not found in the build context named/],
      ['COPY --from=named abs /x', /Dockerfile:2: COPY source "abs" not found in the build context named/],
      ['COPY --from=named ../outside/host-secret /x', /Dockerfile:2: COPY source "\.\.\/outside\/host-secret" is outside the build context named/],
      ['COPY --from=named alias /x', /Dockerfile:2: COPY source "alias" not found in the build context named/],
      ['RUN --mount=from=named,source=up/host-secret,target=/m cat /m', /Dockerfile:2: RUN --mount source "up\/host-secret" not found in named/],
      ['RUN --mount=from=named,source=hidden,target=/m cat /m', /Dockerfile:2: RUN --mount source "hidden" is excluded by \.dockerignore/],
    ] as const) {
      const out = await build(`FROM ${base}\n${line}\n`, undefined, args);
      assert.equal(out.code, 2, `${line}: ${out.stderr}`);
      assert.match(out.stderr, error, line);
    }
    // Mounted whole: its links resolve inside the step's own root, and what .dockerignore hides is left out.
    const whole = await build(`FROM ${base}\nRUN --mount=from=named,target=/n sh -c 'cat /n/up/host-secret /n/abs /n/alias 2>/dev/null > /got; ls -A /n > /listed'\n`, undefined, args);
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(await readFile(join(whole.dest, 'got'), 'utf8'), '');
    assert.deepEqual((await readFile(join(whole.dest, 'listed'), 'utf8')).trim().split('\n'), ['.dockerignore', 'abs', 'alias', 'up']);
    // A stage FROM it: its links stay links (never read), and what .dockerignore hides is not in the layer.
    const based = await build('FROM named\n', undefined, args);
    assert.equal(based.code, 0, based.stderr);
    assert.deepEqual((await readdir(based.dest)).sort(), ['.dockerignore', 'abs', 'alias', 'up']);
    for (const name of ['abs', 'alias', 'up']) assert.ok((await lstat(join(based.dest, name))).isSymbolicLink(), name);
  });

  test('an image source of /../.. is the image root, not the host', async () => {
    const out = await build(`FROM ${base}\nRUN --mount=from=${base},source=/../..,target=/img ls /img > /listed\n`);
    assert.equal(out.code, 0, out.stderr);
    const listed = (await readFile(join(out.dest, 'listed'), 'utf8')).trim().split('\n');
    assert.ok(listed.includes('bin') && listed.includes('etc'), listed.join(' '));
    assert.ok(!listed.includes('usr') && !listed.includes('var') && !listed.includes('proc'), listed.join(' '));
  });

  test('files .dockerignore hides are not visible through a bind mount, by name or through a link', async () => {
    const prepare = async (ctx: string) => {
      await writeFile(join(ctx, '.dockerignore'), 'private.key\nsecrets/\n');
      await writeFile(join(ctx, 'private.key'), 'PRIVATE\n');
      await mkdir(join(ctx, 'secrets'));
      await writeFile(join(ctx, 'secrets', 'db'), 'DB\n');
      await writeFile(join(ctx, 'public'), 'public\n');
      await symlink('private.key', join(ctx, 'alias'));
    };
    const whole = await build(`FROM ${base}\nRUN --mount=target=/src sh -c 'ls -A /src > /listed; cat /src/alias > /through-link 2>/dev/null; true'\n`, prepare);
    assert.equal(whole.code, 0, whole.stderr);
    assert.deepEqual((await readFile(join(whole.dest, 'listed'), 'utf8')).trim().split('\n'), ['.dockerignore', 'Dockerfile', 'alias', 'public']);
    assert.equal(await readFile(join(whole.dest, 'through-link'), 'utf8'), '');
    for (const source of ['private.key', 'secrets', 'secrets/db', 'alias']) {
      const named = await build(`FROM ${base}\nRUN --mount=source=${source},target=/m cat /m > /got\n`, prepare);
      assert.equal(named.code, 2, `${source}: ${named.stderr}`);
      assert.match(named.stderr, /is excluded by \.dockerignore/);
    }
  });

  test('links a step plants in a cache mount: prune --all removes the cache mounts and nothing they point at', async () => {
    const victim = join(suite.dir.path, 'outside');
    const out = await build(
      `FROM ${base}\nRUN --mount=type=cache,target=/c sh -c 'ln -s ${victim} /c/abs; ln -s ../../../../../../../.. /c/up; ln -s ${victim}/host-secret /c/file; mkdir -p /c/locked/in; touch /c/locked/in/f; chmod 000 /c/locked'\n`,
    );
    assert.equal(out.code, 0, out.stderr);
    assert.ok(existsSync(join(cacheDir(), 'polyarch-cache-mounts')));
    const pruned = await runCli(['prune', '--all'], { env: suite.env });
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.equal(existsSync(join(cacheDir(), 'polyarch-cache-mounts')), false);
    assert.equal(await readFile(join(victim, 'host-secret'), 'utf8'), 'host only\n');
    assert.ok(existsSync(join(cacheDir(), 'index.json')) || existsSync(cacheDir()), 'the cache itself stays');
  });

  test('a secret reaches no blob, key or file of the cache or the exported layout, and a failing step cannot print it', async () => {
    const secret = 'hunter2-very-secret-value';
    const layoutDir = join(suite.dir.path, 'secret-layout');
    const dockerfile = [
      `FROM ${base}`,
      'RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /length',
      'RUN --mount=type=secret,id=tok,env=TOK sh -c \'test "$TOK" = "$(cat /dev/null)$TOK" && echo "${#TOK}" > /env-length\'',
      '',
    ].join('\n');
    const ctx = join(suite.dir.path, 'secret-ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    const env = { ...suite.env, TOK_VALUE: secret };
    const out = await runCli(['build', '--platform', 'linux/amd64', '--compression', 'uncompressed', '--secret', 'id=tok,env=TOK_VALUE', '-o', `oci:${layoutDir}`, ctx], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.ok(!out.stdout.includes(secret) && !out.stderr.includes(secret));
    const files = [...(await filesBelow(cacheDir())), ...(await filesBelow(layoutDir))];
    assert.ok(files.length > 5);
    for (const file of files) assert.ok(!(await readFile(file)).includes(secret), `the secret is in ${file}`);
    // The step did see it (its length went into the image).
    const layers = await filesBelow(join(layoutDir, 'blobs'));
    const texts = await Promise.all(layers.map((f) => readFile(f, 'latin1')));
    assert.ok(texts.some((t) => t.includes(`${secret.length}\n`)));

    // While a step runs, no process's command line holds the secret (any local user can read those).
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN --mount=type=secret,id=tok,env=TOK sh -c 'sleep 2; test -n "$TOK"'\n`);
    const running = runCli(['build', '--platform', 'linux/amd64', '--secret', 'id=tok,env=TOK_VALUE', ctx], { env });
    let sawStep = false;
    for (let tries = 0; tries < 40 && !sawStep; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const pid of await readdir('/proc').catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid)) continue;
        const cmdline = await readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0));
        assert.ok(!cmdline.includes(secret), `process ${pid} has the secret on its command line`);
        if (cmdline.includes('test -n "$TOK"')) sawStep = true;
      }
    }
    assert.ok(sawStep, 'the step was seen running');
    assert.equal((await running).code, 0);

    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN --mount=type=secret,id=tok,env=TOK sh -c 'echo "leaking $TOK"; exit 7'\n`);
    const failed = await runCli(['build', '--platform', 'linux/amd64', '--secret', 'id=tok,env=TOK_VALUE', ctx], { env });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /exited with code 7: leaking \*\*\*\*/);
    assert.ok(!failed.stderr.includes(secret));

    // A secret of several lines (a key, a .netrc) is shown a line at a time: each of its lines is masked, in the step's output and in the error.
    const key = join(suite.dir.path, 'key.pem');
    await writeFile(key, '-----BEGIN KEY-----\nTOPSECRETKEYMATERIAL\nMORE-KEY-MATERIAL\n-----END KEY-----\n');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN --mount=type=secret,id=key sh -c 'cat /run/secrets/key; exit 2'\n`);
    const keyed = await runCli(['build', '--platform', 'linux/amd64', '--progress=plain', '--secret', `id=key,src=${key}`, ctx], { env });
    assert.equal(keyed.code, 1, keyed.stderr);
    for (const line of ['TOPSECRETKEYMATERIAL', 'MORE-KEY-MATERIAL', 'BEGIN KEY']) assert.ok(!keyed.stderr.includes(line), `${line} shown: ${keyed.stderr}`);
    assert.match(keyed.stderr, /exited with code 2: \*\*\*\* \| \*\*\*\* \| \*\*\*\* \| \*\*\*\* \[STEP_FAILED\]/);
  });
});
