// docker's config.json and credential helpers: lookup order and key forms, atomic writes that
// keep other fields, helpers run through the real helper protocol (a script on PATH).
import assert from 'node:assert/strict';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import { credentialsFor, readDockerConfig, removeCredentials, storeCredentials } from '../../src/registry/credentials/docker-config.js';
import { runCredentialHelper } from '../../src/registry/credentials/helper.js';
import { tempDir } from '../helpers/temp-dir.js';

let bin: { path: string; remove: () => Promise<void> };
let env: NodeJS.ProcessEnv;

const b64 = (text: string): string => Buffer.from(text).toString('base64');

// A credential helper speaking docker's protocol, keeping its secrets in a JSON file beside it.
const HELPER = `#!${process.execPath}
const fs = require('node:fs');
const path = require('node:path');
const file = path.join(__dirname, 'helper-store.json');
const store = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const action = process.argv[2];
  fs.appendFileSync(path.join(__dirname, 'helper-log.txt'), action + ' ' + (action === 'store' ? JSON.parse(input).ServerURL : input.trim()) + '\\n');
  if (action === 'get') {
    const entry = store[input.trim()];
    if (!entry) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    process.stdout.write(JSON.stringify({ ServerURL: input.trim(), Username: entry.Username, Secret: entry.Secret }));
  } else if (action === 'store') {
    const body = JSON.parse(input);
    store[body.ServerURL] = { Username: body.Username, Secret: body.Secret };
    fs.writeFileSync(file, JSON.stringify(store));
  } else if (action === 'erase') {
    if (!store[input.trim()]) { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); }
    delete store[input.trim()];
    fs.writeFileSync(file, JSON.stringify(store));
  } else { process.stdout.write('unknown action'); process.exit(1); }
});
`;

before(async () => {
  bin = await tempDir('polyarch-helper-');
  await writeFile(join(bin.path, 'docker-credential-fake'), HELPER);
  await chmod(join(bin.path, 'docker-credential-fake'), 0o755);
  await writeFile(
    join(bin.path, 'helper-store.json'),
    JSON.stringify({ 'helped.example.com': { Username: 'helper-user', Secret: 'helper-secret' }, 'tokened.example.com': { Username: '<token>', Secret: 'refresh-123' } }),
  );
  env = { ...process.env, PATH: `${bin.path}:${process.env.PATH ?? ''}` };
});
after(async () => {
  await bin?.remove();
});

test('credentialsFor finds auths entries by every key form docker writes', async () => {
  const dir = await tempDir();
  try {
    await writeFile(
      join(dir.path, 'config.json'),
      JSON.stringify({
        auths: {
          'registry.example.com': { auth: b64('bob:pw:with:colons') },
          'https://index.docker.io/v1/': { auth: b64('hub:hubpw') },
          'http://old.example.com/v2/': { username: 'old', password: 'oldpw' },
          'https://url.example.com': { auth: b64('url:urlpw') },
          'id.example.com': { identitytoken: 'id-token' },
          'tok.example.com': { registrytoken: 'reg-token' },
          'localhost:5000': { auth: b64('local:localpw') },
          'empty.example.com': {},
        },
        proxies: { default: {} },
      }),
    );
    const config = await readDockerConfig({ dir: dir.path });
    const cases: [string, unknown][] = [
      ['registry.example.com', { username: 'bob', password: 'pw:with:colons' }],
      ['docker.io', { username: 'hub', password: 'hubpw' }],
      ['index.docker.io', { username: 'hub', password: 'hubpw' }],
      ['registry-1.docker.io', { username: 'hub', password: 'hubpw' }],
      ['old.example.com', { username: 'old', password: 'oldpw' }],
      ['url.example.com', { username: 'url', password: 'urlpw' }],
      ['id.example.com', { identityToken: 'id-token' }],
      ['tok.example.com', { registryToken: 'reg-token' }],
      ['localhost:5000', { username: 'local', password: 'localpw' }],
      ['localhost', undefined],
      ['empty.example.com', undefined],
      ['unknown.example.com', undefined],
    ];
    for (const [host, expected] of cases) assert.deepEqual(await credentialsFor(config, host), expected, host);
  } finally {
    await dir.remove();
  }
});

test('credHelpers come first, then credsStore, then auths', async () => {
  const dir = await tempDir();
  try {
    await writeFile(
      join(dir.path, 'config.json'),
      JSON.stringify({
        credHelpers: { 'helped.example.com': 'fake', 'tokened.example.com': 'fake' },
        credsStore: 'fake',
        auths: { 'helped.example.com': { auth: b64('file:filepw') }, 'plain.example.com': { auth: b64('file:filepw') } },
      }),
    );
    const config = await readDockerConfig({ dir: dir.path });
    assert.deepEqual(await credentialsFor(config, 'helped.example.com', { env }), { username: 'helper-user', password: 'helper-secret' });
    assert.deepEqual(await credentialsFor(config, 'tokened.example.com', { env }), { identityToken: 'refresh-123' });
    // The store has nothing for it: the auths entry answers.
    assert.deepEqual(await credentialsFor(config, 'plain.example.com', { env }), { username: 'file', password: 'filepw' });
    assert.equal(await credentialsFor(config, 'none.example.com', { env }), undefined);
  } finally {
    await dir.remove();
  }
});

test('storeCredentials writes atomically with mode 0600 and keeps other fields; removeCredentials forgets every key form', async () => {
  const dir = await tempDir();
  try {
    await writeFile(join(dir.path, 'config.json'), JSON.stringify({ auths: { 'http://a.example.com/v2/': { auth: b64('stale:stale') } }, currentContext: 'ctx', proxies: { default: { httpProxy: 'p' } } }));
    await storeCredentials({ dir: dir.path }, 'a.example.com', { username: 'u', password: 'p@ss' });
    await storeCredentials({ dir: dir.path }, 'docker.io', { username: 'hub', password: 'hubpw' });
    const written = JSON.parse(await readFile(join(dir.path, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(written, {
      auths: { 'a.example.com': { auth: b64('u:p@ss') }, 'https://index.docker.io/v1/': { auth: b64('hub:hubpw') } },
      currentContext: 'ctx',
      proxies: { default: { httpProxy: 'p' } },
    });
    assert.equal((await stat(join(dir.path, 'config.json'))).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir.path), ['config.json']);

    await removeCredentials({ dir: dir.path }, 'a.example.com');
    const after = JSON.parse(await readFile(join(dir.path, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
    assert.deepEqual(Object.keys(after.auths), ['https://index.docker.io/v1/']);
    assert.equal(await credentialsFor(await readDockerConfig({ dir: dir.path }), 'a.example.com'), undefined);
  } finally {
    await dir.remove();
  }
});

test('with a credsStore, credentials go to the helper and auths keeps an empty entry', async () => {
  const dir = await tempDir('polyarch-config-');
  try {
    await writeFile(join(dir.path, 'config.json'), JSON.stringify({ credsStore: 'fake' }));
    await storeCredentials({ dir: dir.path, env }, 'new.example.com', { username: 'nu', password: 'npw' });
    assert.deepEqual(JSON.parse(await readFile(join(dir.path, 'config.json'), 'utf8')), { credsStore: 'fake', auths: { 'new.example.com': {} } });
    assert.deepEqual(await credentialsFor(await readDockerConfig({ dir: dir.path }), 'new.example.com', { env }), { username: 'nu', password: 'npw' });
    await removeCredentials({ dir: dir.path, env }, 'new.example.com');
    assert.equal(await credentialsFor(await readDockerConfig({ dir: dir.path }), 'new.example.com', { env }), undefined);
    const log = await readFile(join(bin.path, 'helper-log.txt'), 'utf8');
    assert.match(log, /store new\.example\.com\n/);
    assert.match(log, /erase new\.example\.com\n/);
  } finally {
    await dir.remove();
  }
});

test('a missing directory reads as empty; bad JSON and missing helpers are clear errors', async () => {
  const dir = await tempDir();
  try {
    const empty = await readDockerConfig({ dir: join(dir.path, 'nope') });
    assert.deepEqual([empty.auths, empty.credHelpers, empty.credsStore], [{}, {}, undefined]);
    await writeFile(join(dir.path, 'config.json'), '{ not json');
    await assert.rejects(readDockerConfig({ dir: dir.path }), (e: unknown) => isPolyarchError(e) && e.code === 'CONFIG_INVALID' && e.message.includes('config.json'));
    await assert.rejects(runCredentialHelper('absent-helper', 'x.example.com', 'get', { env }), (e: unknown) => isPolyarchError(e) && e.code === 'NOT_FOUND' && e.message.includes('docker-credential-absent-helper'));
    await assert.rejects(runCredentialHelper('../evil', 'x.example.com', 'get', { env }), (e: unknown) => isPolyarchError(e) && e.code === 'USAGE');
    assert.equal(await runCredentialHelper('fake', 'unknown.example.com', 'get', { env }), undefined);
  } finally {
    await dir.remove();
  }
});
