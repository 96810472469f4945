// Runs `uname -m` in the arm64 image of a multi-platform index (under qemu-user on other machines).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { parsePlatform, runImage } from 'polyarch';

const registry = process.env.POLYARCH_EXAMPLE_REGISTRY ?? 'localhost:5000';
let printed = '';
const stdout = new Writable({ write: (chunk: Buffer, _encoding, done) => void ((printed += chunk.toString()), done()) });

// #region example
const [result] = await runImage({
  location: `${registry}/demo/busybox:multi`,
  insecure: true, // the example registry speaks plain HTTP
  platform: parsePlatform('linux/arm64'),
  command: ['uname', '-m'],
  stdout,
});
// #endregion example

assert.equal(result?.exitCode, 0);
assert.equal(printed.trim(), 'aarch64');
console.log(`linux/arm64 says ${printed.trim()}`);
