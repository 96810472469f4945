// SlotPool: never more holders than slots, first come first served, a slot comes back whether the
// work resolved or threw, and a waiter that gives up (abort) leaves the line without taking one.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { SlotPool } from '../../src/internal/slot-pool.js';

test('never more holders than slots; waiters get their turn in the order they came', async () => {
  const pool = new SlotPool(2);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  await Promise.all(
    [0, 1, 2, 3, 4, 5].map((n) =>
      pool.use(async () => {
        started.push(n);
        most = Math.max(most, ++running);
        await sleep(10);
        running--;
      }),
    ),
  );
  assert.equal(most, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.equal(pool.free, 2);
});

test('a slot comes back when the work throws, and the error reaches the caller', async () => {
  const pool = new SlotPool(1);
  await assert.rejects(pool.use(() => Promise.reject(new Error('step failed'))), /step failed/);
  assert.equal(pool.free, 1);
  assert.equal(await pool.use(async () => 'next'), 'next');
});

test('aborting a waiter takes it out of the line; the slot goes to the next one', async () => {
  const pool = new SlotPool(1);
  let release!: () => void;
  const holder = pool.use(() => new Promise<void>((resolve) => (release = resolve)));
  const quitter = new AbortController();
  let quitterRan = false;
  const waiting = pool.use(async () => void (quitterRan = true), quitter.signal);
  const patient = pool.use(async () => 'patient ran');
  quitter.abort(new Error('gave up'));
  await assert.rejects(waiting, /gave up/);
  release();
  await holder;
  assert.equal(await patient, 'patient ran');
  assert.equal(quitterRan, false);
  assert.equal(pool.free, 1);
  // Already aborted: refused before taking a slot.
  await assert.rejects(pool.use(async () => undefined, AbortSignal.abort(new Error('too late'))), /too late/);
  assert.equal(pool.free, 1);
});

test('a pool needs at least one whole slot', () => {
  for (const size of [0, -1, 1.5, Number.NaN]) assert.throws(() => new SlotPool(size), RangeError, String(size));
});
