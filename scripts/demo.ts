// `npm run demo`: the main job on one machine with nothing else installed. Writes a generated
// 3-platform index into an OCI layout, then drives the real CLI over it.
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEndpointOpener, parseLocation } from '../src/index.js';
import { randomIndex, THREE_PLATFORMS } from '../test/helpers/images.js';

const root = resolve('demo');
const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function polyarch(...args: string[]): void {
  console.log(`\n$ polyarch ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

await rm(root, { recursive: true, force: true });
const opener = createEndpointOpener();
const { endpoint } = await opener.open(parseLocation(`oci:${root}/source:1.0`), 'write');
const made = await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1.0', layers: 2, bytes: 256 * 1024, seed: 'demo' });
await opener.close();
console.log(`generated a ${THREE_PLATFORMS.length}-platform index ${made.index.digest} in ${root}/source`);

polyarch('inspect', `oci:${root}/source:1.0`);
polyarch('copy', `oci:${root}/source:1.0`, `oci:${root}/layout:1.0`);
polyarch('copy', '--platform', 'linux/arm64', `oci:${root}/layout:1.0`, `docker-archive:${root}/hello-arm64.tar:demo/hello:1.0`);
polyarch('inspect', `docker-archive:${root}/hello-arm64.tar`);
