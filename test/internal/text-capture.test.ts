import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TextCapture } from '../../src/internal/text-capture.js';

async function feed(capture: TextCapture, chunks: readonly Buffer[]): Promise<string> {
  for (const chunk of chunks) await new Promise<void>((resolve, reject) => capture.write(chunk, (error) => (error ? reject(error) : resolve())));
  return capture.text;
}

test('a character split across two writes stays whole', async () => {
  const bytes = Buffer.from('größe ✓', 'utf8');
  const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of ö
  assert.equal(await feed(new TextCapture('first', 100), [bytes.subarray(0, cut), bytes.subarray(cut)]), 'größe ✓');
});

test("'last' keeps the newest characters, 'first' stops taking once it holds max", async () => {
  const chunks = ['one\n', 'two\n', 'three\n'].map((s) => Buffer.from(s));
  assert.equal(await feed(new TextCapture('last', 8), chunks), 'o\nthree\n');
  assert.equal(await feed(new TextCapture('first', 4), chunks), 'one\n');
});
