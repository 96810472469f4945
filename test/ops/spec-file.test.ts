// manifest-tool's inputs: its documented YAML examples, its from-args placeholders (replaced as
// manifest-tool replaces them), the variants it rejects, and its platform-completion rule.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assembleIndex } from '../../src/ops/assemble.js';
import { expandTemplate, parsePushSpec } from '../../src/ops/spec-file.js';
import { openLayout } from '../../src/store/oci-layout.js';
import { randomImage, type GeneratedImage } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

describe("manifest-tool's inputs", () => {
  test('the documented spec file', () => {
    // manifest-tool README, "Specifying the Manifest List" (YAML input).
    const spec = parsePushSpec(`image: myprivreg:5000/someimage:latest
tags: ['tag1', 'tag2']
manifests:
  -
    image: myprivreg:5000/someimage:ppc64le
    platform:
      architecture: ppc64le
      os: linux
  -
    image: myprivreg:5000/someimage:amd64
    platform:
      architecture: amd64
      os: linux
`);
    assert.deepEqual(spec.targets, ['myprivreg:5000/someimage:latest', 'myprivreg:5000/someimage:tag1', 'myprivreg:5000/someimage:tag2']);
    assert.deepEqual(spec.sources, [
      { location: 'myprivreg:5000/someimage:ppc64le', platform: { os: 'linux', architecture: 'ppc64le' }, completeFromConfig: true },
      { location: 'myprivreg:5000/someimage:amd64', platform: { os: 'linux', architecture: 'amd64' }, completeFromConfig: true },
    ]);
  });

  test('the Windows example: osversion and osfeatures; annotations; entries without a platform', () => {
    const spec = parsePushSpec(`image: reg/win:1
annotations:
  org.opencontainers.image.source: https://example.invalid/src
manifests:
  - image: reg/win:ltsc2022
    platform:
      architecture: amd64
      os: windows
      osversion: 10.0.20348.2113
      osfeatures: [win32k]
  - image: reg/linux:1
`);
    assert.deepEqual(spec.annotations, { 'org.opencontainers.image.source': 'https://example.invalid/src' });
    assert.deepEqual(spec.sources, [
      { location: 'reg/win:ltsc2022', platform: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2113', 'os.features': ['win32k'] }, completeFromConfig: true },
      { location: 'reg/linux:1' },
    ]);
  });

  test('bad spec files name the file and the problem', () => {
    assert.throws(() => parsePushSpec('image: a/b:1\n', 's.yaml'), { code: 'CONFIG_INVALID', message: /spec file s\.yaml: needs a list of "manifests"/ });
    assert.throws(() => parsePushSpec('image: [\n'), /not valid YAML/);
    assert.throws(() => parsePushSpec('manifests: [{image: a}]\n'), /needs "image"/);
    assert.throws(() => parsePushSpec('image: a/b:1\nmanifests:\n  - image: a/c\n    platform: {os: linux}\n'), /needs both "os" and "architecture"/);
    assert.throws(() => parsePushSpec('image: a/b:1\nmanifests:\n  - image: a/c\n    platform: {os: linux, architecture: "arm/"}\n'), { code: 'INVALID_PLATFORM' });
  });

  test('from-args: placeholders get the platform as written, first occurrence each, like manifest-tool', () => {
    const spec = expandTemplate('reg/foo-OSARCHVARIANT:1.0', ['linux/amd64/v3,linux/arm64/v8.2', 'linux/riscv64', 'linux/arm64/v8', 'linux/arm'], 'reg/foo:1.0', ['1', 'latest']);
    assert.deepEqual(spec.sources.map((s) => s.location), ['reg/foo-linuxamd64v3:1.0', 'reg/foo-linuxarm64v8.2:1.0', 'reg/foo-linuxriscv64:1.0', 'reg/foo-linuxarm64v8:1.0', 'reg/foo-linuxarm:1.0']);
    assert.deepEqual(spec.sources[3]!.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'normalized later, with a notice');
    assert.deepEqual(spec.targets, ['reg/foo:1.0', 'reg/foo:1', 'reg/foo:latest']);
    assert.deepEqual(expandTemplate('reg/ARCH/img:OS-ARCH', 'linux/amd64', 'reg/x:1').sources[0]!.location, 'reg/amd64/img:linux-ARCH');
    assert.throws(() => expandTemplate('reg/foo:1.0', 'linux/amd64', 'reg/foo:1'), /placeholders/);
    assert.throws(() => expandTemplate('reg/foo-ARCH:1.0', 'amd64', 'reg/foo:1'), { code: 'INVALID_PLATFORM', message: /expected os\/arch/ });
  });
});

describe('spec sources assembled (manifest-tool resolvePlatform)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let armv6: GeneratedImage;
  let arm64: GeneratedImage;
  before(async () => {
    dir = await tempDir();
    const src = await openLayout(join(dir.path, 'src'), { create: true });
    armv6 = await randomImage(src, { platform: { os: 'linux', architecture: 'arm', variant: 'v6' }, tag: 'linuxarm' });
    arm64 = await randomImage(src, { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, tag: 'linuxarm64v8' });
  });
  after(() => dir.remove());

  test('a variant the spec leaves out comes from the config; the template still names the image as written', async () => {
    // The temp path goes in afterwards: a random "OS" in it would take the placeholder's place.
    const spec = expandTemplate('SRC:OSARCHVARIANT', 'linux/arm,linux/arm64/v8', `oci:${join(dir.path, 'out')}:1`);
    const sources = spec.sources.map((s) => ({ ...s, location: s.location.replace('SRC', `oci:${join(dir.path, 'src')}`) }));
    const notices: string[] = [];
    const made = await assembleIndex({ sources, targets: spec.targets, onNotice: (m) => notices.push(m) });
    // linux/arm alone would mean arm/v7; the image says v6, and manifest-tool records v6.
    assert.deepEqual(made.entries.map((d) => [d.digest, d.platform]), [
      [armv6.manifest.digest, { os: 'linux', architecture: 'arm', variant: 'v6' }],
      [arm64.manifest.digest, { os: 'linux', architecture: 'arm64' }],
    ]);
    assert.deepEqual(notices, [`oci:${join(dir.path, 'src')}:linuxarm64v8: normalized variant "v8" to (none)`]);
  });
});
