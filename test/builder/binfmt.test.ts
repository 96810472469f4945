// binfmt_misc handlers for qemu-user (issue 10 item 2): what the kernel runs, what handlers
// claim, registering and removing them for real (the tests run as root), and the one-line
// refusal before a build whose platforms cannot run. Parsing is checked against sample texts
// and a procfs-like directory of our own, without touching the real one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  EMULATION_PLATFORMS,
  detectEmulation,
  handlerMatches,
  installEmulation,
  parseBinfmtHandler,
  readBinfmtHandlers,
  registerLine,
  requireEmulation,
  tinyElf,
  uninstallEmulation,
  type EmulationReport,
} from '../../src/builder/executor/binfmt.js';
import { PolyarchError } from '../../src/errors/polyarch-error.js';
import { formatPlatform, parsePlatform, type Platform } from '../../src/platform/platform.js';
import { detectHostPlatform } from '../../src/platform/host.js';
import { CLI_PATH, runCli } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Writes `bytes` as an executable in `dir` and runs it: its exit status, or the spawn error code. */
async function runElf(dir: string, name: string, bytes: Buffer): Promise<number | string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  await chmod(path, 0o755);
  return new Promise((resolve) => {
    const child = spawn(path, [], { stdio: 'ignore' });
    child.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    child.on('close', (code) => resolve(code ?? -1));
  });
}

function statusOf(report: EmulationReport, platform: string): EmulationReport['platforms'][number] {
  const found = report.platforms.find((s) => formatPlatform(s.platform) === platform);
  assert.ok(found, `${platform} is in the report`);
  return found;
}

const FOREIGN = ['linux/arm64', 'linux/arm/v7', 'linux/ppc64le', 'linux/s390x', 'linux/386'];
/** The one platform some amd64 kernels run themselves and others do not (CONFIG_IA32_EMULATION). */
const I386 = 'linux/386';

/** A procfs-like tree holding a binfmt_misc directory with these files. */
async function fakeProc(root: string, files: Readonly<Record<string, string>>): Promise<string> {
  const dir = join(root, 'sys', 'fs', 'binfmt_misc');
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return root;
}

const AARCH64_F = [
  'enabled',
  'interpreter /usr/bin/qemu-aarch64-static',
  'flags: OCF',
  'offset 0',
  'magic 7f454c460201010000000000000000000200b700',
  'mask ffffffffffffff00fffffffffffffffffeffffff',
  '',
].join('\n');

describe('binfmt: tiny ELF executables', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());

  test("the host architecture's tiny ELF runs natively and ends with the status asked for", async () => {
    const host = detectHostPlatform();
    assert.equal(await runElf(dir.path, 'zero', tinyElf(host)), 0);
    assert.equal(await runElf(dir.path, 'seven', tinyElf(host, { exitStatus: 7 })), 7);
    // The padding byte the kernel ignores: still runs.
    assert.equal(await runElf(dir.path, 'probe', tinyElf(host, { exitStatus: 42, bypassHandlers: true })), 42);
  });

  test('every known platform has an executable of its own class, byte order and machine', () => {
    const expected: Readonly<Record<string, readonly [number, number, number]>> = {
      'linux/amd64': [2, 1, 62],
      'linux/386': [1, 1, 3],
      'linux/arm64': [2, 1, 183],
      'linux/arm/v7': [1, 1, 40],
      'linux/arm/v6': [1, 1, 40],
      'linux/arm/v5': [1, 1, 40],
      'linux/ppc64le': [2, 1, 21],
      'linux/s390x': [2, 2, 22],
      'linux/riscv64': [2, 1, 243],
      'linux/mips64le': [2, 1, 8],
      'linux/loong64': [2, 1, 258],
    };
    assert.deepEqual(EMULATION_PLATFORMS.map(formatPlatform).sort(), Object.keys(expected).sort());
    for (const platform of EMULATION_PLATFORMS) {
      const elf = tinyElf(platform);
      const [cls, data, machine] = expected[formatPlatform(platform)] ?? [0, 0, 0];
      assert.deepEqual([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
      assert.equal(elf[4], cls, formatPlatform(platform));
      assert.equal(elf[5], data, formatPlatform(platform));
      assert.equal(data === 2 ? elf.readUInt16BE(18) : elf.readUInt16LE(18), machine, formatPlatform(platform));
    }
  });

  test('variants share their architecture\'s executable', () => {
    assert.deepEqual(tinyElf(parsePlatform('linux/amd64/v3')), tinyElf(parsePlatform('linux/amd64')));
    assert.deepEqual(tinyElf(parsePlatform('linux/arm/v8')), tinyElf(parsePlatform('linux/arm/v5')));
    assert.deepEqual(tinyElf(parsePlatform('linux/aarch64')), tinyElf(parsePlatform('linux/arm64/v8')));
  });

  test('unknown platforms and bad statuses are refused', () => {
    assert.throws(() => tinyElf(parsePlatform('linux/sparc64')), (e: unknown) => e instanceof PolyarchError && e.code === 'INVALID_PLATFORM' && e.message.includes('linux/sparc64'));
    assert.throws(() => tinyElf(parsePlatform('windows/amd64')), (e: unknown) => e instanceof PolyarchError && e.code === 'INVALID_PLATFORM');
    for (const exitStatus of [-1, 256, 1.5]) assert.throws(() => tinyElf(parsePlatform('linux/amd64'), { exitStatus }), (e: unknown) => e instanceof PolyarchError && e.code === 'USAGE');
  });

  test("our magic and mask claim each platform's executable and no other's; Debian's qemu-user-static files agree", async () => {
    const debian = '/usr/share/binfmts';
    const qemuOf: Readonly<Record<string, string>> = {
      'linux/arm64': 'qemu-aarch64',
      'linux/arm/v7': 'qemu-arm',
      'linux/ppc64le': 'qemu-ppc64le',
      'linux/s390x': 'qemu-s390x',
      'linux/riscv64': 'qemu-riscv64',
      'linux/mips64le': 'qemu-mips64el',
      'linux/loong64': 'qemu-loongarch64',
    };
    for (const [platform, file] of Object.entries(qemuOf)) {
      const text = await readFile(join(debian, file), 'utf8');
      const field = (name: string): string => {
        const found = new RegExp(`^${name} (.*)$`, 'm').exec(text)?.[1] ?? '';
        return Buffer.from(found.replace(/\\x([0-9a-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/[^\x00-\xff]/g, ''), 'latin1').toString('hex');
      };
      const handler = parseBinfmtHandler(file, `enabled\ninterpreter /x\nflags: F\noffset 0\nmagic ${field('magic')}\nmask ${field('mask')}\n`);
      assert.ok(handler, file);
      const claimed = EMULATION_PLATFORMS.filter((p) => handlerMatches(handler, tinyElf(p))).map(formatPlatform);
      const want = platform === 'linux/arm/v7' ? ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5'] : [platform];
      assert.deepEqual(claimed, want, `${file} claims ${claimed.join(',')}`);
      // The probe's padding byte keeps every one of them off.
      assert.ok(!EMULATION_PLATFORMS.some((p) => handlerMatches(handler, tinyElf(p, { bypassHandlers: true }))), file);
    }
  });
});

describe('binfmt: parsing handler files', () => {
  const good: readonly { name: string; text: string; expect: Partial<NonNullable<ReturnType<typeof parseBinfmtHandler>>> }[] = [
    { name: 'qemu-aarch64', text: AARCH64_F, expect: { enabled: true, interpreter: '/usr/bin/qemu-aarch64-static', flags: 'OCF', fixBinary: true, kind: 'magic', offset: 0, mask: 'ffffffffffffff00fffffffffffffffffeffffff' } },
    { name: 'qemu-arm', text: 'disabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n', expect: { enabled: false, flags: 'PF', fixBinary: true } },
    { name: 'noflags', text: 'enabled\ninterpreter /bin/x\nflags: \noffset 0\nmagic 7f454c46\n', expect: { flags: '', fixBinary: false, magic: '7f454c46' } },
    { name: 'offset', text: 'enabled\ninterpreter /bin/x\nflags: P\noffset 2\nmagic 4d5a\nmask ffff\n', expect: { offset: 2, fixBinary: false } },
    { name: 'jar', text: 'enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n', expect: { kind: 'extension', magic: '.jar' } },
    { name: 'future', text: 'enabled\ninterpreter /bin/x\nflags: F\noffset 0\nmagic 7f454c46\nsomething new 1\n', expect: { fixBinary: true } },
    { name: 'crlf', text: 'enabled\r\ninterpreter /bin/x\r\nflags: F\r\noffset 0\r\nmagic 7f454c46\r\n', expect: { interpreter: '/bin/x' } },
  ];
  const bad: readonly { why: string; text: string }[] = [
    { why: 'empty', text: '' },
    { why: 'the status file', text: 'enabled\n' },
    { why: 'no state line', text: 'interpreter /bin/x\nflags: F\noffset 0\nmagic 7f454c46\n' },
    { why: 'no interpreter', text: 'enabled\nflags: F\noffset 0\nmagic 7f454c46\n' },
    { why: 'empty interpreter', text: 'enabled\ninterpreter \nflags: F\noffset 0\nmagic 7f\n' },
    { why: 'no flags', text: 'enabled\ninterpreter /bin/x\noffset 0\nmagic 7f454c46\n' },
    { why: 'bad flags', text: 'enabled\ninterpreter /bin/x\nflags: f!\noffset 0\nmagic 7f454c46\n' },
    { why: 'odd hex', text: 'enabled\ninterpreter /bin/x\nflags: F\noffset 0\nmagic 7f454c4\n' },
    { why: 'not hex', text: 'enabled\ninterpreter /bin/x\nflags: F\noffset 0\nmagic \\x7fELF\n' },
    { why: 'mask of another length', text: 'enabled\ninterpreter /bin/x\nflags: F\noffset 0\nmagic 7f454c46\nmask ffff\n' },
    { why: 'mask without magic', text: 'enabled\ninterpreter /bin/x\nflags: F\nextension .x\nmask ffff\n' },
    { why: 'neither magic nor extension', text: 'enabled\ninterpreter /bin/x\nflags: F\noffset 0\n' },
    { why: 'both magic and extension', text: 'enabled\ninterpreter /bin/x\nflags: F\nmagic 7f\nextension .x\n' },
    { why: 'offset beyond the header', text: 'enabled\ninterpreter /bin/x\nflags: F\noffset 128\nmagic 7f\n' },
    { why: 'negative offset', text: 'enabled\ninterpreter /bin/x\nflags: F\noffset -1\nmagic 7f\n' },
  ];
  for (const { name, text, expect } of good) {
    test(`parses ${name}`, () => {
      const handler = parseBinfmtHandler(name, text);
      assert.ok(handler);
      assert.equal(handler.name, name);
      for (const [key, value] of Object.entries(expect)) assert.deepEqual(handler[key as keyof typeof handler], value, key);
    });
  }
  for (const { why, text } of bad) test(`refuses ${why}`, () => assert.equal(parseBinfmtHandler('x', text), undefined));

  test('handlers match by masked bytes at their offset; extension handlers never match a header', () => {
    const handler = parseBinfmtHandler('qemu-aarch64', AARCH64_F);
    assert.ok(handler);
    const arm64 = tinyElf(parsePlatform('linux/arm64'));
    assert.ok(handlerMatches(handler, arm64));
    const osabi = Buffer.from(arm64);
    osabi[7] = 3; // masked out: any OS ABI
    assert.ok(handlerMatches(handler, osabi));
    const dyn = Buffer.from(arm64);
    dyn[16] = 3; // ET_DYN: the mask lets it through
    assert.ok(handlerMatches(handler, dyn));
    assert.ok(!handlerMatches(handler, tinyElf(parsePlatform('linux/amd64'))));
    assert.ok(!handlerMatches(handler, arm64.subarray(0, 10)), 'a file shorter than the magic');
    const jar = parseBinfmtHandler('jar', 'enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n');
    assert.ok(jar && !handlerMatches(jar, arm64));
  });

  test('the register line escapes every byte of magic and mask', () => {
    assert.equal(registerLine('qemu-x', { magic: '7f3a', mask: 'ff00' }, '/usr/bin/qemu-x-static', 'CF'), ':qemu-x:M:0:\\x7f\\x3a:\\xff\\x00:/usr/bin/qemu-x-static:CF');
  });
});

describe('binfmt: a procfs of our own', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());

  test('a probe directory that allows no execution is an error, not a missing platform', async () => {
    const noexec = join(dir.path, 'noexec');
    await mkdir(noexec);
    const mounted = await new Promise<number | null>((resolve) => spawn('mount', ['-t', 'tmpfs', '-o', 'noexec', 'tmpfs', noexec]).on('close', resolve));
    assert.equal(mounted, 0);
    try {
      await assert.rejects(detectEmulation({ tempDir: noexec }), (error: unknown) => error instanceof PolyarchError && error.code === 'DENIED' && /noexec/.test(error.message));
    } finally {
      await new Promise((resolve) => spawn('umount', [noexec]).on('close', resolve));
    }
  });

  test('an unmounted binfmt_misc has no handlers; amd64 still runs natively', async () => {
    const report = await detectEmulation({ procRoot: join(dir.path, 'empty') });
    assert.equal(report.binfmtMisc, 'unmounted');
    assert.equal(statusOf(report, 'linux/amd64').status, 'native');
    assert.equal(statusOf(report, 'linux/arm64').status, 'missing');
  });

  test('enabled, disabled and unparsable entries', async () => {
    const root = await fakeProc(join(dir.path, 'mixed'), {
      status: 'enabled\n',
      register: '',
      'qemu-aarch64': AARCH64_F,
      'qemu-arm': AARCH64_F.replace('enabled', 'disabled').replace('b700', '2800').replace('02010100', '01010100'),
      'qemu-s390x': 'garbage\n',
    });
    const { state, handlers } = await readBinfmtHandlers({ procRoot: root });
    assert.equal(state, 'enabled');
    assert.deepEqual(handlers.map((h) => [h.name, h.enabled]), [['qemu-aarch64', true], ['qemu-arm', false]]);
    const report = await detectEmulation({ procRoot: root });
    const arm64 = statusOf(report, 'linux/arm64');
    assert.equal(arm64.status, 'emulated');
    assert.equal(arm64.handler?.interpreter, '/usr/bin/qemu-aarch64-static');
    assert.equal(arm64.handler?.fixBinary, true);
    assert.equal(statusOf(report, 'linux/arm/v7').status, 'missing', 'a disabled handler does not count');
    assert.equal(statusOf(report, 'linux/s390x').status, 'missing');
  });

  test('binfmt_misc switched off: no handler counts', async () => {
    const root = await fakeProc(join(dir.path, 'off'), { status: 'disabled\n', 'qemu-aarch64': AARCH64_F });
    const report = await detectEmulation({ procRoot: root });
    assert.equal(report.binfmtMisc, 'disabled');
    assert.equal(statusOf(report, 'linux/arm64').status, 'missing');
  });

  test('requireEmulation names each platform that cannot run, and the fix, in one line', async () => {
    const root = await fakeProc(join(dir.path, 'require'), {
      status: 'enabled\n',
      'qemu-aarch64': AARCH64_F.replace('OCF', 'P'),
    });
    await requireEmulation({ procRoot: root, platforms: [parsePlatform('linux/amd64')] });
    await assert.rejects(
      requireEmulation({ procRoot: root, platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64'), parsePlatform('linux/s390x')] }),
      (error: unknown) => {
        assert.ok(error instanceof PolyarchError);
        assert.equal(error.code, 'EMULATION_MISSING');
        assert.ok(!error.message.includes('\n'), error.message);
        assert.match(error.message, /linux\/arm64 \(handler qemu-aarch64 lacks the F flag\)/);
        assert.match(error.message, /linux\/s390x \(no binfmt_misc handler\)/);
        assert.doesNotMatch(error.message, /amd64/);
        assert.match(error.message, /polyarch binfmt --install linux\/arm64,linux\/s390x/);
        assert.match(error.message, /apt-get install qemu-user-static binfmt-support/);
        return true;
      },
    );
    await assert.rejects(requireEmulation({ procRoot: join(dir.path, 'none'), platforms: [parsePlatform('linux/arm64')] }), /binfmt_misc is not mounted/);
  });
});

describe('binfmt: this machine (root)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  /** Whether this kernel runs i386 itself, told by a probe no handler claims (not by the code under test). */
  let kernelRunsI386 = false;
  /** FOREIGN less i386 where the kernel runs it: these must be emulated. */
  let emulated: string[] = [];
  before(async () => {
    dir = await tempDir();
    kernelRunsI386 = (await runElf(dir.path, 'i386-kernel-probe', tinyElf(parsePlatform(I386), { exitStatus: 42, bypassHandlers: true }))) === 42;
    emulated = FOREIGN.filter((p) => p !== I386 || !kernelRunsI386);
    // Whatever the machine had, the platforms under test have handlers from here on.
    await installEmulation({ platforms: FOREIGN.map((p) => parsePlatform(p)) });
  });
  after(async () => {
    // Other tests need the handlers: leave them registered.
    await installEmulation({ platforms: FOREIGN.map((p) => parsePlatform(p)) });
    await dir.remove();
  });

  test('amd64 is native; i386 is native exactly when the kernel itself runs it, whatever handlers exist', async () => {
    const report = await detectEmulation();
    const amd64 = statusOf(report, 'linux/amd64');
    assert.equal(amd64.status, 'native');
    assert.equal(amd64.kernel, true);
    assert.equal(statusOf(report, I386).kernel, kernelRunsI386);
    assert.equal(statusOf(report, I386).status, kernelRunsI386 ? 'native' : 'emulated');
    assert.equal(statusOf(report, 'linux/arm64').kernel, false);
  });

  test('after installing, each foreign platform is emulated with the F flag and its tiny ELF runs', async () => {
    const results = await installEmulation({ platforms: FOREIGN.map((p) => parsePlatform(p)) });
    for (const result of results) {
      const native = formatPlatform(result.platform) === I386 && kernelRunsI386;
      assert.ok(native ? result.action === 'native' : result.action === 'present' || result.action === 'installed', `${formatPlatform(result.platform)}: ${result.action}`);
    }
    const report = await detectEmulation();
    assert.equal(report.binfmtMisc, 'enabled');
    for (const platform of emulated) {
      const status = statusOf(report, platform);
      assert.equal(status.status, 'emulated', platform);
      assert.equal(status.handler?.fixBinary, true, platform);
      assert.match(status.handler?.flags ?? '', /F/);
      assert.ok(existsSync(status.handler?.interpreter ?? '/nonexistent'), `${platform}: ${status.handler?.interpreter}`);
      const name = platform.replaceAll('/', '-');
      assert.equal(await runElf(dir.path, name, tinyElf(parsePlatform(platform))), 0, platform);
      assert.equal(await runElf(dir.path, `${name}-9`, tinyElf(parsePlatform(platform), { exitStatus: 9 })), 9, platform);
      // The probe is not claimed by the handler, and the kernel cannot run it (Node's spawn may
      // hand an unknown format to the shell, which fails: any status but the probe's own).
      assert.notEqual(await runElf(dir.path, `${name}-probe`, tinyElf(parsePlatform(platform), { exitStatus: 42, bypassHandlers: true })), 42, platform);
    }
  });

  test('installing again changes nothing; native platforms are skipped', async () => {
    const results = await installEmulation({ platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
    assert.deepEqual(results.map((r) => r.action), ['native', 'present']);
  });

  test('uninstalling one makes it missing; installing restores it with the F flag', async () => {
    const s390x = [parsePlatform('linux/s390x')];
    const removed = await uninstallEmulation({ platforms: s390x });
    assert.ok((removed[0]?.removed.length ?? 0) >= 1);
    try {
      assert.equal(statusOf(await detectEmulation(), 'linux/s390x').status, 'missing');
      assert.equal(statusOf(await detectEmulation(), 'linux/arm64').status, 'emulated', 'the others stay');
      assert.notEqual(await runElf(dir.path, 's390x-gone', tinyElf(s390x[0] as Platform)), 0);
      await assert.rejects(requireEmulation({ platforms: s390x }), /linux\/s390x \(no binfmt_misc handler\)/);
    } finally {
      const [result] = await installEmulation({ platforms: s390x });
      assert.equal(result?.action, 'installed');
      assert.equal(result?.handler, 'qemu-s390x');
    }
    const status = statusOf(await detectEmulation(), 'linux/s390x');
    assert.equal(status.status, 'emulated');
    assert.equal(status.handler?.name, 'qemu-s390x');
    assert.equal(status.handler?.interpreter, '/usr/bin/qemu-s390x-static');
    assert.match(status.handler?.flags ?? '', /^(?=.*C)(?=.*F)/);
    assert.equal(await runElf(dir.path, 's390x-back', tinyElf(s390x[0] as Platform)), 0);
    await requireEmulation({ platforms: FOREIGN.map((p) => parsePlatform(p)) });
  });

  test('a missing qemu binary names the Debian package; an unknown platform is refused', async () => {
    const empty = join(dir.path, 'no-qemu');
    await mkdir(empty);
    await assert.rejects(installEmulation({ qemuDir: empty, platforms: [parsePlatform('linux/riscv64')] }), (error: unknown) => {
      assert.ok(error instanceof PolyarchError);
      assert.equal(error.code, 'EMULATION_MISSING');
      assert.match(error.message, /qemu-riscv64-static not found in .*: install the Debian package qemu-user-static/);
      return true;
    });
    await assert.rejects(installEmulation({ platforms: [parsePlatform('linux/sparc64')] }), (error: unknown) => error instanceof PolyarchError && error.code === 'INVALID_PLATFORM');
  });

  test('CLI: the table, and --json', async () => {
    const table = await runCli(['binfmt']);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^PLATFORM\s+STATUS\s+INTERPRETER\s+FLAGS$/);
    assert.match(table.stdout, /^linux\/amd64\s+native\s*$/m);
    assert.match(table.stdout, /^linux\/arm64\s+emulated via \S+\s+\/\S+\s+[A-Z]*F[A-Z]*$/m);
    assert.match(table.stdout, kernelRunsI386 ? /^linux\/386\s+native\s*$/m : /^linux\/386\s+emulated via qemu-i386\s+\/usr\/bin\/qemu-i386-static\s+[A-Z]*F[A-Z]*$/m);
    assert.equal(lines.length, 1 + EMULATION_PLATFORMS.length);

    const json = await runCli(['binfmt', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { binfmtMisc: string; platforms: { platform: string; status: string; kernel: boolean; fixBinary?: boolean; interpreter?: string }[] };
    assert.equal(parsed.binfmtMisc, 'enabled');
    assert.deepEqual(parsed.platforms.map((p) => p.platform), EMULATION_PLATFORMS.map(formatPlatform));
    assert.deepEqual(parsed.platforms.find((p) => p.platform === 'linux/amd64'), { platform: 'linux/amd64', status: 'native', kernel: true });
    const arm = parsed.platforms.find((p) => p.platform === 'linux/arm/v7');
    assert.equal(arm?.status, 'emulated');
    assert.equal(arm?.fixBinary, true);

    // A procfs named wrong is a mistake to say, not a machine with nothing registered.
    const typo = await runCli(['binfmt', '--proc-root', '/no/such/proc']);
    assert.equal(typo.code, 2);
    assert.equal(typo.stderr, 'polyarch: --proc-root /no/such/proc: no such directory [USAGE]\n');
    assert.equal(typo.stdout, '');

    // A binfmt_misc that cannot be mounted says why (mount's reason, not its dmesg hint), and blames the kernel only when it is the kernel.
    if (process.getuid?.() === 0) {
      const proc = await mkdtemp(join(tmpdir(), 'polyarch-proc-'));
      try {
        await mkdir(join(proc, 'sys', 'fs'), { recursive: true });
        const unmountable = await runCli(['binfmt', '--proc-root', proc, '--install', 'linux/riscv64']);
        assert.equal(unmountable.code, 1);
        assert.match(unmountable.stderr, /^polyarch: cannot mount binfmt_misc at \S+: mount point does not exist\.? \[EMULATION_MISSING\]\n$/);
      } finally {
        await rm(proc, { recursive: true, force: true });
      }
    }
  });

  test('CLI: --install and --uninstall report each platform on stderr', async () => {
    const install = await runCli(['binfmt', '--install', 'linux/amd64,linux/arm64']);
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stderr, /^installing: linux\/amd64 runs natively, skipped$/m);
    assert.match(install.stderr, /^installing: linux\/arm64 \S+ already registered$/m);
    const bad = await runCli(['binfmt', '--install', 'linux/sparc64']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^polyarch: platform "linux\/sparc64": polyarch knows no emulation for it .*\[INVALID_PLATFORM\]$/m);
  });

  test('CLI: not root is refused in one line naming root and update-binfmts', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI_PATH, 'binfmt', '--uninstall', 'linux/s390x'], { uid: 65534, gid: 65534, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /needs root: run it as root, or use update-binfmts .*\[DENIED\]/);
    assert.equal(statusOf(await detectEmulation(), 'linux/s390x').status, 'emulated', 'nothing was removed');
  });

  test('the real binfmt_misc directory holds what the report says', async () => {
    const names = await readdir('/proc/sys/fs/binfmt_misc');
    const report = await detectEmulation();
    for (const status of report.platforms) if (status.handler) assert.ok(names.includes(status.handler.name), status.handler.name);
  });
});
