// mapConcurrent: bounded, ordered, and on failure it waits for what it started before it rejects,
// so callers never see an error while other work is still writing. takeAll: ordered, a few
// takes at once, and a failure stops the stream once the others have settled.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Readable } from 'node:stream';
import { mapConcurrent, takeAll } from '../../src/internal/streams.js';

test('results keep the order of the items; never more than the limit in flight', async () => {
  let running = 0;
  let most = 0;
  const out = await mapConcurrent([5, 1, 4, 2, 3], 2, async (n) => {
    most = Math.max(most, ++running);
    await sleep(n * 3);
    running--;
    return n * 10;
  });
  assert.deepEqual(out, [50, 10, 40, 20, 30]);
  assert.equal(most, 2);
});

test('a failure aborts the calls still running and is thrown once they have settled; no new call starts', async () => {
  const finished: number[] = [];
  const started: number[] = [];
  const sawAbort: boolean[] = [];
  await assert.rejects(
    mapConcurrent([0, 1, 2, 3], 2, async (n, _index, signal) => {
      started.push(n);
      if (n === 0) throw new Error('first item fails');
      await sleep(30);
      sawAbort.push(signal.aborted);
      finished.push(n);
    }),
    /first item fails/,
  );
  assert.deepEqual(finished, [1], 'the slow call that was running had finished before the rejection');
  assert.deepEqual(started, [0, 1], 'nothing new started after the failure');
  assert.deepEqual(sawAbort, [true], 'the running call was told to stop');
});

test('takeAll: chunks are taken in order, up to four at once; a failure stops the stream once the others have settled', async () => {
  let running = 0;
  let most = 0;
  const order: number[] = [];
  await takeAll(Readable.from(Array.from({ length: 20 }, (_, i) => Buffer.from([i]))), async (chunk) => {
    order.push(chunk[0]!);
    most = Math.max(most, ++running);
    await sleep(2);
    running--;
  });
  assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
  assert.equal(most, 4);

  let read = 0;
  const source = Readable.from((function* () {
    for (let i = 0; i < 100; i++) {
      read++;
      yield Buffer.from([i]);
    }
  })());
  const failure = await takeAll(source, async (chunk) => {
    running++;
    await sleep(chunk[0] === 2 ? 1 : 10);
    running--;
    if (chunk[0] === 2) throw new Error('disk full');
  }).catch((error: unknown) => error);
  assert.equal((failure as Error).message, 'disk full');
  assert.equal(running, 0, 'no take was still under way');
  assert.ok(read < 100 && source.destroyed, `the stream was stopped after ${read} chunks`);
});
