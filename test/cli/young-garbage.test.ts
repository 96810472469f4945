// The young-generation collections of copy, verify and serve: they happen (V8 reports them), the
// collector stays out of the program's own globals, an idle process is left alone until buffers
// are made again, and stopping ends them.
import assert from 'node:assert/strict';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectYoungGarbage } from '../../src/cli/young-garbage.js';

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
