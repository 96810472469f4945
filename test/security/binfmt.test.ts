// binfmt_misc as a way in: handler names and interpreter paths are text from the kernel (or from a
// directory laid out like procfs) and reach the terminal only escaped; --install and --uninstall
// write nothing but entries of a mounted binfmt_misc, never through a link; a handler that claims
// a platform but cannot run its programs is reported as broken, not trusted for a build.
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { detectEmulation, installEmulation, requireEmulation, uninstallEmulation } from '../../src/builder/executor/binfmt.js';
import { PolyarchError } from '../../src/errors/polyarch-error.js';
import { formatPlatform, parsePlatform } from '../../src/platform/platform.js';
import { runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** The ELF magic and mask of a riscv64 handler (qemu-binfmt-conf.sh). */
const RISCV = 'offset 0\nmagic 7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n';
const ARM64 = 'offset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n';

describe('binfmt: hostile handler entries', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir('polyarch-binfmt-sec-')));
  after(async () => dir.remove());

  async function fakeProc(name: string, files: Readonly<Record<string, string>>): Promise<string> {
    const root = join(dir.path, name);
    const misc = join(root, 'sys', 'fs', 'binfmt_misc');
    await mkdir(misc, { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(join(misc, file), text);
    return root;
  }

  test('control characters in handler names and interpreter paths are printed escaped', async () => {
    const evilName = 'qemu-\x1b[2Jevil\u202e';
    const evilInterpreter = '/usr/bin/\x1b]52;c;cHduZWQ=\x07qemu\x08\x08lie';
    const root = await fakeProc('escapes', { status: 'enabled\n', [evilName]: `enabled\ninterpreter ${evilInterpreter}\nflags: F\n${ARM64}` });
    const table = await runCli(['binfmt', '--proc-root', root]);
    assert.equal(table.code, 0, table.stderr);
    for (const raw of ['\x1b', '\x07', '\x08', '\u202e']) assert.ok(!table.stdout.includes(raw), `raw ${JSON.stringify(raw)} in ${JSON.stringify(table.stdout)}`);
    const arm = table.stdout.split('\n').find((l) => l.startsWith('linux/arm64'));
    assert.ok(arm, table.stdout);
    assert.ok(arm.includes('\\x1b]52;c;cHduZWQ=\\x07qemu\\x08\\x08lie'), arm);
    assert.ok(arm.includes('emulated via qemu-\\x1b[2Jevil\\u202e'), arm);
    const json = await runCli(['binfmt', '--json', '--proc-root', root]);
    assert.equal(json.code, 0, json.stderr);
    for (const raw of ['\x1b', '\x07', '\x08', '\u202e']) assert.ok(!json.stdout.includes(raw));
    const parsed = JSON.parse(json.stdout) as { platforms: { platform: string; handler?: string; interpreter?: string }[] };
    const entry = parsed.platforms.find((p) => p.platform === 'linux/arm64');
    assert.equal(entry?.handler, evilName, 'JSON keeps the exact name, escaped');
    assert.equal(entry?.interpreter, evilInterpreter);
  });

  test('a handler whose interpreter is missing is reported broken, and a build for it is refused', async () => {
    // riscv64 has no working handler on this machine: the fake one claims it with the F flag.
    const real = await detectEmulation({ platforms: [parsePlatform('linux/riscv64')] });
    assert.notEqual(real.platforms[0]?.status, 'emulated', 'this test needs a machine where riscv64 does not run');
    const root = await fakeProc('missing', { status: 'enabled\n', 'qemu-riscv64': `enabled\ninterpreter /nonexistent/qemu-riscv64-static\nflags: OCF\n${RISCV}` });
    const report = await detectEmulation({ procRoot: root, platforms: [parsePlatform('linux/riscv64')] });
    assert.equal(report.platforms[0]?.status, 'broken');
    assert.equal(report.platforms[0]?.reason, "handler qemu-riscv64's interpreter /nonexistent/qemu-riscv64-static is missing");
    await assert.rejects(requireEmulation({ procRoot: root, platforms: [parsePlatform('linux/riscv64')] }), (e: unknown) => {
      assert.ok(e instanceof PolyarchError && e.code === 'EMULATION_MISSING');
      assert.match(e.message, /linux\/riscv64 \(handler qemu-riscv64's interpreter \/nonexistent\/qemu-riscv64-static is missing\)/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    // An interpreter that exists but is no emulator is not trusted either.
    const liar = await fakeProc('liar', { status: 'enabled\n', 'qemu-riscv64': `enabled\ninterpreter /bin/true\nflags: F\n${RISCV}` });
    const lied = await detectEmulation({ procRoot: liar, platforms: [parsePlatform('linux/riscv64')] });
    assert.equal(lied.platforms[0]?.status, 'broken');
    assert.match(lied.platforms[0]?.reason ?? '', /a program run through handler qemu-riscv64 fails/);
    const table = await runCli(['binfmt', '--proc-root', root]);
    assert.match(table.stdout, /^linux\/riscv64\s+broken: handler qemu-riscv64's interpreter \/nonexistent\/qemu-riscv64-static is missing/m);
  });

  test('--install and --uninstall write only into a mounted binfmt_misc, never through links', async () => {
    if (process.getuid?.() !== 0) return; // both need root before anything else
    const victim = join(dir.path, 'victim');
    await writeFile(victim, 'untouched\n');
    const root = await fakeProc('links', { status: 'enabled\n' });
    const misc = join(root, 'sys', 'fs', 'binfmt_misc');
    await symlink(victim, join(misc, 'register'));
    // A "handler" that is a link to a host file: not a handler, so never written to.
    await symlink(victim, join(misc, 'qemu-aarch64'));
    await writeFile(join(misc, 'qemu-s390x'), `enabled\ninterpreter /usr/bin/qemu-s390x-static\nflags: F\noffset 0\nmagic 7f454c460202010000000000000000000002 0016\n`);
    await assert.rejects(installEmulation({ procRoot: root, platforms: [parsePlatform('linux/riscv64')] }), (e: unknown) => e instanceof PolyarchError && e.code === 'DENIED' && /not a mounted binfmt_misc/.test(e.message));
    const removed = await uninstallEmulation({ procRoot: root, platforms: [parsePlatform('linux/arm64'), parsePlatform('linux/riscv64')] });
    assert.deepEqual(removed.map((r) => [formatPlatform(r.platform), r.removed]), [['linux/arm64', []], ['linux/riscv64', []]]);
    // A regular file that looks like a handler in a directory that is not binfmt_misc: refused too.
    await writeFile(join(misc, 'qemu-riscv64'), `enabled\ninterpreter /x\nflags: F\n${RISCV}`);
    await assert.rejects(uninstallEmulation({ procRoot: root, platforms: [parsePlatform('linux/riscv64')] }), (e: unknown) => e instanceof PolyarchError && e.code === 'DENIED');
    assert.equal(await readFile(victim, 'utf8'), 'untouched\n');
    assert.equal(await readFile(join(misc, 'qemu-riscv64'), 'utf8'), `enabled\ninterpreter /x\nflags: F\n${RISCV}`);
    const cli = await runCli(['binfmt', '--install', 'linux/riscv64', '--proc-root', root]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /not a mounted binfmt_misc \[DENIED\]$/m);
    assert.equal(await readFile(victim, 'utf8'), 'untouched\n');
  });
});
