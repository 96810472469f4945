// verify's index lint: one hand-written fixture per rule in an OCI layout, each asserting the
// rule id and severity it must produce, and the CLI's exit code: 1 with any error, 0 with only warnings.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Descriptor } from '../../src/image/descriptor.js';
import type { OciLayout } from '../../src/store/oci-layout.js';
import type { Finding, Severity, VerifyRule } from '../../src/verify/finding.js';
import { compressor } from '../../src/layer/compression.js';
import { MediaType } from '../../src/mediatype/mediatype.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { verify } from '../../src/ops/verify.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { runCli } from '../helpers/run-cli.js';
import { tarOf } from '../helpers/tar.js';
import { tempDir } from '../helpers/temp-dir.js';
import { putImage, putIndex, type LayerBytes } from '../helpers/verify-fixtures.js';

const AMD64 = parsePlatform('linux/amd64');
const ARM64 = parsePlatform('linux/arm64');

async function zstd(bytes: Buffer): Promise<Buffer> {
  const stream = compressor({ kind: 'zstd' });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject));
  stream.end(bytes);
  await done;
  return Buffer.concat(chunks);
}

describe('verify: index lint', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let layout: OciLayout;
  let location: string;
  let plain: LayerBytes;

  before(async () => {
    dir = await tempDir();
    layout = await openLayout(join(dir.path, 'l'), { create: true });
    location = `oci:${join(dir.path, 'l')}`;
    plain = { bytes: await tarOf([{ name: 'etc/motd', content: 'hello\n' }]) };
  });
  after(() => dir.remove());

  async function image(platform = AMD64, layers: readonly LayerBytes[] = [plain], extra: { manifestMediaType?: string } = {}): Promise<Descriptor> {
    return putImage(layout, { platform, layers, ...extra });
  }

  /** Verifies `tag` and returns the findings of `rule`, checking each has `severity`. */
  async function findingsOf(tag: string, rule: VerifyRule, severity: Severity, options: { require?: string } = {}): Promise<Finding[]> {
    const report = await verify({ location: `${location}:${tag}`, ...(options.require ? { require: [parsePlatform(options.require)] } : {}) });
    const found = report.findings.filter((f) => f.rule === rule);
    assert.ok(found.length > 0, `${tag}: no ${rule} in ${JSON.stringify(report.findings)}`);
    for (const f of found) assert.equal(f.severity, severity, `${tag}: ${JSON.stringify(f)}`);
    const cli = await runCli(['verify', `${location}:${tag}`, ...(options.require ? ['--require', options.require] : [])]);
    assert.equal(cli.code, report.findings.some((f) => f.severity === 'error') ? 1 : 0, cli.stdout + cli.stderr);
    assert.equal(cli.code, severity === 'error' ? 1 : cli.code);
    return found;
  }

  test('a clean two-platform index has no findings but the "no binaries" notes', async () => {
    await putIndex(layout, [{ ...(await image()), platform: AMD64 }, { ...(await image(ARM64)), platform: ARM64 }], 'clean');
    const report = await verify({ location: `${location}:clean` });
    assert.deepEqual([...new Set(report.findings.map((f) => `${f.severity} ${f.rule}`))], ['info no-binaries']);
    assert.equal(report.passed, true);
  });

  test('duplicate-platform (error)', async () => {
    const a = await image();
    const b = await image(AMD64, [{ bytes: await tarOf([{ name: 'other' }]) }]);
    await putIndex(layout, [{ ...a, platform: AMD64 }, { ...b, platform: { os: 'linux', architecture: 'x86_64' } }], 'duplicate');
    const [f] = await findingsOf('duplicate', 'duplicate-platform', 'error');
    assert.match(f!.detail, /are both linux\/amd64/);
  });

  test('unmarked-unknown-platform (warning); an annotated attestation is not flagged', async () => {
    const a = await image();
    const unknown = await image({ os: 'unknown', architecture: 'unknown' });
    await putIndex(layout, [{ ...a, platform: AMD64 }, { ...unknown, platform: { os: 'unknown', architecture: 'unknown' } }], 'unknown');
    await findingsOf('unknown', 'unmarked-unknown-platform', 'warning');
    await putIndex(
      layout,
      [{ ...a, platform: AMD64 }, { ...unknown, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': a.digest } }],
      'attested',
    );
    const report = await verify({ location: `${location}:attested` });
    assert.deepEqual(report.findings.filter((f) => f.severity !== 'info'), []);
  });

  test('platform-incomplete (error): an entry without architecture, and one without platform', async () => {
    const a = await image();
    await putIndex(layout, [{ ...a, platform: { os: 'linux', architecture: '' } }, { ...(await image(ARM64)) }], 'incomplete');
    const found = await findingsOf('incomplete', 'platform-incomplete', 'error');
    assert.equal(found.length, 2);
  });

  test('config-platform-mismatch (error): the index says arm64, the config says amd64', async () => {
    await putIndex(layout, [{ ...(await image(AMD64)), platform: ARM64 }], 'config-mismatch');
    const [f] = await findingsOf('config-mismatch', 'config-platform-mismatch', 'error');
    assert.equal(f!.detail, "index says linux/arm64, the image's config says linux/amd64");
  });

  test('arm-without-variant (warning)', async () => {
    await putIndex(layout, [{ ...(await image({ os: 'linux', architecture: 'arm' })), platform: { os: 'linux', architecture: 'arm' } }], 'arm');
    await findingsOf('arm', 'arm-without-variant', 'warning');
  });

  test('mixed-media-types (warning): a Docker manifest list holding an OCI manifest, and the reverse', async () => {
    const docker = await image(ARM64, [{ ...plain, mediaType: MediaType.DockerLayer }], { manifestMediaType: MediaType.DockerManifest });
    await putIndex(layout, [{ ...(await image()), platform: AMD64 }, { ...docker, platform: ARM64 }], 'docker-list', MediaType.DockerManifestList);
    const [f] = await findingsOf('docker-list', 'mixed-media-types', 'warning');
    assert.match(f!.detail, /^Docker manifest list holds application\/vnd\.oci\.image\.manifest\.v1\+json/);
    await putIndex(layout, [{ ...docker, platform: ARM64 }], 'oci-with-docker', MediaType.OciIndex);
    await findingsOf('oci-with-docker', 'mixed-media-types', 'warning');
  });

  test('zstd-layer (warning) and non-distributable-layer (warning)', async () => {
    const tar = await tarOf([{ name: 'etc/zstd', content: 'z\n' }]);
    await putIndex(layout, [{ ...(await image(AMD64, [{ bytes: await zstd(tar), mediaType: MediaType.OciLayerZstd }])), platform: AMD64 }], 'zstd');
    await findingsOf('zstd', 'zstd-layer', 'warning');
    const nondist = { bytes: gzipSync(tar), mediaType: MediaType.OciLayerNondistributableGzip };
    await putIndex(layout, [{ ...(await image(AMD64, [nondist])), platform: AMD64 }], 'nondist');
    await findingsOf('nondist', 'non-distributable-layer', 'warning');
  });

  test('missing-manifest (error): a sparse index; missing-layer (error): a layer blob absent', async () => {
    const a = await image();
    const absent = { mediaType: MediaType.OciManifest, digest: `sha256:${'ab'.repeat(32)}`, size: 500, platform: ARM64 } as Descriptor;
    await putIndex(layout, [{ ...a, platform: AMD64 }, absent], 'sparse');
    const [f] = await findingsOf('sparse', 'missing-manifest', 'error');
    assert.equal(f!.platform, 'linux/arm64');
    const gone = await image(AMD64, [plain, { bytes: await tarOf([{ name: 'gone' }]), absent: true }]);
    await putIndex(layout, [{ ...gone, platform: AMD64 }], 'missing-layer');
    await findingsOf('missing-layer', 'missing-layer', 'error');
  });

  test('nested-index (warning): an index entry that is itself an index', async () => {
    const inner = await layout.getManifest('clean');
    await putIndex(layout, [{ ...(await image()), platform: AMD64 }, { mediaType: inner.mediaType, digest: inner.digest, size: inner.size, platform: ARM64 }], 'nested');
    const [f] = await findingsOf('nested', 'nested-index', 'warning');
    assert.equal(f!.platform, 'linux/arm64');
  });

  test('required-platform-missing (error), on an index and on a lone image', async () => {
    await findingsOf('clean', 'required-platform-missing', 'error', { require: 'linux/riscv64' });
    const lone = await image(ARM64);
    await layout.putManifest(await layout.getManifest(lone.digest), { tag: 'lone' });
    await findingsOf('lone', 'required-platform-missing', 'error', { require: 'linux/amd64' });
    const report = await verify({ location: `${location}:lone`, require: [ARM64] });
    assert.equal(report.passed, true);
  });
});
