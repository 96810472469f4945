// The record that spares a warm build the emulation probes must hold only while the machine is as
// it was: a changed handler, interpreter file or boot probes again, and a failed check is never
// recorded.
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EMULATION_RECORD, requireEmulationRecorded } from '../../src/builder/cache/emulation-record.js';
import { emulationFingerprint } from '../../src/builder/executor/binfmt.js';
import { PolyarchError } from '../../src/errors/polyarch-error.js';
import { parsePlatform } from '../../src/platform/platform.js';
import { tempDir } from '../helpers/temp-dir.js';

const HOST = parsePlatform(process.arch === 'arm64' ? 'linux/arm64' : 'linux/amd64');

describe('emulation record', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let proc = '';
  let interpreter = '';
  const handler = (state: string) => [state, `interpreter ${interpreter}`, 'flags: OCF', 'offset 0', 'magic 7f454c460201010000000000000000000200f300', 'mask ffffffffffffff00fffffffffffffffffeffffff', ''].join('\n');

  before(async () => {
    dir = await tempDir();
    proc = join(dir.path, 'proc');
    interpreter = join(dir.path, 'qemu-riscv64-static');
    await writeFile(interpreter, 'not really qemu');
    await mkdir(join(proc, 'sys', 'fs', 'binfmt_misc'), { recursive: true });
    await mkdir(join(proc, 'sys', 'kernel', 'random'), { recursive: true });
    await writeFile(join(proc, 'sys', 'kernel', 'random', 'boot_id'), 'boot-1\n');
    await writeFile(join(proc, 'sys', 'fs', 'binfmt_misc', 'status'), 'enabled\n');
    await writeFile(join(proc, 'sys', 'fs', 'binfmt_misc', 'qemu-riscv64'), handler('enabled'));
  });
  after(async () => dir.remove());

  test('the fingerprint changes with a handler, its interpreter file and the boot, and only then', async () => {
    const first = await emulationFingerprint({ procRoot: proc });
    assert.equal(await emulationFingerprint({ procRoot: proc }), first);
    await writeFile(join(proc, 'sys', 'fs', 'binfmt_misc', 'qemu-riscv64'), handler('disabled'));
    assert.notEqual(await emulationFingerprint({ procRoot: proc }), first);
    await writeFile(join(proc, 'sys', 'fs', 'binfmt_misc', 'qemu-riscv64'), handler('enabled'));
    assert.equal(await emulationFingerprint({ procRoot: proc }), first);
    // The same size and modification time put back: the change time still tells.
    const before = await stat(interpreter);
    await writeFile(interpreter, 'not qemu either');
    await utimes(interpreter, before.atime, before.mtime);
    const replaced = await emulationFingerprint({ procRoot: proc });
    assert.notEqual(replaced, first);
    await writeFile(join(proc, 'sys', 'kernel', 'random', 'boot_id'), 'boot-2\n');
    assert.notEqual(await emulationFingerprint({ procRoot: proc }), replaced);
  });

  test('a platform seen running is not probed again until the machine changes; a failed check is not recorded', async () => {
    const cache = join(dir.path, 'cache');
    await requireEmulationRecorded([HOST], cache, { procRoot: proc });
    // With no directory to write probes in, any probe fails: passing means none ran.
    const noProbe = { procRoot: proc, tempDir: join(dir.path, 'no-such-dir') };
    await requireEmulationRecorded([HOST], cache, noProbe);
    // riscv64: no test registers a real handler for it (build-platform-stage.test.ts), and this one runs no emulator.
    await assert.rejects(requireEmulationRecorded([HOST, parsePlatform('linux/riscv64')], cache, { procRoot: proc }), (e: unknown) => e instanceof PolyarchError && e.code === 'EMULATION_MISSING');
    assert.deepEqual((JSON.parse(await readFile(join(cache, EMULATION_RECORD), 'utf8')) as { platforms: string[] }).platforms, [`linux/${HOST.architecture}`]);
    await writeFile(join(proc, 'sys', 'kernel', 'random', 'boot_id'), 'boot-3\n');
    await assert.rejects(requireEmulationRecorded([HOST], cache, noProbe), /no-such-dir/);
  });

  test('a record that is not what a build wrote is ignored: the check probes', async () => {
    const cache = join(dir.path, 'hostile-cache');
    await mkdir(cache, { recursive: true });
    const fingerprint = await emulationFingerprint({ procRoot: proc });
    const noProbe = { procRoot: proc, tempDir: join(dir.path, 'no-such-dir') };
    for (const text of ['', 'garbage', '[]', 'null', JSON.stringify({ fingerprint }), JSON.stringify({ fingerprint, platforms: 'linux/amd64' }), JSON.stringify({ fingerprint, platforms: [1] }), JSON.stringify({ fingerprint: 'other', platforms: [`linux/${HOST.architecture}`] })]) {
      await writeFile(join(cache, EMULATION_RECORD), text);
      await assert.rejects(requireEmulationRecorded([HOST], cache, noProbe), /no-such-dir/, text);
    }
  });
});
