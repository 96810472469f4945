// `npm run demo`: the main job on one machine with nothing else installed. Starts polyarch's
// embedded registry, builds examples/hello for four platforms into it, then inspects the index.
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRegistryServer } from '../src/index.js';

const root = resolve('demo');
const cli = fileURLToPath(new URL('../../dist/bin/polyarch.js', import.meta.url));

/** Runs the CLI without blocking this process, which is serving the registry meanwhile. */
function polyarch(...args: string[]): Promise<void> {
  console.log(`\n$ polyarch ${args.join(' ')}`);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: 'inherit', env: { ...process.env, XDG_CACHE_HOME: `${root}/cache` } });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`polyarch ${args[0]} exited with ${code}`))));
  });
}

await rm(root, { recursive: true, force: true });
const server = await createRegistryServer({ root: `${root}/registry` });
const { host, url } = await server.listen(0, '127.0.0.1');
console.log(`embedded registry on ${url} (storage in ${root}/registry); open it in a browser to see the platform matrix`);
try {
  const example = fileURLToPath(new URL('../../examples/hello', import.meta.url));
  await polyarch('build', '--platform', 'linux/amd64,linux/arm64,linux/arm/v7,linux/riscv64', '-t', `${host}/demo/hello:1.0`, '--push', example);
  await polyarch('inspect', `${host}/demo/hello:1.0`);
  await polyarch('explain', `${host}/demo/hello:1.0`, '--host', 'linux/arm/v8');
  await polyarch('copy', '--platform', 'linux/arm64', `${host}/demo/hello:1.0`, `docker-archive:${root}/hello-arm64.tar:demo/hello:1.0`);
  await polyarch('inspect', `docker-archive:${root}/hello-arm64.tar`);
} finally {
  await server.close();
}
