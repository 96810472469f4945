// Registry settings from the files users already keep, through the built CLI against real
// registries: a CA named in buildkitd.toml or polyarch's registries.toml, --ca-file over both,
// a client certificate for mutual TLS, daemon.json's insecure-registries CIDRs, mirrors with
// fallback to the origin, and `config show` naming where each value came from.
import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createEndpointOpener } from '../../src/endpoint/open-endpoint.js';
import { parseLocation } from '../../src/reference/location.js';
import { startDistribution, type DistributionHandle } from '../helpers/distribution.js';
import { randomImage, randomIndex, THREE_PLATFORMS, type GeneratedImage, type GeneratedIndex } from '../helpers/images.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { makeSelfSignedCert, type SelfSignedCert } from '../helpers/tls.js';
import { tempDir } from '../helpers/temp-dir.js';

let dir: { path: string; remove: () => Promise<void> };
let fileCount = 0;

/** The CLI with only the settings files given (none of this machine's), and an empty docker config. */
function polyarch(args: readonly string[], files: { polyarch?: string; buildkitd?: string; daemon?: string } = {}): Promise<CliResult> {
  return runCli(args, {
    env: {
      DOCKER_CONFIG: join(dir.path, 'docker-config'),
      POLYARCH_REGISTRIES_CONFIG: files.polyarch ?? '',
      POLYARCH_BUILDKITD_CONFIG: files.buildkitd ?? '',
      POLYARCH_DOCKER_DAEMON_CONFIG: files.daemon ?? '',
    },
  });
}

async function settingsFile(name: string, text: string): Promise<string> {
  const path = join(dir.path, `${++fileCount}-${name}`);
  await writeFile(path, text);
  return path;
}

function layout(): string {
  return `oci:${join(dir.path, `out-${++fileCount}`)}`;
}

/** One line on stderr ending in the code (a newline at most at its end, and a hint line allowed). */
function assertOneLineError(result: CliResult, code: string, pattern: RegExp): void {
  const first = result.stderr.split('\n')[0] ?? '';
  assert.match(first, new RegExp(`\\[${code}\\]$`), result.stderr);
  assert.match(first, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

/** A port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

before(async () => {
  dir = await tempDir('polyarch-settings-');
});
after(async () => {
  await dir?.remove();
});

describe('TLS settings: CA files, --ca-file, mutual TLS, insecure networks', () => {
  let secure: DistributionHandle;
  let mutual: DistributionHandle;
  let client: SelfSignedCert;
  let other: SelfSignedCert;
  let image: GeneratedImage;

  before(async () => {
    client = await makeSelfSignedCert(dir.path, { name: 'client', commonName: 'polyarch-client', hosts: ['polyarch-client'] });
    other = await makeSelfSignedCert(dir.path, { name: 'other' });
    [secure, mutual] = await Promise.all([startDistribution({ tls: true }), startDistribution({ tls: true, clientCas: [client.certFile] })]);
    const opener = createEndpointOpener({ caFile: secure.caFile as string });
    const { endpoint } = await opener.open(parseLocation(`${secure.host}/team/app:1.0`), 'write');
    image = await randomImage(endpoint, { platform: THREE_PLATFORMS[0]!, layers: 1, seed: 'settings-tls', tag: '1.0' });
    await opener.close();
  });
  after(async () => {
    await Promise.all([secure?.stop(), mutual?.stop()]);
  });

  test('a self-signed registry is refused without settings, and reached with a CA from buildkitd.toml or registries.toml', async () => {
    const refused = await polyarch(['copy', `${secure.host}/team/app:1.0`, layout()]);
    assert.equal(refused.code, 1);
    assertOneLineError(refused, 'TLS', /not trusted/);

    const buildkitd = await settingsFile(
      'buildkitd.toml',
      `debug = true\n[worker.oci]\n  enabled = true\n[registry."${secure.host}"]\n  ca = [${JSON.stringify(secure.caFile)}]\n  tlsconfigdir = "/unused"\n`,
    );
    const viaBuildkit = await polyarch(['copy', `${secure.host}/team/app:1.0`, layout()], { buildkitd });
    assert.equal(viaBuildkit.code, 0, viaBuildkit.stderr);
    assert.match(viaBuildkit.stdout, new RegExp(image.manifest.digest));

    // A relative file name is taken from the settings file's directory.
    await copyFile(secure.caFile as string, join(dir.path, 'registry-ca.pem'));
    const own = await settingsFile('registries.toml', `[registry."${secure.host}"]\nca = ["registry-ca.pem"]\n`);
    const viaOwn = await polyarch(['copy', `${secure.host}/team/app:1.0`, layout()], { polyarch: own });
    assert.equal(viaOwn.code, 0, viaOwn.stderr);
  });

  test("skopeo's --src-tls-verify=false and --dest-tls-verify=false trust that side's registry alone", async () => {
    const pulled = layout();
    const source = await polyarch(['copy', '--src-tls-verify=false', `${secure.host}/team/app:1.0`, pulled]);
    assert.equal(source.code, 0, source.stderr);
    assert.match(source.stdout, new RegExp(image.manifest.digest));
    // The flag for the other side (a layout here) leaves the registry's TLS checked.
    const otherSide = await polyarch(['copy', '--dest-tls-verify=false', `${secure.host}/team/app:1.0`, layout()]);
    assertOneLineError(otherSide, 'TLS', /not trusted/);
    const pushed = await polyarch(['copy', '--dest-tls-verify=false', pulled, `docker://${secure.host}/team/pushed:1`]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const wrongSide = await polyarch(['copy', '--src-tls-verify=false', pulled, `${secure.host}/team/pushed:2`]);
    assertOneLineError(wrongSide, 'TLS', /not trusted/);
    // Written as skopeo takes it, with "=": a word that is no boolean is one line (without "=", the next word would be its value).
    const odd = await polyarch(['copy', '--dest-tls-verify=maybe', pulled, `${secure.host}/team/pushed:3`]);
    assert.deepEqual([odd.code, odd.stderr], [2, 'polyarch: --dest-tls-verify=maybe: expected true or false [USAGE]\n']);
  });

  test('--ca-file beats the files, and registries.toml beats buildkitd.toml', async () => {
    const wrong = await settingsFile('registries.toml', `[registry."${secure.host}"]\nca = [${JSON.stringify(other.certFile)}]\n`);
    const right = await settingsFile('buildkitd.toml', `[registry."${secure.host}"]\nca = [${JSON.stringify(secure.caFile)}]\n`);
    const ownWins = await polyarch(['copy', `${secure.host}/team/app:1.0`, layout()], { polyarch: wrong, buildkitd: right });
    assert.equal(ownWins.code, 1, 'the wrong CA from registries.toml is the one used');
    assertOneLineError(ownWins, 'TLS', /not trusted/);
    const flagWins = await polyarch(['--ca-file', secure.caFile as string, 'copy', `${secure.host}/team/app:1.0`, layout()], { polyarch: wrong });
    assert.equal(flagWins.code, 0, flagWins.stderr);
  });

  test('a registry that asks for a client certificate gets the keypair from the file, and fails in one line without it', async () => {
    const withKey = await settingsFile(
      'registries.toml',
      `[registry."${mutual.host}"]\nca = [${JSON.stringify(mutual.caFile)}]\n[[registry."${mutual.host}".keypair]]\nkey = ${JSON.stringify(client.keyFile)}\ncert = ${JSON.stringify(client.certFile)}\n`,
    );
    // Push through the library with the same file: the library reads exactly the files it is given.
    const opener = createEndpointOpener({ registrySettings: { polyarch: { path: withKey } } });
    const { endpoint } = await opener.open(parseLocation(`${mutual.host}/team/mtls:1`), 'write');
    const pushed = await randomImage(endpoint, { platform: THREE_PLATFORMS[1]!, layers: 1, seed: 'settings-mtls', tag: '1' });
    await opener.close();

    const copied = await polyarch(['copy', `${mutual.host}/team/mtls:1`, layout()], { polyarch: withKey });
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, new RegExp(pushed.manifest.digest));

    const withoutKey = await settingsFile('registries.toml', `[registry."${mutual.host}"]\nca = [${JSON.stringify(mutual.caFile)}]\n`);
    const refused = await polyarch(['copy', `${mutual.host}/team/mtls:1`, layout()], { polyarch: withoutKey });
    assert.equal(refused.code, 1);
    assertOneLineError(refused, 'TLS', /client certificate/);

    // Files that hold no certificate (or no key) are named before any handshake, not blamed on the registry.
    const garbage = join(dir.path, 'garbage.pem');
    await writeFile(garbage, 'garbage\n');
    const badCa = await polyarch(['--ca-file', garbage, 'copy', `${mutual.host}/team/mtls:1`, layout()], {});
    assert.equal(badCa.code, 2);
    assertOneLineError(badCa, 'CONFIG_INVALID', /garbage\.pem" named by --ca-file: no PEM certificate in it/);
    const keyAsCa = await polyarch(['--ca-file', client.keyFile, 'copy', `${mutual.host}/team/mtls:1`, layout()], {});
    assertOneLineError(keyAsCa, 'CONFIG_INVALID', /no PEM certificate in it/);
    const swapped = await settingsFile(
      'registries.toml',
      `[registry."${mutual.host}"]\nca = [${JSON.stringify(mutual.caFile)}]\n[[registry."${mutual.host}".keypair]]\nkey = ${JSON.stringify(client.certFile)}\ncert = ${JSON.stringify(client.certFile)}\n`,
    );
    const badKey = await polyarch(['copy', `${mutual.host}/team/mtls:1`, layout()], { polyarch: swapped });
    assert.equal(badKey.code, 2);
    assertOneLineError(badKey, 'CONFIG_INVALID', /not a PEM private key/);
  });

  test("daemon.json's insecure-registries CIDR entry lets an untrusted registry in that network work", async () => {
    const elsewhere = await settingsFile('daemon.json', JSON.stringify({ 'insecure-registries': ['10.0.0.0/8'], 'log-level': 'warn' }));
    const outside = await polyarch(['copy', `${secure.host}/team/app:1.0`, layout()], { daemon: elsewhere });
    assert.equal(outside.code, 1, 'a network the registry is not in changes nothing');
    const daemon = await settingsFile('daemon.json', JSON.stringify({ 'insecure-registries': ['10.0.0.0/8', '127.0.0.0/8'] }));
    const inside = await polyarch(['copy', `${secure.host}/team/app:1.0`, layout()], { daemon });
    assert.equal(inside.code, 0, inside.stderr);
    const shown = await polyarch(['config', 'show', secure.host], { daemon });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`insecure +true +${daemon.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} insecure-registries\\[1\\] \\(127\\.0\\.0\\.0/8 holds 127\\.0\\.0\\.1\\)`));
  });
});

describe('mirrors', () => {
  let origin: DistributionHandle;
  let mirror: DistributionHandle;
  let onMirror: GeneratedIndex;
  let prefixed: GeneratedImage;
  let onOrigin: GeneratedImage;

  before(async () => {
    [origin, mirror] = await Promise.all([startDistribution(), startDistribution()]);
    const opener = createEndpointOpener();
    const write = async (location: string) => (await opener.open(parseLocation(location), 'write')).endpoint;
    onMirror = await randomIndex(await write(`${mirror.host}/team/app:1.0`), THREE_PLATFORMS, { tag: '1.0', layers: 1, seed: 'settings-mirror' });
    prefixed = await randomImage(await write(`${mirror.host}/proxy/team/solo:2`), { platform: THREE_PLATFORMS[0]!, layers: 1, seed: 'settings-prefixed', tag: '2' });
    onOrigin = await randomImage(await write(`${origin.host}/team/only-origin:3`), { platform: THREE_PLATFORMS[2]!, layers: 1, seed: 'settings-origin', tag: '3' });
    await opener.close();
  });
  after(async () => {
    await Promise.all([origin?.stop(), mirror?.stop()]);
  });

  test('a pull from the origin name is served by the mirror (the origin does not hold the image)', async () => {
    const file = await settingsFile('registries.toml', `[registry."${origin.host}"]\nmirrors = ["${mirror.host}"]\n`);
    const target = layout();
    const copied = await polyarch(['copy', `${origin.host}/team/app:1.0`, target], { polyarch: file });
    assert.equal(copied.code, 0, copied.stderr);
    assert.match(copied.stdout, new RegExp(onMirror.index.digest));
    const inspected = await polyarch(['inspect', '--json', target]);
    assert.equal((JSON.parse(inspected.stdout) as { descriptor: { digest: string } }).descriptor.digest, onMirror.index.digest);

    // A repository prefix on the mirror, as BuildKit writes it (`host/prefix`).
    const withPrefix = await settingsFile('buildkitd.toml', `[registry."${origin.host}"]\nmirrors = ["${mirror.host}/proxy"]\n`);
    const solo = await polyarch(['copy', `${origin.host}/team/solo:2`, layout()], { buildkitd: withPrefix });
    assert.equal(solo.code, 0, solo.stderr);
    assert.match(solo.stdout, new RegExp(prefixed.manifest.digest));
  });

  test('a mirror that is down or lacks the image hands over to the next, then to the origin', async () => {
    const down = await closedPort();
    const file = await settingsFile('registries.toml', `[registry."${origin.host}"]\nmirrors = ["127.0.0.1:${down}", "${mirror.host}"]\n`);
    const fromMirror = await polyarch(['copy', `${origin.host}/team/app:1.0`, layout()], { polyarch: file });
    assert.equal(fromMirror.code, 0, fromMirror.stderr);
    const fromOrigin = await polyarch(['copy', `${origin.host}/team/only-origin:3`, layout()], { polyarch: file });
    assert.equal(fromOrigin.code, 0, fromOrigin.stderr);
    assert.match(fromOrigin.stdout, new RegExp(onOrigin.manifest.digest));
    // Without the origin holding it either, the origin's answer is the one reported.
    const nowhere = await polyarch(['copy', `${origin.host}/team/nowhere:1`, layout()], { polyarch: file });
    assert.equal(nowhere.code, 1);
    assertOneLineError(nowhere, 'MANIFEST_UNKNOWN', new RegExp(origin.host.replace(/\./g, '\\.')));
  });

  test('pushes go to the origin, never to a mirror', async () => {
    const file = await settingsFile('registries.toml', `[registry."${origin.host}"]\nmirrors = ["${mirror.host}"]\n`);
    const source = layout();
    assert.equal((await polyarch(['copy', `${mirror.host}/team/app:1.0`, source])).code, 0);
    const pushed = await polyarch(['copy', source, `${origin.host}/team/pushed:1`], { polyarch: file });
    assert.equal(pushed.code, 0, pushed.stderr);
    const opener = createEndpointOpener();
    try {
      const atOrigin = await (await opener.open(parseLocation(`${origin.host}/team/pushed:1`), 'write')).endpoint.resolve('1');
      assert.equal(atOrigin?.digest, onMirror.index.digest);
      const atMirror = await (await opener.open(parseLocation(`${mirror.host}/team/pushed:1`), 'write')).endpoint.resolve('1');
      assert.equal(atMirror, undefined);
    } finally {
      await opener.close();
    }
  });
});

describe('config show', () => {
  test('prints each value with the file and key it came from, as text and JSON', async () => {
    const own = await settingsFile('registries.toml', '[registry."reg.example:5000"]\nhttp = true\nmirrors = ["mirror.example/cache"]\n');
    const buildkitd = await settingsFile(
      'buildkitd.toml',
      '[registry."reg.example:5000"]\nhttp = false\ninsecure = true\nca = ["/etc/ssl/certs/ca-certificates.crt"]\n[registry."docker.io"]\nmirrors = ["ignored.example"]\n',
    );
    const daemon = await settingsFile('daemon.json', JSON.stringify({ 'registry-mirrors': ['https://hub-mirror.example'], 'insecure-registries': ['reg.example:5000'] }));
    const files = { polyarch: own, buildkitd, daemon };
    const shown = await polyarch(['config', 'show', 'reg.example:5000'], files);
    assert.equal(shown.code, 0, shown.stderr);
    const rows = shown.stdout.split('\n');
    assert.equal(rows[0], 'registry reg.example:5000');
    const row = (name: string) => rows.find((r) => r.startsWith(`${name} `)) ?? '';
    assert.match(row('http'), new RegExp(`^http +true +${own.replace(/[.]/g, '\\.')} registry\\."reg\\.example:5000"\\.http$`));
    assert.match(row('insecure'), new RegExp(`true +${buildkitd.replace(/[.]/g, '\\.')} registry\\."reg\\.example:5000"\\.insecure$`), 'registries.toml does not set it, buildkitd.toml does');
    assert.match(row('ca'), /\/etc\/ssl\/certs\/ca-certificates\.crt .*buildkitd\.toml registry\."reg\.example:5000"\.ca$/);
    assert.match(row('mirrors'), /mirror\.example\/cache .*registries\.toml registry\."reg\.example:5000"\.mirrors$/);
    assert.match(row('keypair'), /\(none\) +\(default\)$/);
    assert.ok(rows.some((r) => r.includes(own)) && rows.some((r) => r.includes(daemon)), 'the files read are listed');

    const hub = await polyarch(['--json', 'config', 'show', 'docker.io'], { daemon, buildkitd: await settingsFile('empty.toml', '') });
    assert.equal(hub.code, 0, hub.stderr);
    const json = JSON.parse(hub.stdout) as { settings: { host: string; mirrors: { value: { host: string; plainHttp: boolean }[]; source: string } }; files: { kind: string; found: boolean }[] };
    assert.equal(json.settings.host, 'docker.io');
    assert.deepEqual(json.settings.mirrors.value.map((m) => m.host), ['hub-mirror.example'], "daemon.json's registry-mirrors are Docker Hub's");
    assert.equal(json.settings.mirrors.source, `${daemon} registry-mirrors`);
    assert.deepEqual(json.files.map((f) => f.kind), ['buildkitd', 'docker-daemon']);

    const flags = await polyarch(['--insecure', '--ca-file', '/etc/ssl/certs/ca-certificates.crt', 'config', 'show', 'reg.example:5000'], files);
    assert.match(flags.stdout, /\ninsecure +true +--insecure\n/);
    assert.match(flags.stdout, /\nca +\/etc\/ssl\/certs\/ca-certificates\.crt +--ca-file\n/);
  });

  test('a file that is not valid TOML or JSON is refused in one line naming it, exit 2', async () => {
    const toml = await settingsFile('registries.toml', '[registry."a.example"\nhttp = true\n');
    const badToml = await polyarch(['config', 'show', 'a.example'], { polyarch: toml });
    assert.equal(badToml.code, 2);
    assertOneLineError(badToml, 'CONFIG_INVALID', new RegExp(`${toml.replace(/[.]/g, '\\.')}.*not valid TOML`));

    const json = await settingsFile('daemon.json', '{"insecure-registries": [');
    const badJson = await polyarch(['copy', 'a.example/app:1', layout()], { daemon: json });
    assert.equal(badJson.code, 2);
    assertOneLineError(badJson, 'CONFIG_INVALID', new RegExp(`${json.replace(/[.]/g, '\\.')}.*not valid JSON`));

    const typo = await settingsFile('registries.toml', '[registry."a.example"]\ninsecur = true\n');
    const badKey = await polyarch(['config', 'show', 'a.example'], { polyarch: typo });
    assert.equal(badKey.code, 2);
    assertOneLineError(badKey, 'CONFIG_INVALID', /"insecur" is not a setting polyarch knows/);

    const missing = await polyarch(['config', 'show', 'a.example'], { polyarch: join(dir.path, 'no-such.toml') });
    assert.equal(missing.code, 2);
    assertOneLineError(missing, 'CONFIG_INVALID', /no-such\.toml": no such file/);
    assert.equal((await readFile(toml, 'utf8')).length > 0, true);
  });
});
