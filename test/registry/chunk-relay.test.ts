// ChunkRelay: one reader's pieces (from reused buffers, two takes under way, as a drained socket
// gives them) spread over requests opened one after another, split at each chunk's end, in order,
// none read into again before it is written; a failure on either side ends both.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { PieceTaker } from '../../src/internal/streams.js';
import { ChunkRelay } from '../../src/registry/chunk-relay.js';

/** Hands `source` over in `size`-byte pieces from two reused buffers, two takes at once. */
async function readInPieces(source: Buffer, size: number, take: PieceTaker): Promise<void> {
  const buffers = [Buffer.alloc(size), Buffer.alloc(size)];
  const taking: Promise<void>[] = [];
  for (let at = 0, turn = 0; at < source.length; at += size, turn++) {
    await taking[turn % 2];
    const buffer = buffers[turn % 2]!;
    const length = source.copy(buffer, 0, at, at + size);
    taking[turn % 2] = take(buffer.subarray(0, length));
    taking[turn % 2]!.catch(() => undefined); // awaited in its turn
  }
  await Promise.all(taking);
}

/** A request body: takes `length` bytes through the relay, each piece copied after a delay (a slow socket). */
async function request(relay: ChunkRelay, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  await relay.chunk(length)(async (piece) => {
    const before = Buffer.from(piece);
    await sleep(1);
    assert.ok(piece.equals(before), 'a piece was read into again before it was written');
    parts.push(before);
  });
  return Buffer.concat(parts);
}

test('the pieces reach the requests in order, split at each chunk’s end', async () => {
  const source = randomBytes(1_000_003);
  const relay = new ChunkRelay();
  const reading = readInPieces(source, 100_000, relay.take);
  const chunks: Buffer[] = [];
  const chunkSize = 64 * 1024 + 13;
  for (let at = 0; at < source.length; at += chunkSize) {
    await sleep(2); // the answer to the last request comes before the next one opens
    chunks.push(await request(relay, Math.min(chunkSize, source.length - at)));
  }
  await reading;
  assert.ok(chunks.slice(0, -1).every((c) => c.length === chunkSize));
  assert.ok(Buffer.concat(chunks).equals(source));
});

test('a reader that fails ends the open request’s body; a failed upload ends the reader', async () => {
  const relay = new ChunkRelay();
  const body = request(relay, 1000);
  const error = new Error('digest mismatch');
  await relay.take(Buffer.alloc(400));
  relay.fail(error);
  await assert.rejects(body, error);
  await assert.rejects(relay.chunk(10)(async () => undefined), error, 'no later request takes anything');

  const stopped = new ChunkRelay();
  const reading = readInPieces(randomBytes(300_000), 100_000, stopped.take);
  await request(stopped, 150_000); // the next request never opens
  stopped.fail(new Error('the upload stopped'));
  await assert.rejects(reading, /the upload stopped/);
});
