// polyarch build and run started by an ordinary account that has subordinate ids (/etc/subuid,
// /etc/subgid and newuidmap): steps see real owners (chown, a numeric USER and the base image's
// own non-root owners work), layers record the owners set inside (also of what the step left
// unreadable to the caller, which is handed back to it to be read), secrets get the owner uid=/gid=
// name, and no file of a subordinate owner is left on disk afterwards. An account without lines
// keeps the single mapping: chown to another id fails in the step.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PLAIN_UID, PLAIN_USER, SUB_START, SUB_UID, SUB_USER, filesOfSubordinateIds, runCliAsSubordinateUser, subordinateWorkspace } from '../helpers/subordinate-user.js';

/** The tar listing of each layer of the image in an oci layout: path → `uid:gid`, and a reader of a file's bytes. */
export async function layersOf(layout: string): Promise<{ owners: Map<string, string>; read: (path: string) => string }[]> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const blob = async (digest: string) => readFile(join(layout, 'blobs', ...digest.split(':')));
  let manifest = JSON.parse((await blob(index.manifests[0]!.digest)).toString()) as { manifests?: { digest: string }[]; layers?: { digest: string }[] };
  if (manifest.manifests) manifest = JSON.parse((await blob(manifest.manifests[0]!.digest)).toString()) as typeof manifest;
  return (manifest.layers ?? []).map((layer) => {
    const file = join(layout, 'blobs', ...layer.digest.split(':'));
    const listing = spawnSync('tar', ['-tvz', '--numeric-owner', '-f', file], { encoding: 'utf8' }).stdout;
    const owners = new Map<string, string>();
    for (const line of listing.trim().split('\n')) {
      const fields = line.trim().split(/\s+/);
      owners.set((fields[5] ?? '').replace(/^\.\//, '').replace(/\/$/, ''), fields[1]?.replace('/', ':') ?? '');
    }
    return { owners, read: (path: string) => spawnSync('tar', ['-xzOf', file, path], { encoding: 'utf8' }).stdout };
  });
}

describe('an ordinary user with subordinate ids runs steps', { timeout: 300_000 }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let home = '';
  let image = '';

  before(async () => {
    ({ dir, image, home } = await subordinateWorkspace('polyarch-subids-', { Env: ['PATH=/bin'], User: 'app', Cmd: ['sh', '-c', 'id -u; touch /home/app/x && echo wrote'] }));
  });
  after(async () => dir.remove());

  async function build(name: string, dockerfile: string, extra: readonly string[] = [], user = SUB_USER, userHome = home) {
    const ctx = join(dir.path, `ctx-${name}`);
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), dockerfile);
    await writeFile(join(ctx, 'token'), 'hunter2\n');
    spawnSync('chown', ['-R', `${SUB_UID}:${SUB_UID}`, ctx]);
    const out = join(dir.path, `out-${name}`);
    spawnSync('chmod', ['-R', 'a+rwX', ctx]);
    const result = runCliAsSubordinateUser(['build', '--platform', 'linux/amd64', '-o', `oci:${out}:1`, ...extra, ctx], userHome, ctx, user);
    return { ...result, out };
  }

  test('chown, a new user, USER with a number and the base image\'s own owners work, and layers record the owners set inside', async () => {
    const built = await build(
      'sub',
      `FROM ${image}\nUSER root\nRUN echo 'svc:x:1234:1234::/home/svc:/bin/sh' >> /etc/passwd && mkdir /home/svc && chown 1234:1234 /home/svc && touch /f && chown 1234:1234 /f && mkdir -m 700 /keys && echo k > /keys/key && chmod 600 /keys/key && chown -R 1234:1234 /keys\nUSER 1234\nRUN id -u > /home/svc/uid\nUSER app\nRUN touch /home/app/mine\nUSER root\nRUN mkdir /app && chown 1234:1234 /app && chown 1000:1000 /keys/key\nCOPY token /app/token\nUSER 1234\nRUN touch /app/more\n`,
    );
    assert.equal(built.code, 0, built.stderr);
    const layers = await layersOf(built.out);
    assert.equal(layers.length, 7);
    const layer = (i: number) => layers[i]!;
    const [made, uid, mine, app, copied, more] = [layer(1), layer(2), layer(3), layer(4), layer(5), layer(6)];
    assert.equal(made.owners.get('f'), '1234:1234');
    assert.equal(made.owners.get('home/svc'), '1234:1234');
    assert.equal(made.owners.get('etc/passwd'), '0:0');
    // Not readable by others: handed back to the caller to be read into the layer, its owner kept.
    assert.equal(made.owners.get('keys'), '1234:1234');
    assert.equal(made.owners.get('keys/key'), '1234:1234');
    assert.equal(made.read('keys/key'), 'k\n');
    assert.equal(uid.owners.get('home/svc/uid'), '1234:1234');
    assert.equal(uid.read('home/svc/uid'), '1234\n');
    // /home/app is 1000's in the base image: the USER step could write there only if it saw that owner.
    assert.equal(mine.owners.get('home/app/mine'), '1000:1000');
    // A later owner of a file the caller was handed back: the step's, not the one recorded before.
    assert.equal(app.owners.get('keys/key'), '1000:1000');
    // COPY into a directory a step gave to 1234, and a step of 1234 writing there afterwards.
    assert.equal(copied.owners.get('app/token'), '0:0');
    assert.equal(copied.owners.get('app'), '1234:1234');
    assert.equal(more.owners.get('app/more'), '1234:1234');
    for (const layer of layers) for (const [path, owner] of layer.owners) assert.ok(!owner.includes(String(SUB_UID)) && !owner.includes(String(SUB_START).slice(0, 3)), `${path} ${owner}`);
    assert.deepEqual(filesOfSubordinateIds(dir.path), [], 'no file of a subordinate owner is left behind');
  });

  test('secrets get the owner and mode uid=, gid= and mode= give (0:0 0400 by default)', async () => {
    const built = await build(
      'secret',
      `FROM ${image}\nUSER root\nRUN --mount=type=secret,id=t stat -c '%u:%g %a' /run/secrets/t > /default\nRUN --mount=type=secret,id=t,uid=1000,gid=50,mode=0440 stat -c '%u:%g %a' /run/secrets/t > /given\nUSER app\nRUN --mount=type=secret,id=t,uid=1000 cat /run/secrets/t > /home/app/read\n`,
      ['--secret', 'id=t,src=token'],
    );
    assert.equal(built.code, 0, built.stderr);
    const layers = await layersOf(built.out);
    assert.equal(layers[1]?.read('default'), '0:0 400\n');
    assert.equal(layers[2]?.read('given'), '1000:50 440\n');
    assert.equal(layers[3]?.read('home/app/read'), 'hunter2\n');
    assert.deepEqual(filesOfSubordinateIds(dir.path), []);
  });

  test('polyarch run: the image\'s USER owns its home, and nothing is left behind', async () => {
    const out = runCliAsSubordinateUser(['run', image], home, dir.path);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, '1000\nwrote\n');
    assert.deepEqual(filesOfSubordinateIds(dir.path), []);
    assert.equal(spawnSync('ls', ['-A', home], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '' && l !== 'cache').join(','), '', 'no temporary root is left');
  });

  test('an account without /etc/subuid lines keeps the single mapping: chown to another id fails in the step', async () => {
    const plainHome = join(dir.path, 'plain-home');
    await mkdir(plainHome);
    spawnSync('chown', [`${PLAIN_UID}:${PLAIN_UID}`, plainHome]);
    await chmod(dir.path, 0o777); // its context and output go there too
    const built = await build('plain', `FROM ${image}\nUSER root\nRUN touch /f && chown 1234:1234 /f\n`, [], PLAIN_USER, plainHome);
    assert.notEqual(built.code, 0);
    assert.match(built.stderr, /chown 1234:1234 \/f exited with code 1.*Invalid argument/);
  });
});
