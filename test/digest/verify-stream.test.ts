import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import { digestOfBytes, isDigest, parseDigest, shortDigest, type Digest } from '../../src/digest/digest.js';
import { DigestMismatchError, SizeMismatchError, verifyBytes, verifyingTaker, verifyStream } from '../../src/digest/verify-stream.js';

const content = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(1000));
const digest = digestOfBytes(content);

/** Feeds `chunks` through a verifier; resolves with the bytes the consumer saw before the end or error. */
async function feed(chunks: Buffer[], options: { digest: Digest; size?: number }): Promise<{ seen: number; error?: unknown; ended: boolean }> {
  let seen = 0;
  let ended = false;
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      seen += chunk.length;
      done();
    },
    final(done) {
      ended = true;
      done();
    },
  });
  try {
    await pipeline(Readable.from(chunks), verifyStream(options), sink);
    return { seen, ended };
  } catch (error) {
    return { seen, error, ended };
  }
}

describe('verifyStream', () => {
  const halves = [content.subarray(0, 20000), content.subarray(20000)];

  test('passes good content through unchanged', async () => {
    const result = await feed(halves, { digest, size: content.length });
    assert.equal(result.error, undefined);
    assert.equal(result.seen, content.length);
    assert.ok(result.ended);
  });

  test('wrong digest fails before the consumer sees the end', async () => {
    const tampered = Buffer.from(content);
    tampered[100] = 0x41;
    const result = await feed([tampered], { digest, size: content.length });
    assert.ok(result.error instanceof DigestMismatchError);
    assert.equal((result.error as DigestMismatchError).code, 'DIGEST_MISMATCH');
    assert.equal((result.error as DigestMismatchError).bytesRead, content.length);
    assert.equal(result.ended, false, 'the sink was never finished');
  });

  test('a mismatching blob never hands the consumer its final byte (known or unknown size, any chunking)', async () => {
    const tampered = Buffer.from(content);
    tampered[tampered.length - 1] = 0x41;
    const pieces = (step: number): Buffer[] => {
      const out: Buffer[] = [];
      for (let at = 0; at < tampered.length; at += step) out.push(tampered.subarray(at, at + step));
      return out;
    };
    for (const chunks of [[tampered], pieces(1000), pieces(7), pieces(tampered.length - 1)]) {
      for (const size of [content.length, undefined]) {
        const result = await feed(chunks, size === undefined ? { digest } : { digest, size });
        assert.ok(result.error instanceof DigestMismatchError, `${chunks.length} chunks, size ${size}`);
        assert.ok(result.seen < content.length, `${chunks.length} chunks, size ${size}: the consumer saw ${result.seen} of ${content.length} bytes`);
      }
    }
  });

  test('good content is released as soon as the declared size is reached, before the source ends', async () => {
    const verifier = verifyStream({ digest, size: content.length });
    const seen: Buffer[] = [];
    verifier.on('data', (c: Buffer) => seen.push(c));
    verifier.write(content.subarray(0, 100));
    verifier.write(content.subarray(100));
    await new Promise((r) => setImmediate(r));
    assert.equal(Buffer.concat(seen).length, content.length, 'all bytes out without waiting for end()');
    verifier.end();
  });

  test('short read fails with SIZE_MISMATCH', async () => {
    const result = await feed([content.subarray(0, 100)], { digest, size: content.length });
    assert.ok(result.error instanceof SizeMismatchError);
    assert.match((result.error as Error).message, /expected 44000 bytes but got 100/);
    assert.equal(result.ended, false);
  });

  test('an over-long body stops at the declared size', async () => {
    const result = await feed([content, Buffer.from('extra')], { digest, size: content.length });
    assert.ok(result.error instanceof SizeMismatchError);
    assert.ok(result.seen <= content.length, 'nothing past the declared size reached the consumer');
  });

  test('unknown size still verifies the digest', async () => {
    assert.equal((await feed(halves, { digest })).error, undefined);
    assert.ok((await feed([content.subarray(1)], { digest })).error instanceof DigestMismatchError);
  });

  test('verifyBytes checks size and digest of in-memory content', () => {
    verifyBytes(content, { digest, size: content.length });
    assert.throws(() => verifyBytes(content, { digest, size: 1 }), SizeMismatchError);
    assert.throws(() => verifyBytes(Buffer.from('x'), { digest }), DigestMismatchError);
  });
});

describe('digests', () => {
  const good = [digest, `sha512:${'a'.repeat(128)}`];
  const bad = ['', 'sha256', 'sha256:', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `md5:${'a'.repeat(32)}`, `:${'a'.repeat(64)}`];
  for (const text of good) test(`accepts ${shortDigest(text)}`, () => assert.equal(parseDigest(text), text));
  for (const text of bad) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(isDigest(text), false);
      assert.throws(() => parseDigest(text), (e: Error & { code?: string }) => e.code === 'INVALID_REFERENCE' && e.message.includes(JSON.stringify(text)));
    });
  }
});

describe('verifyingTaker (pieces without a stream)', () => {
  /** Offers `content` in 1000-byte pieces; the bytes that reached the taker, and the failure. */
  async function offer(bytes: Buffer, expected: { digest: Digest; size: number }): Promise<{ taken: number; error?: unknown }> {
    let taken = 0;
    const checked = verifyingTaker(expected, async (piece) => {
      taken += piece.length;
    });
    try {
      for (let at = 0; at < bytes.length; at += 1000) await checked.take(bytes.subarray(at, at + 1000));
      checked.end();
      return { taken };
    } catch (error) {
      return { taken, error };
    }
  }

  test('right bytes all reach the taker', async () => {
    assert.deepEqual(await offer(content, { digest, size: content.length }), { taken: content.length });
  });

  test('wrong bytes of the right size: the piece completing the size never reaches the taker', async () => {
    const wrong = Buffer.from(content);
    wrong[10] = wrong[10]! ^ 1;
    const { taken, error } = await offer(wrong, { digest, size: content.length });
    assert.ok(error instanceof DigestMismatchError, String(error));
    assert.ok(taken < content.length, `${taken} of ${content.length} bytes taken`);
  });

  test('too many bytes fail at once; too few fail at the end; an empty blob is checked too', async () => {
    assert.ok((await offer(content, { digest, size: content.length - 1 })).error instanceof SizeMismatchError);
    const short = await offer(content.subarray(0, 5000), { digest, size: content.length });
    assert.ok(short.error instanceof SizeMismatchError && short.taken === 5000);
    assert.deepEqual(await offer(Buffer.alloc(0), { digest: digestOfBytes(Buffer.alloc(0)), size: 0 }), { taken: 0 });
    assert.ok((await offer(Buffer.alloc(0), { digest, size: 0 })).error instanceof DigestMismatchError);
  });
});
