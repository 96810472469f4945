// Which platforms wait (emulated-first.ts): only those of the build machine's architecture, only
// while a platform with RUN steps under emulation has not reached its first one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmulatedFirst } from '../../src/builder/emulated-first.js';
import { parsePlatform, type Platform } from '../../src/platform/platform.js';

const amd64 = parsePlatform('linux/amd64');
const arm64 = parsePlatform('linux/arm64');
const armv7 = parsePlatform('linux/arm/v7');

/** Whether `platform` may start now (its turn resolves within a few event loop turns). */
async function mayStart(order: EmulatedFirst, platform: Platform): Promise<boolean> {
  const waited = new Promise<false>((resolve) => setTimeout(() => resolve(false), 20));
  return Promise.race([order.turn(platform).then(() => true as const), waited]);
}

test('the native platform waits until every emulated one is underway; emulated ones never wait', async () => {
  const order = new EmulatedFirst([amd64, arm64, armv7], [amd64, arm64, armv7], amd64);
  assert.equal(await mayStart(order, arm64), true);
  assert.equal(await mayStart(order, armv7), true);
  assert.equal(await mayStart(order, amd64), false);
  order.underway(arm64);
  assert.equal(await mayStart(order, amd64), false, 'arm/v7 is not underway yet');
  order.underway(armv7);
  order.underway(armv7); // again is harmless
  assert.equal(await mayStart(order, amd64), true);
});

test('nothing waits without RUN steps on the targets: no RUN at all, or only a builder on the build platform', async () => {
  for (const runOn of [[], [amd64]]) {
    const order = new EmulatedFirst([amd64, arm64], runOn, amd64);
    assert.equal(await mayStart(order, amd64), true, JSON.stringify(runOn));
  }
  // Every target emulated (an arm64 machine building amd64 and ppc64le): none waits for another.
  const foreign = new EmulatedFirst([amd64, parsePlatform('linux/ppc64le')], [amd64, parsePlatform('linux/ppc64le')], arm64);
  assert.equal(await mayStart(foreign, amd64), true);
});
