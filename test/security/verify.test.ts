// verify reads hostile images: links that loop or climb out of the root, garbage and truncated
// headers, PE files pointing anywhere, tar bombs, and blobs that are not what their digest says.
// Every case must end with a finding or a clean error, touch nothing on the host, and write nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Finding } from '../../src/verify/finding.js';
import type { OciLayout } from '../../src/store/oci-layout.js';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { rawFromJson } from '../../src/image/raw-manifest.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { verify } from '../../src/ops/verify.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { runCli } from '../helpers/run-cli.js';
import { tarOf, type TarEntry } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';
import { putImage, putIndex, type PutImageOptions } from '../helpers/verify-fixtures.js';

const ARM64 = parsePlatform('linux/arm64');

/** Every path under `dir` with its size and mtime: a fingerprint that any write would change. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const s = await stat(join(dir, name));
    out.push(`${name} ${s.size} ${s.mtimeMs}`);
  }
  return out.sort();
}

/** A 64-bit little-endian ELF header for `machine` with no program headers. */
function elfHeader(machine: number): Buffer {
  const b = Buffer.alloc(64);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  b.writeUInt16LE(2, 16);
  b.writeUInt16LE(machine, 18);
  return b;
}

describe('verify on hostile images', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let layoutDir: string;
  let layout: OciLayout;

  before(async () => {
    dir = await tempDir();
    layoutDir = join(dir.path, 'l');
    layout = await openLayout(layoutDir, { create: true });
  });
  after(() => dir.remove());

  async function store(tag: string, entries: readonly TarEntry[], options: Partial<PutImageOptions> = {}): Promise<string> {
    const platform = options.platform ?? ARM64;
    const image = await putImage(layout, { platform, layers: [{ bytes: await tarOf(entries) }], ...options });
    await putIndex(layout, [{ ...image, platform }], tag);
    return `oci:${layoutDir}:${tag}`;
  }

  test('link loops and links climbing out of the root end inside the image, and nothing is written', async () => {
    const loop = await store(
      'loop',
      [
        { name: 'bin/sh', type: 'symlink', linkname: 'sh2' },
        { name: 'bin/sh2', type: 'symlink', linkname: '/bin/./sh' },
        // A directory link pointing at itself, walked through.
        { name: 'usr/bin', type: 'symlink', linkname: '../usr/bin/' },
      ],
      { config: { Env: ['PATH=/usr/bin:/bin'], Entrypoint: ['sh'] } },
    );
    const report = await verify({ location: loop });
    assert.deepEqual(
      report.findings.filter((f) => f.severity === 'error').map((f) => [f.rule, f.detail]),
      [['entrypoint-missing', 'entrypoint sh: too many levels of symbolic links resolving /bin/sh']],
    );
    // Links that climb above / land on the image's own paths (here: nothing), never on the host's
    // /usr/bin/env or /etc/passwd, which exist on this machine.
    const climb = await store(
      'climb',
      [
        { name: 'bin', type: 'symlink', linkname: '../../../../../../usr/bin' },
        { name: 'app/run', type: 'symlink', linkname: '../../../../../../../../usr/bin/env' },
        { name: 'app/conf', type: 'symlink', linkname: '/../../etc/passwd' },
      ],
      { config: { Env: ['PATH=/bin'], Entrypoint: ['env'], Cmd: [] } },
    );
    const climbed = await verify({ location: climb });
    assert.deepEqual(
      climbed.findings.filter((f) => f.severity === 'error').map((f) => f.detail),
      ['entrypoint env: env is in none of the PATH directories (/bin)'],
    );
    const direct = await store('climb-direct', [{ name: 'app/run', type: 'symlink', linkname: '../../../../../../../../usr/bin/env' }], { config: { Entrypoint: ['/app/run'] } });
    assert.deepEqual(
      (await verify({ location: direct })).findings.filter((f) => f.severity === 'error').map((f) => f.detail),
      ['entrypoint /app/run: /usr/bin/env does not exist in the image'],
    );
    const stored = await snapshot(layoutDir);
    assert.equal((await runCli(['verify', loop])).code, 1);
    assert.equal((await runCli(['verify', climb])).code, 1);
    await verify({ location: direct });
    assert.deepEqual(await snapshot(layoutDir), stored, 'verify wrote into the layout');
  });

  test('truncated and garbage ELF headers, and a PE with a bogus offset, are findings, not crashes', async () => {
    const truncated = elfHeader(183).subarray(0, 30);
    const badClass = Buffer.from(elfHeader(183));
    badClass[4] = 9;
    const farHeaders = Buffer.from(elfHeader(183));
    farHeaders.writeBigUInt64LE(0xfffffffffff0n, 32);
    farHeaders.writeUInt16LE(56, 54);
    farHeaders.writeUInt16LE(0xffff, 56);
    const location = await store(
      'garbage',
      [
        { name: 'bin/truncated', content: truncated, mode: 0o755 },
        { name: 'bin/bad-class', content: badClass, mode: 0o755 },
        { name: 'bin/far-headers', content: farHeaders, mode: 0o755 },
        { name: 'bin/empty', content: '', mode: 0o755 },
        { name: 'bin/x86', content: elfHeader(62), mode: 0o755 },
      ],
      { config: { Env: ['PATH=/bin'], Entrypoint: ['far-headers'] } },
    );
    const report = await verify({ location });
    const byRule = (rule: string): Finding[] => report.findings.filter((f) => f.rule === rule);
    assert.deepEqual(byRule('invalid-binary').map((f) => f.detail).sort(), ['/bin/bad-class: bad ELF class 9', '/bin/truncated: truncated ELF header (30 bytes)']);
    assert.deepEqual(byRule('binary-arch-mismatch').map((f) => f.detail), ['/bin/x86 is ELF 64-bit LSB x86-64, expected ELF 64-bit LSB AArch64']);
    assert.equal(report.passed, false);

    const peAt = (offset: number, machine = 0x8664): Buffer => {
      const b = Buffer.alloc(0x100);
      b.write('MZ', 0, 'latin1');
      b.writeUInt32LE(offset, 0x3c);
      if (offset + 6 <= b.length) {
        b.write('PE\0\0', offset, 'latin1');
        b.writeUInt16LE(machine, offset + 4);
      }
      return b;
    };
    const windows = parsePlatform('windows/amd64');
    const pe = await store(
      'pe',
      [
        { name: 'Files/Windows/System32/bogus.exe', content: peAt(0x7fffffff) },
        { name: 'Files/Windows/System32/negative.exe', content: peAt(0xfffffffa) },
        { name: 'Files/Windows/System32/arm64.exe', content: peAt(0x80, 0xaa64) },
        { name: 'Files/Windows/System32/good.exe', content: peAt(0x80) },
      ],
      { platform: windows },
    );
    const peReport = await verify({ location: pe });
    assert.deepEqual(
      peReport.findings.map((f) => [f.severity, f.rule, f.detail]).sort(),
      [
        ['error', 'binary-arch-mismatch', '/Files/Windows/System32/arm64.exe is PE ARM64, expected PE AMD64'],
        ['warning', 'invalid-binary', '/Files/Windows/System32/bogus.exe: PE header offset 2147483647 outside the 256 bytes read'],
        ['warning', 'invalid-binary', '/Files/Windows/System32/negative.exe: PE header offset 4294967290 outside the 256 bytes read'],
      ],
    );
  });

  test('platforms whose fields are not strings, in the index and in a config, are findings, not crashes', async () => {
    const image = await putImage(layout, { platform: { os: 'linux', architecture: 7 as unknown as string }, layers: [{ bytes: await tarOf([{ name: 'etc/motd' }]) }] });
    const index = rawFromJson(
      {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { ...image, platform: { os: 'linux', architecture: 'amd64' } },
          { ...image, platform: { os: 5, architecture: ['arm64'] } },
          { ...image, platform: 'linux/arm64' },
        ],
      },
      MediaType.OciIndex,
    );
    await layout.putManifest(index, { tag: 'malformed' });
    const report = await verify({ location: `oci:${layoutDir}:malformed`, require: [ARM64] });
    const configFinding = ['platform-incomplete', `config ${JSON.parse((await layout.getManifest(image.digest)).bytes.toString()).config.digest} has no well-formed os and architecture`];
    assert.deepEqual(
      report.findings.filter((f) => f.severity === 'error').map((f) => [f.rule, f.detail]),
      [
        ['platform-incomplete', `entry ${image.digest} has a malformed platform {"os":5,"architecture":["arm64"]}`],
        ['platform-incomplete', `entry ${image.digest} has a malformed platform "linux/arm64"`],
        // Once for each of the three entries naming the image.
        configFinding,
        configFinding,
        configFinding,
        ['required-platform-missing', 'required platform linux/arm64 is not there (have linux/amd64)'],
      ],
    );
    const cli = await runCli(['verify', `oci:${layoutDir}:malformed`]);
    assert.equal(cli.code, 1);
    assert.equal(cli.stderr, '');
  });

  test('a tar bomb of tiny files in /usr/bin stays within the path limit and says so', async () => {
    const many: TarEntry[] = [];
    for (let i = 0; i < 3000; i++) many.push({ name: `usr/bin/f${i}`, content: elfHeader(183), mode: 0o755 });
    const location = await store('bomb', many, { config: { Env: ['PATH=/usr/bin'] } });
    const report = await verify({ location, maxPaths: 500 });
    assert.ok((report.images[0]?.paths ?? Infinity) <= 500, `${report.images[0]?.paths} paths kept`);
    assert.deepEqual(
      report.findings.filter((f) => f.rule === 'scan-limit').map((f) => [f.severity, f.detail]),
      [['warning', 'the image has more than 500 paths; only the first 500 were examined']],
    );
    // The default limit examines them all.
    const all = await verify({ location });
    assert.equal(all.images[0]?.paths, 3000);
    assert.deepEqual(all.findings, []);
  });

  test('a layer whose bytes do not match its digest fails with DIGEST_MISMATCH, in the library and the CLI', async () => {
    const layer = await tarOf([{ name: 'bin/tool', content: elfHeader(183), mode: 0o755 }]);
    const location = await store('corrupt', [{ name: 'bin/tool', content: elfHeader(183), mode: 0o755 }]);
    const blob = join(layoutDir, 'blobs', 'sha256', createHash('sha256').update(layer).digest('hex'));
    const stored = await readFile(blob);
    assert.deepEqual(stored, layer);
    const corrupt = Buffer.from(stored);
    corrupt[600] = (corrupt[600] as number) ^ 0xff; // inside the file's bytes: the tar still reads
    await writeFile(blob, corrupt);
    await assert.rejects(verify({ location }), (error: unknown) => isPolyarchError(error) && error.code === 'DIGEST_MISMATCH');
    const cli = await runCli(['verify', location]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /\[DIGEST_MISMATCH\]\n$/);
    assert.equal(cli.stderr.split('\n').length, 2, cli.stderr);
  });
});
