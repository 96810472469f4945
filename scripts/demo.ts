// `npm run demo`: the main job on one machine with nothing else installed. Starts polyarch's
// embedded registry, writes a generated 3-platform index, then drives the real CLI against it.
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEndpointOpener, createRegistryServer, parseLocation } from '../src/index.js';
import { randomIndex, THREE_PLATFORMS } from '../test/helpers/images.js';

const root = resolve('demo');
const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Runs the CLI without blocking this process, which is serving the registry meanwhile. */
function polyarch(...args: string[]): Promise<void> {
  console.log(`\n$ polyarch ${args.join(' ')}`);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: 'inherit' });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`polyarch ${args[0]} exited with ${code}`))));
  });
}

await rm(root, { recursive: true, force: true });
const server = await createRegistryServer({ root: `${root}/registry` });
const { host, url } = await server.listen(0, '127.0.0.1');
console.log(`embedded registry on ${url} (storage in ${root}/registry); open it in a browser to see the platform matrix`);
try {
  const opener = createEndpointOpener();
  const { endpoint } = await opener.open(parseLocation(`oci:${root}/source:1.0`), 'write');
  const made = await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1.0', layers: 2, bytes: 256 * 1024, seed: 'demo' });
  await opener.close();
  console.log(`generated a ${THREE_PLATFORMS.length}-platform index ${made.index.digest} in ${root}/source`);

  await polyarch('copy', `oci:${root}/source:1.0`, `${host}/demo/hello:1.0`);
  await polyarch('inspect', `${host}/demo/hello:1.0`);
  await polyarch('explain', `${host}/demo/hello:1.0`, '--host', 'linux/arm/v8');
  await polyarch('copy', '--platform', 'linux/arm64', `${host}/demo/hello:1.0`, `docker-archive:${root}/hello-arm64.tar:demo/hello:1.0`);
  await polyarch('inspect', `docker-archive:${root}/hello-arm64.tar`);
} finally {
  await server.close();
}
