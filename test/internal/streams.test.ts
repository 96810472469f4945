// mapConcurrent: bounded, ordered, and on failure it waits for what it started before it rejects,
// so callers never see an error while other work is still writing.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { mapConcurrent } from '../../src/internal/streams.js';

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
