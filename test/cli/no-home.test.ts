// A container run as an arbitrary user has no HOME and no entry in /etc/passwd, and Node's
// os.homedir() throws there. Every command then stopped with a stack trace before it began (the
// server's default root was computed as the command definitions loaded). Now a command that needs
// no place under the home works, pulls are anonymous (no docker config), and a command that needs
// one names the variable to set, in one line.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEndpointOpener, parseLocation, parsePlatform } from '../../src/index.js';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { randomImage } from '../helpers/images.js';
import { CLI_PATH } from '../helpers/run-cli.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A uid with no entry in the user database (checked in `before`). */
const NOBODY_KNOWN = 54321;

describe('a user with no home directory', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let registry: EmbeddedHandle;
  let work = '';

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'these tests switch to another uid: they run as root');
    assert.notEqual(spawnSync('getent', ['passwd', String(NOBODY_KNOWN)]).status, 0, `uid ${NOBODY_KNOWN} must have no passwd entry`);
    dir = await tempDir('polyarch-no-home-');
    await chmod(dir.path, 0o755);
    work = join(dir.path, 'work');
    await mkdir(work);
    await chown(work, NOBODY_KNOWN, NOBODY_KNOWN);
    await writeFile(join(work, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n');
    registry = await startEmbedded();
    const opener = createEndpointOpener();
    const { endpoint } = await opener.open(parseLocation(`${registry.host}/app:1`), 'write');
    await randomImage(endpoint, { platform: parsePlatform('linux/amd64'), tag: '1' });
    await opener.close();
  });
  after(async () => {
    await registry?.stop();
    await dir?.remove();
  });

  /** The CLI as that uid, with no HOME and none of the variables that stand in for it (not spawnSync: the registry answers from this process). */
  function asHomeless(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const unset = ['HOME', 'XDG_CACHE_HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'DOCKER_CONFIG'].flatMap((v) => ['-u', v]);
    return new Promise((resolve, reject) => {
      execFile('setpriv', [`--reuid=${NOBODY_KNOWN}`, `--regid=${NOBODY_KNOWN}`, '--clear-groups', 'env', ...unset, process.execPath, CLI_PATH, ...args], { encoding: 'utf8', cwd: work }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        if (code === null) reject(error);
        else resolve({ code, stdout, stderr });
      });
    });
  }

  test('help, inspect and copy work; a pull asks the registry without credentials', async () => {
    const help = await asHomeless(['--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: polyarch/);
    const serveHelp = await asHomeless(['serve', '--help']);
    assert.equal(serveHelp.code, 0, serveHelp.stderr);
    assert.doesNotMatch(serveHelp.stdout, /--root <dir>\s+where content is stored \(default/, 'no default root to show');
    const inspect = await asHomeless(['inspect', `${registry.host}/app:1`]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /Digest:\s+sha256:/);
    const out = join(work, 'out');
    const copied = await asHomeless(['copy', '-q', `${registry.host}/app:1`, `oci:${out}:1`]);
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(await readFile(join(out, 'index.json'), 'utf8'), /"org.opencontainers.image.ref.name":"1"/);
  });

  test('a command that needs a place under the home names the variable to set, in one line', async () => {
    const cases: [string[], RegExp][] = [
      [['build', '--platform', 'linux/amd64', work], /^polyarch: no place for the build cache: XDG_CACHE_HOME is not set and there is no home directory \(HOME is not set, and user 54321 has none in the user database\); set XDG_CACHE_HOME or HOME \[USAGE\]\n$/],
      [['bundle', '--platform', 'linux/amd64', '-o', join(work, 'b-{arch}.tar'), `${registry.host}/app:1`], /^polyarch: no place for the bundle blob cache: XDG_CACHE_HOME is not set .*\[USAGE\]\n$/],
      [['login', registry.host, '-u', 'a', '-p', 'b'], /^polyarch: no docker config directory: DOCKER_CONFIG is not set .*; set DOCKER_CONFIG or HOME \[USAGE\]\n$/],
      [['serve', '--listen', '127.0.0.1:0'], /^polyarch: serve needs --root here: XDG_DATA_HOME is not set and there is no home directory .*\[USAGE\]\n$/],
    ];
    for (const [args, message] of cases) {
      const run = await asHomeless(args);
      assert.equal(run.code, 2, `${args[0]}: ${run.stderr}`);
      assert.match(run.stderr, message, args[0]);
    }
  });
});
