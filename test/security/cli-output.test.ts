// Items 9.13 and 9.14: what the CLI prints. Strings read from manifests, configs, annotations and
// tags reach the terminal escaped (no escape sequence, no carriage return, no bidi override, no
// forged line), while --json stays valid JSON with the exact values and --raw stays exact bytes.
// A reader that closes early (`| head -1`) ends the command quietly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { digestOfBytes } from '../../src/digest/digest.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';

/** Anything a terminal acts on: C0 but the line feed, DEL, C1, and bidi/line-separator format characters. */
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

// Hostile values, each aimed at a terminal: clear screen, OSC 52 (write the clipboard), a CR that
// overwrites the line, CSI in its C1 form, a right-to-left override, and a line feed that forges output.
const CLEAR = '\u001b[2J\u001b[H';
const CLIPBOARD = '\u001b]52;c;cm0gLXJmIH4=\u0007';
const HOSTILE_OS = `linux${CLIPBOARD}`;
const HOSTILE_ARCH = 'arm64\nFAKE: injected line';
const HOSTILE_VARIANT = '\u202eevil\u2066';
const HOSTILE_CREATED = `2024-01-01\rFAKE: overwritten${CLEAR}`;
const HOSTILE_MEDIA_TYPE = 'application/x\u009b31m\u007f';
const HOSTILE_ATTESTED = `${CLEAR}\u0085`;
const HOSTILE_TAGS = ['red\u001b[31m', 'two\nFAKE: lines', 'rtl\u202etxt.exe'];

function blob(value: unknown): { bytes: Buffer; digest: string; size: number } {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, digest: digestOfBytes(bytes), size: bytes.length };
}

/** An OCI layout written by hand, holding one image under an index full of hostile strings. */
async function writeHostileLayout(dir: string, extraTags: readonly string[] = []): Promise<{ index: Buffer }> {
  const layer = Buffer.from('not really a layer');
  const layerDigest = digestOfBytes(layer);
  const config = blob({ architecture: 'amd64', os: 'linux', created: HOSTILE_CREATED, rootfs: { type: 'layers', diff_ids: [layerDigest] } });
  const manifest = blob({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
  });
  const index = blob({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { mediaType: OCI_MANIFEST, digest: manifest.digest, size: manifest.size, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: OCI_MANIFEST, digest: manifest.digest, size: manifest.size, platform: { os: HOSTILE_OS, architecture: HOSTILE_ARCH, variant: HOSTILE_VARIANT } },
      { mediaType: HOSTILE_MEDIA_TYPE, digest: manifest.digest, size: manifest.size, platform: { os: 'linux', architecture: 's390x' } },
      {
        mediaType: OCI_MANIFEST,
        digest: manifest.digest,
        size: manifest.size,
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': HOSTILE_ATTESTED },
      },
    ],
  });
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const b of [config, manifest, index, { bytes: layer, digest: layerDigest }]) await writeFile(join(dir, 'blobs', 'sha256', b.digest.slice(7)), b.bytes);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const tags = ['evil', ...HOSTILE_TAGS, ...extraTags];
  const entries = tags.map((tag) => ({ mediaType: OCI_INDEX, digest: index.digest, size: index.size, annotations: { [REF_NAME]: tag } }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }));
  return { index: index.bytes };
}

function assertTerminalSafe(text: string, what: string): void {
  const found = UNSAFE.exec(text);
  assert.equal(found, null, `${what} holds U+${found?.[0].charCodeAt(0).toString(16).padStart(4, '0')} raw:\n${JSON.stringify(text)}`);
  assert.ok(!text.split('\n').some((l) => l.startsWith('FAKE')), `${what} has a forged line:\n${text}`);
}

/** Runs the CLI with stdout's reader (and stderr's too, when asked) gone before it writes a byte. */
function runCliWithClosedOutput(args: readonly string[], options: { closeStderr?: boolean } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    if (options.closeStderr) child.stderr.destroy();
    else child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

/** `polyarch ARGS | head -1` through a real shell, with the CLI's own exit status (pipefail). */
function runCliPipedToHead(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const quoted = [process.execPath, CLI_PATH, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -o pipefail; ${quoted} | head -1`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('9.13 / 9.14 what the CLI prints', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let layout: string;
  let indexBytes: Buffer;
  let many: string;

  before(async () => {
    dir = await tempDir();
    layout = join(dir.path, 'hostile');
    ({ index: indexBytes } = await writeHostileLayout(layout));
    // Enough output (≈ 200 kB) that a pipe's buffer fills and a closed reader is certain to be noticed.
    many = join(dir.path, 'many');
    await writeHostileLayout(many, Array.from({ length: 4000 }, (_, i) => `tag-${String(i).padStart(5, '0')}-${'x'.repeat(32)}`));
  });

  after(async () => {
    await dir?.remove();
  });

  test('9.13 inspect and explain show hostile manifest and config strings escaped, one value per line', async () => {
    const outputs = [
      ['inspect -v', await runCli(['inspect', '-v', `oci:${layout}:evil`])],
      ['inspect image', await runCli(['inspect', '--platform', 'linux/amd64', `oci:${layout}:evil`])],
      ['explain', await runCli(['explain', '--host', 'linux/arm64', `oci:${layout}:evil`])],
    ] as const;
    for (const [what, out] of outputs) {
      assert.equal(out.code, 0, `${what}: ${out.stderr}`);
      assertTerminalSafe(out.stdout, what);
      assertTerminalSafe(out.stderr, `${what} (stderr)`);
    }
    const inspected = outputs[0][1].stdout;
    // Shown, escaped, not dropped: the user sees that something odd is there.
    assert.match(inspected, /linux\\x1b\]52;c;cm0gLXJmIH4=\\x07\/arm64\\x0aFAKE: injected line\/\\u202eevil\\u2066/);
    assert.match(inspected, /application\/x\\x9b31m\\x7f/);
    assert.match(inspected, /attestation \(\\x1b\[2J\\x1b\[H\\x85…\)/);
    assert.match(inspected, /Created: {4}2024-01-01\\x0dFAKE: overwritten\\x1b\[2J\\x1b\[H\n/);
  });

  test('9.13 tags and one-line errors quote hostile tags escaped', async () => {
    const tags = await runCli(['tags', `oci:${layout}`]);
    assert.equal(tags.code, 0, tags.stderr);
    assertTerminalSafe(tags.stdout, 'tags');
    assert.deepEqual(tags.stdout.trimEnd().split('\n'), ['evil', 'red\\x1b[31m', 'rtl\\u202etxt.exe', 'two\\x0aFAKE: lines']);

    const missing = await runCli(['inspect', `oci:${layout}:absent`]);
    assert.equal(missing.code, 1);
    assertTerminalSafe(missing.stderr, 'error line');
    assert.equal(missing.stderr.split('\n').length, 2, `exactly one line: ${missing.stderr}`);
    assert.match(missing.stderr, /red\\x1b\[31m.*two\\x0aFAKE: lines.*\[MANIFEST_UNKNOWN\]\n$/);
    // The user's own argument is quoted in errors too.
    const bad = await runCli(['inspect', 'Bad\u001b[31m\nFAKE:ref']);
    assert.equal(bad.code, 2);
    assertTerminalSafe(bad.stderr, 'bad reference');
    assert.equal(bad.stderr.split('\n').length, 2, bad.stderr);
  });

  test('9.13 --json stays valid JSON with the exact values, and --raw stays the exact bytes', async () => {
    const json = await runCli(['--json', 'inspect', '-v', `oci:${layout}:evil`]);
    assert.equal(json.code, 0, json.stderr);
    assertTerminalSafe(json.stdout, 'json');
    const parsed = JSON.parse(json.stdout) as { entries: { platform?: { os: string; architecture: string; variant?: string }; descriptor: { mediaType: string } }[] };
    assert.deepEqual(parsed.entries[1]?.platform, { os: HOSTILE_OS, architecture: HOSTILE_ARCH, variant: HOSTILE_VARIANT });
    assert.equal(parsed.entries[2]?.descriptor.mediaType, HOSTILE_MEDIA_TYPE);
    const tags = await runCli(['--json', 'tags', `oci:${layout}`]);
    assert.deepEqual(JSON.parse(tags.stdout), ['evil', ...HOSTILE_TAGS].sort());

    const raw = await runCli(['inspect', '--raw', `oci:${layout}:evil`]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal(raw.stdout, indexBytes.toString('utf8'), '--raw is the manifest as stored, byte for byte');
  });

  test('9.14 a reader that closes early ends the command quietly, exit 0', async () => {
    const closed = await runCliWithClosedOutput(['tags', `oci:${many}`]);
    assert.equal(closed.stderr, '', 'no stack trace, no message');
    assert.deepEqual([closed.code, closed.signal], [0, null]);

    const inspected = await runCliWithClosedOutput(['inspect', '-v', `oci:${many}:evil`]);
    assert.equal(inspected.stderr, '');
    assert.equal(inspected.code, 0);

    const head = await runCliPipedToHead(['tags', `oci:${many}`]);
    assert.equal(head.stdout, 'evil\n');
    assert.equal(head.stderr, '', 'no EPIPE stack trace');
    assert.equal(head.code, 0, 'the CLI itself exits 0 (pipefail)');

    // A closed stderr never turns a failure into a crash: the exit code is still the error's.
    const failing = await runCliWithClosedOutput(['inspect', 'Bad//Ref'], { closeStderr: true });
    assert.equal(failing.code, 2);
  });

  test('9.14 an output that cannot be written (a full disk: /dev/full) is one line and exit 1, not a quiet stop', async () => {
    const full = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const out = openSync('/dev/full', 'w');
      const child = spawn(process.execPath, [CLI_PATH, 'tags', `oci:${many}`], { stdio: ['ignore', out, 'pipe'] });
      closeSync(out);
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(full.code, 1, full.stderr);
    assert.equal(full.stderr, 'polyarch: cannot write standard output: ENOSPC [UNKNOWN]\n');
  });
});
