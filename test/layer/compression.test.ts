// Layer compression read back by the gzip and zstd programs: the bytes round-trip, the same input
// always gives the same blob, and already-compressed blocks are stored instead of searched.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { compressor, parseCompression } from '../../src/layer/compression.js';
import { tempDir } from '../helpers/temp-dir.js';

const exec = promisify(execFile);

/** Text-like blocks around a stretch of random (incompressible) bytes, cut into uneven chunks. */
function mixedInput(): { bytes: Buffer; text: Buffer; random: Buffer } {
  const text = Buffer.from(Array.from({ length: 60000 }, (_, i) => `line ${i}: the quick brown fox ${i % 97}\n`).join(''));
  const random = randomBytes(3 << 20);
  return { bytes: Buffer.concat([text, random, text]), text, random };
}

async function compress(bytes: Buffer, kind: string, level?: string): Promise<Buffer> {
  const chunks = [];
  for (let at = 0; at < bytes.length; at += 100_003) chunks.push(bytes.subarray(at, at + 100_003));
  return buffer(Readable.from(chunks).pipe(compressor(parseCompression(kind, level))));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('gzip: gzip -d restores the bytes, the blob is the same every time, random blocks are stored', async () => {
  const dir = await tempDir();
  try {
    const { bytes, text, random } = mixedInput();
    const first = await compress(bytes, 'gzip');
    const again = await compress(bytes, 'gzip');
    assert.equal(sha(first), sha(again));
    await writeFile(join(dir.path, 'layer.gz'), first);
    const restored = (await exec('sh', ['-c', `gzip -dc '${join(dir.path, 'layer.gz')}' | sha256sum`])).stdout.split(' ')[0];
    assert.equal(restored, sha(bytes));
    // The random stretch is stored (it cannot shrink); the text around it still compresses about
    // as well as gzip -6 does it alone (a block that is part text, part random may be stored whole).
    const textAlone = gzipSync(text, { level: 6 }).length;
    assert.ok(first.length >= random.length, 'random bytes do not shrink');
    assert.ok(first.length < random.length + 2 * textAlone + text.length / 4, `${first.length} bytes: text compressed, random stored with little overhead`);
    for (const level of ['1', '9', '0']) {
      await writeFile(join(dir.path, `l${level}.gz`), await compress(bytes, 'gzip', level));
      await exec('gzip', ['-t', join(dir.path, `l${level}.gz`)]);
    }
  } finally {
    await dir.remove();
  }
});

test('zstd: the zstd program restores the bytes; the same input gives the same blob', async () => {
  const dir = await tempDir();
  try {
    const { bytes } = mixedInput();
    const first = await compress(bytes, 'zstd', '3');
    assert.equal(sha(first), sha(await compress(bytes, 'zstd', '3')));
    assert.notEqual(sha(first), sha(await compress(bytes, 'zstd', '19')), 'the level is applied');
    await writeFile(join(dir.path, 'layer.zst'), first);
    await exec('zstd', ['-d', '-f', join(dir.path, 'layer.zst'), '-o', join(dir.path, 'layer')]);
    assert.equal(sha(await readFile(join(dir.path, 'layer'))), sha(bytes));
  } finally {
    await dir.remove();
  }
});
