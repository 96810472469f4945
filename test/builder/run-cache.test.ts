// The RUN cache and reproducible RUN layers. A step appends a line to a cache mount each time it
// really runs, so the line count says how many times it ran: an unchanged rebuild must add none,
// and each change to what the step sees (command, environment, a bind mount's content) one.
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildSuite } from '../helpers/build-suite.js';
import { ensureEmulation } from '../helpers/binfmt.js';
import { storeBusyboxIndex } from '../helpers/busybox-index.js';
import { runCli } from '../helpers/run-cli.js';

describe('RUN cache', { timeout: 600_000 }, () => {
  const suite = buildSuite();
  let base = '';

  /** The layer digests of the base's image for `platform`, read from the registry. */
  async function baseLayers(platform: string): Promise<string[]> {
    const [host, rest] = [base.slice(0, base.indexOf('/')), base.slice(base.indexOf('/') + 1)];
    const [repo, tag] = rest.split(':') as [string, string];
    const get = async (ref: string) => (await (await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' } })).json()) as { manifests?: unknown; layers?: unknown };
    const index = await get(tag);
    const entry = (index.manifests as { digest: string; platform: { os: string; architecture: string } }[]).find((m) => `${m.platform.os}/${m.platform.architecture}` === platform)!;
    return ((await get(entry.digest)).layers as { digest: string }[]).map((l) => l.digest);
  }


  before(async () => {
    await ensureEmulation(['amd64', 'arm64']);
    base = `${suite.reg.host}/busybox:cache`;
    await storeBusyboxIndex(base, ['amd64', 'arm64'], suite.dir.path);
  });

  test('an unchanged rebuild runs nothing; command, environment and bind content changes run again; ignored files and secret values do not', async () => {
    const ctx = join(suite.dir.path, 'ctx');
    await mkdir(ctx, { recursive: true });
    const dockerfile = (extra: string) =>
      [
        `FROM ${base}`,
        'ARG V=1',
        'RUN echo one > /one',
        `RUN --mount=type=cache,id=counter,target=/c --mount=target=/src --mount=type=secret,id=s sh -c 'echo ran >> /c/runs; cat /one /src/input > /out'${extra}`,
        '',
      ].join('\n');
    await writeFile(join(ctx, 'input'), 'input 1\n');
    await writeFile(join(ctx, 'ignored.txt'), 'ignored 1\n');
    await writeFile(join(ctx, '.dockerignore'), 'ignored.txt\n');
    let n = 0;
    const build = async (extra = '', args: string[] = [], secret = 'first value') => {
      await writeFile(join(ctx, 'Dockerfile'), dockerfile(extra));
      const dest = join(suite.dir.path, `out-${++n}`);
      const out = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '--secret', 'id=s,env=S', '-o', `type=local,dest=${dest}`, ...args, ctx], { env: { ...suite.env, S: secret } });
      assert.equal(out.code, 0, out.stderr);
      return { digest: out.stdout.trim(), dest };
    };
    /** How many times the counted step has run on each platform. */
    const runs = async () => {
      const probe = join(suite.dir.path, `probe-${++n}`);
      await mkdir(probe);
      await writeFile(join(probe, 'Dockerfile'), `FROM ${base}\nRUN --mount=type=cache,id=counter,target=/c wc -l < /c/runs > /n # probe ${n}\n`);
      const dest = join(suite.dir.path, `out-${n}`);
      const out = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '-o', `type=local,dest=${dest}`, probe], { env: suite.env });
      assert.equal(out.code, 0, out.stderr);
      const counts = await Promise.all(['amd64', 'arm64'].map(async (a) => Number((await readFile(join(dest, `linux_${a}`, 'n'), 'utf8')).trim())));
      assert.equal(counts[0], counts[1], 'both platforms ran alike');
      return counts[0];
    };

    const first = await build();
    assert.equal(await runs(), 1);
    const again = await build();
    assert.equal(await runs(), 1, 'an unchanged rebuild ran the step');
    assert.equal(again.digest, first.digest);
    assert.equal(await readFile(join(again.dest, 'linux_arm64', 'out'), 'utf8'), 'one\ninput 1\n');

    // Only the secret's value changed: still a hit (the key holds its id, not its value).
    await build('', [], 'second value');
    assert.equal(await runs(), 1, 'a new secret value ran the step');
    // A file .dockerignore drops is not part of what the step sees.
    await writeFile(join(ctx, 'ignored.txt'), 'ignored 2, longer\n');
    await build();
    assert.equal(await runs(), 1, 'an ignored file ran the step');

    // The command changed: the first RUN is reused, the second runs on top of its layer.
    const changed = await build(' && true');
    assert.equal(await runs(), 2);
    assert.equal(await readFile(join(changed.dest, 'linux_amd64', 'out'), 'utf8'), 'one\ninput 1\n');
    // An ARG the step sees as a variable.
    await build(' && true', ['--build-arg', 'V=2']);
    assert.equal(await runs(), 3);
    // The bind-mounted content (same size, different bytes and mtime).
    await writeFile(join(ctx, 'input'), 'input 2\n');
    const content = await build(' && true', ['--build-arg', 'V=2']);
    assert.equal(await runs(), 4);
    assert.equal(await readFile(join(content.dest, 'linux_arm64', 'out'), 'utf8'), 'one\ninput 2\n');

    // The RUN keys are roots of the cache: a prune keeps the layers they name, so nothing runs after it.
    const pruned = await runCli(['prune'], { env: suite.env });
    assert.equal(pruned.code, 0, pruned.stderr);
    const afterPrune = await build(' && true', ['--build-arg', 'V=2']);
    assert.equal(await runs(), 4, 'a prune made the step run again');
    assert.equal(afterPrune.digest, content.digest);

    // --no-cache (buildx's flag) runs the step though its layer is cached; a later build reuses what it made.
    await build(' && true', ['--build-arg', 'V=2', '--no-cache']);
    assert.equal(await runs(), 5, '--no-cache reused the cached layer');
    await build(' && true', ['--build-arg', 'V=2']);
    assert.equal(await runs(), 5);
  });

  test('a warm rebuild reuses a builder stage RUN and its COPY --from without unpacking the base', async () => {
    const ctx = join(suite.dir.path, 'multi');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base} AS builder\nRUN mkdir /out && uname -m > /out/arch\nFROM scratch\nCOPY --from=builder /out /\n`);
    const digests = [];
    for (const n of [1, 2]) {
      const dest = join(suite.dir.path, `multi-out-${n}`);
      const out = await runCli(['build', '--platform', 'linux/arm64', '-o', `type=local,dest=${dest}`, ctx], { env: suite.env });
      assert.equal(out.code, 0, out.stderr);
      assert.equal(await readFile(join(dest, 'arch'), 'utf8'), 'aarch64\n');
      digests.push(out.stdout.trim());
      if (n === 1) {
        // The base's layers in the build cache become garbage of the same names: a rebuild that
        // unpacked the builder stage (for its RUN or for the COPY --from) would fail on their digests.
        for (const layer of await baseLayers('linux/arm64')) {
          const blob = join(suite.env.XDG_CACHE_HOME!, 'polyarch', 'build', 'blobs', 'sha256', layer.slice('sha256:'.length));
          await writeFile(blob, 'not the layer');
        }
      }
    }
    assert.equal(digests[1], digests[0]);
  });

  test('a rebuild on an unchanged machine runs no emulation probe; a build with a cache of its own does', async () => {
    const ctx = join(suite.dir.path, 'ctx-probe');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo probe > /p\n`);
    // A cache of its own: the test before leaves garbage in place of the base's layers in the suite's.
    const build = (env: NodeJS.ProcessEnv = {}) => runCli(['build', '-q', '--platform', 'linux/amd64,linux/arm64', ctx], { env: { ...suite.env, XDG_CACHE_HOME: join(suite.dir.path, 'probe-cache'), ...env } });
    const cold = await build();
    assert.equal(cold.code, 0, cold.stderr);
    const cache = join(suite.dir.path, 'probe-cache', 'polyarch', 'build');
    const indexJson = async () => ({ text: await readFile(join(cache, 'index.json'), 'utf8'), file: await stat(join(cache, 'index.json')) });
    const coldIndex = await indexJson();
    // The probe writes its programs under TMPDIR: with one that does not exist, no probe can run.
    const noProbe = { TMPDIR: join(suite.dir.path, 'no-such-tmp') };
    const warm = await build(noProbe);
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(warm.stdout, cold.stdout);
    // Exported nowhere, the result is a blob in the cache and index.json is not written at all (no
    // result tag put there and taken out again): same file, same bytes.
    const warmIndex = await indexJson();
    assert.equal(warmIndex.text, coldIndex.text);
    assert.doesNotMatch(warmIndex.text, /build-\d+-\d+/);
    assert.deepEqual([warmIndex.file.ino, warmIndex.file.mtimeMs], [coldIndex.file.ino, coldIndex.file.mtimeMs]);
    const result = JSON.parse(await readFile(join(cache, 'blobs', 'sha256', warm.stdout.trim().slice('sha256:'.length)), 'utf8')) as { manifests: unknown[] };
    assert.equal(result.manifests.length, 2);
    const elsewhere = await build({ ...noProbe, XDG_CACHE_HOME: join(suite.dir.path, 'other-cache') });
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.stderr, /no-such-tmp\/polyarch-probe-/);
  });

  test('two cold builds with the same source date epoch give the same index digest', async () => {
    const ctx = join(suite.dir.path, 'repro');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'f'), 'copied\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        `FROM ${base}`,
        'RUN mkdir -p /a/b /a/empty && echo hi > /a/b/c && ln -s c /a/b/l && ln /a/b/c /a/hard && chmod 750 /a/b && touch /a/b/c',
        'COPY f /a/f',
        'RUN sleep 1; rm /etc/base-file && echo later > /a/b/later && cat /a/f >> /a/b/c && mkdir /tmp/t && echo t > /tmp/t/x',
        '',
      ].join('\n'),
    );
    const digests = [];
    for (const name of ['cold-1', 'cold-2']) {
      const out = await runCli(['build', '--platform', 'linux/amd64,linux/arm64', '--source-date-epoch', '1700000000', ctx], { env: { XDG_CACHE_HOME: join(suite.dir.path, name) } });
      assert.equal(out.code, 0, out.stderr);
      digests.push(out.stdout.trim());
    }
    assert.match(digests[0]!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(digests[1], digests[0]);
  });
});
