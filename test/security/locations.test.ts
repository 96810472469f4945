// Item 9.18: locations as skopeo reads them (the path of `oci:PATH:REF` ends at the FIRST colon,
// so podman's `localhost/app:1` names can be selected), `oci-archive:FILE@DIGEST`, and numeric
// flags that are checked instead of silently replaced by a default.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Digest } from '../../src/digest/digest.js';
import type { Location } from '../../src/reference/location.js';
import { formatLocation, parseLocation } from '../../src/reference/location.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomImage, type GeneratedImage } from '../helpers/images.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const DIGEST = `sha256:${'c3'.repeat(32)}` as Digest;

const PARSED: ReadonlyArray<{ readonly input: string; readonly expected: Location }> = [
  { input: 'oci:out:localhost/app:1', expected: { kind: 'oci-layout', path: 'out', tag: 'localhost/app:1' } },
  { input: 'oci:/var/lib/x:quay.io/team/app:v1.2', expected: { kind: 'oci-layout', path: '/var/lib/x', tag: 'quay.io/team/app:v1.2' } },
  { input: `oci:out:localhost/app:1@${DIGEST}`, expected: { kind: 'oci-layout', path: 'out', tag: 'localhost/app:1', digest: DIGEST } },
  { input: 'oci:out:a+b--c', expected: { kind: 'oci-layout', path: 'out', tag: 'a+b--c' } },
  { input: `oci-archive:img.tar@${DIGEST}`, expected: { kind: 'oci-archive', path: 'img.tar', digest: DIGEST } },
  { input: `oci-archive:img.tar:localhost/app:1@${DIGEST}`, expected: { kind: 'oci-archive', path: 'img.tar', tag: 'localhost/app:1', digest: DIGEST } },
  { input: 'oci-archive:img.tar:localhost/app:1', expected: { kind: 'oci-archive', path: 'img.tar', tag: 'localhost/app:1' } },
];

const REFUSED: readonly string[] = ['oci:out:/app', 'oci:out:app/', 'oci:out:a::b', 'oci:out:a b', 'oci-archive:img.tar@sha256:zz', `oci-archive:@${DIGEST}`, 'oci:out:-x'];

describe('9.18 locations and numeric flags', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let podman: string;
  let image: GeneratedImage;

  before(async () => {
    dir = await tempDir();
    // What podman writes: the full name in ref.name.
    podman = join(dir.path, 'podman');
    const layout = await openLayout(podman, { create: true });
    image = await randomImage(layout, { platform: { os: 'linux', architecture: 'amd64' }, tag: 'localhost/app:1', layers: 1, bytes: 256 });
    await layout.putManifest(image.manifest, { tag: 'plain' });
  });

  after(async () => {
    await dir?.remove();
  });

  test('9.18 oci: and oci-archive: split at the first colon and take a trailing digest; format round-trips', () => {
    for (const { input, expected } of PARSED) {
      const location = parseLocation(input);
      assert.deepEqual(location, expected, input);
      assert.deepEqual(parseLocation(formatLocation(location)), location, `${input} round-trips`);
    }
    for (const input of REFUSED) assert.throws(() => parseLocation(input), { code: 'INVALID_LOCATION' }, input);
  });

  test('9.18 a podman tag holding ":" is selected in a layout and in an archive, and an archive entry by digest', async () => {
    const shown = await runCli(['--json', 'inspect', `oci:${podman}:localhost/app:1`]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal((JSON.parse(shown.stdout) as { descriptor: { digest: string } }).descriptor.digest, image.manifest.digest);

    const archive = join(dir.path, 'app.tar');
    const copied = await runCli(['copy', `oci:${podman}:localhost/app:1`, `oci-archive:${archive}:localhost/app:2`]);
    assert.equal(copied.code, 0, copied.stderr);
    for (const location of [`oci-archive:${archive}:localhost/app:2`, `oci-archive:${archive}@${image.manifest.digest}`]) {
      const out = await runCli(['--json', 'inspect', location]);
      assert.equal(out.code, 0, `${location}: ${out.stderr}`);
      assert.equal((JSON.parse(out.stdout) as { descriptor: { digest: string } }).descriptor.digest, image.manifest.digest, location);
    }
    const tags = await runCli(['tags', `oci-archive:${archive}`]);
    assert.equal(tags.stdout, 'localhost/app:2\n');
    const both = await runCli(['tags', `oci:${podman}`]);
    assert.equal(both.stdout, 'localhost/app:1\nplain\n');
  });

  test('9.18 every numeric flag is a whole number in range, or one USAGE line', async () => {
    const out = join(dir.path, 'numeric');
    for (const value of ['abc', '', ' 6', '0', '-1', '1e3', '0x10', '2.5', '65', '99999999999999999999']) {
      const result = await runCli(['copy', '--concurrency', value, `oci:${podman}:plain`, `oci:${out}:x`]);
      assert.equal(result.code, 2, `--concurrency ${JSON.stringify(value)}: ${result.stderr}`);
      assert.match(result.stderr, /^polyarch: --concurrency .*\[USAGE\]\n$/);
    }
    await assert.rejects(readFile(join(out, 'index.json')), { code: 'ENOENT' }, 'nothing was copied');
    const ok = await runCli(['copy', '--concurrency', '1', `oci:${podman}:plain`, `oci:${out}:x`]);
    assert.equal(ok.code, 0, ok.stderr);

    const context = join(dir.path, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), 'FROM scratch\n');
    for (const [flag, value] of [
      ['--source-date-epoch', '0x10'],
      ['--source-date-epoch', '1e3'],
      ['--source-date-epoch', ' '],
      ['--compression-level', '0x5'],
      ['--compression-level', ''],
    ] as const) {
      const result = await runCli(['build', flag, value, context]);
      assert.equal(result.code, 2, `${flag} ${JSON.stringify(value)}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`^polyarch: ${flag} .*\\[USAGE\\]\\n$`));
    }
    const env = await runCli(['build', context], { env: { SOURCE_DATE_EPOCH: '12abc' } });
    assert.equal(env.code, 2, env.stderr);
    assert.match(env.stderr, /SOURCE_DATE_EPOCH "12abc" is not a whole number \[USAGE\]/);
  });

  test('a plain path location that is a named pipe, a directory without a layout, or names nothing is one line at once; nothing waits on the pipe', { timeout: 60_000 }, async () => {
    const fifo = join(dir.path, 'pipe.tar');
    execFileSync('mkfifo', [fifo]);
    const bare = join(dir.path, 'no-layout');
    await mkdir(bare);
    for (const verb of [['inspect'], ['verify'], ['run', '--platform', 'linux/amd64']]) {
      for (const [path, said] of [
        [fifo, /pipe\.tar is not a regular file: give an archive file, or oci:DIR for an OCI layout \[USAGE\]/],
        [`${bare}/`, /no-layout\/ is a directory without an oci-layout file/],
        [join(dir.path, 'absent.tar'), /absent\.tar: no such file \[NOT_FOUND\]/],
      ] as const) {
        const out = await runCli([...verb, path]);
        assert.notEqual(out.code, 0, `${verb[0]} ${path}`);
        assert.equal(out.stdout, '');
        assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
        assert.match(out.stderr, said);
      }
    }
  });
});
