// LineBuffer: bytes in any chunking give the same lines; CR LF loses the CR; a split UTF-8
// character stays whole; a line without a line feed comes at end(); an endless line comes in pieces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineBuffer } from '../../src/internal/line-buffer.js';

function linesOf(chunks: readonly Buffer[], max?: number): string[] {
  const buffer = new LineBuffer(max);
  return [...chunks.flatMap((c) => buffer.push(c)), ...buffer.end()];
}

test('the same lines whatever the chunking, a multi-byte character split included', () => {
  const text = Buffer.from('first\r\nsecond é ✓\n\nlast without line feed');
  const expected = ['first', 'second é ✓', '', 'last without line feed'];
  assert.deepEqual(linesOf([text]), expected);
  for (let size = 1; size < 8; size++) {
    const chunks = [];
    for (let at = 0; at < text.length; at += size) chunks.push(text.subarray(at, at + size));
    assert.deepEqual(linesOf(chunks), expected, `chunks of ${size}`);
  }
});

test('nothing comes out for nothing in, and a final line feed adds no empty line', () => {
  assert.deepEqual(linesOf([]), []);
  assert.deepEqual(linesOf([Buffer.from('one\n')]), ['one']);
});

test('a line longer than the limit comes out in pieces; its line feed adds no empty line', () => {
  assert.deepEqual(linesOf([Buffer.from('abcdefgh'), Buffer.from('\nij\n')], 4), ['abcd', 'efgh', 'ij']);
  assert.deepEqual(linesOf([Buffer.from('abcdefghij\n')], 4), ['abcd', 'efgh', 'ij']);
  assert.deepEqual(linesOf([Buffer.from('abcdefghij')], 4), ['abcd', 'efgh', 'ij']);
});
