// The young-generation collections of copy, verify and serve: they happen (V8 reports them), the
// collector stays out of the program's own globals, an idle process is left alone until buffers
// are made again, and stopping ends them. And the spaced-out full collections of copy and verify:
// a verify of blobs read from a registry runs far fewer of them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectYoungGarbage } from '../../src/cli/young-garbage.js';
import { createEndpointOpener, parseLocation } from '../../src/index.js';
import { startDistribution } from '../helpers/distribution.js';
import { randomIndex, THREE_PLATFORMS } from '../helpers/images.js';

/** Counts V8's young-generation collections until `stop` is called. */
function countMinorCollections(): { count(): number; stop(): void } {
  let minor = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (((entry as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
  });
  observer.observe({ entryTypes: ['gc'] });
  return { count: () => minor, stop: () => observer.disconnect() };
}

test('collectYoungGarbage runs young collections while on, without exposing gc to the program', async () => {
  const counter = countMinorCollections();
  const stop = collectYoungGarbage();
  try {
    // An idle process scavenges on its own next to never; wait for a few (generous bound for a busy machine).
    for (let waited = 0; counter.count() < 3 && waited < 20_000; waited += 50) await sleep(50);
    assert.ok(counter.count() >= 3, `young collections seen: ${counter.count()}`);
    assert.equal((globalThis as { gc?: unknown }).gc, undefined);
    // Without restWhenQuiet it never rests, buffers or not (about 40 in 400 ms).
    const before = counter.count();
    await sleep(400);
    assert.ok(counter.count() - before >= 10, `young collections in 400 ms with nothing allocated: ${counter.count() - before}`);
  } finally {
    stop();
  }
  await sleep(50); // entries already queued are delivered
  const after = counter.count();
  await sleep(300);
  counter.stop();
  // Running, 300 ms brings about 30; an occasional one of V8's own may still come.
  assert.ok(counter.count() - after < 3, `young collections after stopping: ${counter.count() - after}`);
});

test('collectYoungGarbage with restWhenQuiet leaves an idle process alone and wakes when buffers are made again', async () => {
  const counter = countMinorCollections();
  const stop = collectYoungGarbage({ restWhenQuiet: true });
  const kept: Buffer[] = [];
  try {
    await sleep(600); // busy at first, idle after 20 quiet turns (about 200 ms)
    const idleFrom = counter.count();
    await sleep(500);
    const idle = counter.count() - idleFrom;
    // Idle, it only looks: a few of V8's own may still come, not one per 10 ms turn (about 50).
    assert.ok(idle < 5, `young collections while idle: ${idle}`);
    // 256 KiB every 5 ms, dropped at once: blobs moving, as far as the collector can tell.
    const busyFrom = counter.count();
    for (let made = 0; made < 80; made++) {
      kept.push(Buffer.alloc(256 << 10));
      kept.length = 0;
      await sleep(5);
    }
    const busy = counter.count() - busyFrom;
    assert.ok(busy >= 5, `young collections while buffers were made: ${busy}`);
  } finally {
    stop();
    counter.stop();
  }
});

/**
 * A verify of `reference` in a fresh process, as the CLI runs it (young collections on, full
 * ones spaced out or not): how many full collections V8 reported.
 */
async function fullCollectionsOfVerify(reference: string, spaced: boolean): Promise<number> {
  const modules = { index: new URL('../../src/index.js', import.meta.url).href, garbage: new URL('../../src/cli/young-garbage.js', import.meta.url).href };
  const program = `
    import { constants, PerformanceObserver } from 'node:perf_hooks';
    const { verify } = await import(${JSON.stringify(modules.index)});
    const { collectYoungGarbage, fewerFullCollections } = await import(${JSON.stringify(modules.garbage)});
    let major = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
    }).observe({ entryTypes: ['gc'] });
    if (${spaced}) fewerFullCollections();
    const stop = collectYoungGarbage();
    await verify({ location: ${JSON.stringify(reference)} });
    stop();
    await new Promise((resolve) => setTimeout(resolve, 50)); // entries already queued are delivered
    process.stdout.write(String(major));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', program]);
  return Number(stdout);
}

test('fewerFullCollections: a verify reading 150 MB from a registry runs under half the full collections', async () => {
  const registry = await startDistribution();
  try {
    const reference = `${registry.host}/gc/app:1`;
    const opener = createEndpointOpener();
    const { endpoint } = await opener.open(parseLocation(reference), 'write');
    await randomIndex(endpoint, THREE_PLATFORMS, { tag: '1', layers: 3, bytes: 16 << 20, seed: 'full-collections' });
    await opener.close();
    const usual = await fullCollectionsOfVerify(reference, false);
    const spaced = await fullCollectionsOfVerify(reference, true);
    // Measured here: 18–27 against 3–4 (V8 counts the socket buffers made since the last full
    // collection against a limit set from the heap it left, 8 MB).
    assert.ok(usual >= 8, `full collections without: ${usual}`);
    assert.ok(spaced * 2 <= usual, `full collections with: ${spaced}, without: ${usual}`);
  } finally {
    await registry.stop();
  }
});
