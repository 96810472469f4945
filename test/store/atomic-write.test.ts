// Atomic writes under failure: whatever goes wrong, the final file is whole or absent and no
// temp file is left (cacache test/content/write.js "cleans up tmp on streaming error").
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { digestOfBytes } from '../../src/digest/digest.js';
import { verifiedStream } from '../../src/digest/verify-stream.js';
import { isTempName } from '../../src/internal/temp-path.js';
import { writeFileAtomic, writeStreamAtomic } from '../../src/store/atomic-write.js';
import { seededBytes } from '../helpers/images.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A stream of `chunks` that records how many were pulled, so a test can tell an early stop. */
function counted(chunks: readonly Buffer[]): { stream: Readable; pulled: () => number } {
  let pulled = 0;
  const stream = Readable.from(
    (function* () {
      for (const chunk of chunks) {
        pulled++;
        yield chunk;
      }
    })(),
  );
  return { stream, pulled: () => pulled };
}

function split(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

/** The entries of `dir` once the writer has created something there (a loaded machine may take a while), within 10 s. */
async function tempFilesAppear(dir: string): Promise<string[]> {
  for (const started = Date.now(); Date.now() - started < 10_000; await sleep(10)) {
    const entries = await readdir(dir).catch(() => []);
    if (entries.length > 0) return entries;
  }
  return [];
}

describe('writeFileAtomic', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  test('replaces a file; readers only ever see a whole version', async () => {
    const path = join(dir.path, 'replace', 'index.json');
    const version = (n: number): Buffer => Buffer.from(JSON.stringify({ n, pad: 'x'.repeat(200_000 + n) }));
    await writeFileAtomic(path, version(0));
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        const body = JSON.parse((await readFile(path)).toString()) as { n: number; pad: string };
        assert.equal(body.pad.length, 200_000 + body.n, 'a whole version');
        reads++;
      }
    })();
    for (let n = 1; n <= 30; n++) await writeFileAtomic(path, version(n));
    reading = false;
    await reader;
    assert.ok(reads > 0);
    assert.equal((JSON.parse((await readFile(path)).toString()) as { n: number }).n, 30);
    assert.deepEqual(await readdir(join(dir.path, 'replace')), ['index.json']);
  });

  test('a failed rename leaves the old content and no temp file', async () => {
    const parent = join(dir.path, 'fail');
    const target = join(parent, 'target');
    await mkdir(join(target, 'inside'), { recursive: true }); // a non-empty directory cannot be replaced by a file
    await assert.rejects(writeFileAtomic(target, Buffer.from('x')), (e: NodeJS.ErrnoException) => e.code === 'EISDIR' || e.code === 'ENOTEMPTY' || e.code === 'EEXIST');
    assert.deepEqual(await readdir(parent), ['target']);
  });
});

describe('writeStreamAtomic', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(() => dir.remove());

  const bytes = seededBytes('atomic', 300_000);
  const digest = digestOfBytes(bytes);

  test('writes verified content under its final name, with no temp file left', async () => {
    const blobs = join(dir.path, 'ok', 'blobs', 'sha256');
    const final = join(blobs, digest.slice(7));
    await writeStreamAtomic(final, Readable.from(split(bytes, 65_536)), { digest, size: bytes.length });
    assert.deepEqual(await readFile(final), bytes);
    assert.deepEqual(await readdir(blobs), [digest.slice(7)]);
  });

  test('wrong content fails with DIGEST_MISMATCH before anything becomes visible', async () => {
    const blobs = join(dir.path, 'bad', 'blobs', 'sha256');
    const evil = Buffer.from(bytes);
    evil[123_456] = (evil[123_456] ?? 0) ^ 0xff;
    await assert.rejects(
      writeStreamAtomic(join(blobs, digest.slice(7)), Readable.from(split(evil, 65_536)), { digest, size: bytes.length, what: 'test blob' }),
      (e: Error & { code?: string }) => e.code === 'DIGEST_MISMATCH' && /test blob/.test(e.message),
    );
    assert.deepEqual(await readdir(blobs), []);
  });

  test('more bytes than declared stop the stream early with SIZE_MISMATCH', async () => {
    const blobs = join(dir.path, 'long', 'blobs', 'sha256');
    const chunks = split(Buffer.concat([bytes, seededBytes('tail', 10 * 65_536)]), 65_536);
    const source = counted(chunks);
    await assert.rejects(writeStreamAtomic(join(blobs, digest.slice(7)), source.stream, { digest, size: bytes.length }), { code: 'SIZE_MISMATCH' });
    assert.ok(source.pulled() < chunks.length, `stopped after ${source.pulled()} of ${chunks.length} chunks`);
    assert.deepEqual(await readdir(blobs), []);
  });

  test('fewer bytes than declared fail with SIZE_MISMATCH', async () => {
    const blobs = join(dir.path, 'short', 'blobs', 'sha256');
    await assert.rejects(writeStreamAtomic(join(blobs, digest.slice(7)), Readable.from([bytes.subarray(0, 1000)]), { digest, size: bytes.length }), { code: 'SIZE_MISMATCH' });
    assert.deepEqual(await readdir(blobs), []);
  });

  test('a source that errors mid-way leaves nothing', async () => {
    const blobs = join(dir.path, 'broken', 'blobs', 'sha256');
    const source = Readable.from(
      (async function* () {
        yield bytes.subarray(0, 100_000);
        await sleep(5);
        throw new Error('connection reset');
      })(),
    );
    await assert.rejects(writeStreamAtomic(join(blobs, digest.slice(7)), source, { digest, size: bytes.length }), /connection reset/);
    assert.deepEqual(await readdir(blobs), []);
  });

  test('aborting mid-stream rejects with AbortError, leaves nothing, and releases the source', async () => {
    const blobs = join(dir.path, 'abort', 'blobs', 'sha256');
    const controller = new AbortController();
    const source = new Readable({ read() {} });
    source.push(bytes.subarray(0, 50_000)); // then nothing more: the write waits until aborted
    const writing = writeStreamAtomic(join(blobs, digest.slice(7)), source, { digest, size: bytes.length, signal: controller.signal });
    const during = await tempFilesAppear(blobs);
    assert.equal(during.length, 1, 'the temp file exists while writing');
    assert.ok(isTempName(during[0] ?? ''), `${during[0]} is recognisable as a temp file`);
    controller.abort();
    await assert.rejects(writing, { name: 'AbortError' });
    assert.deepEqual(await readdir(blobs), []);
    assert.equal(source.destroyed, true);
  });

  test('an already aborted signal writes nothing', async () => {
    const blobs = join(dir.path, 'pre-abort', 'blobs', 'sha256');
    await assert.rejects(writeStreamAtomic(join(blobs, digest.slice(7)), Readable.from([bytes]), { digest, signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.deepEqual(await readdir(blobs), []);
  });

  test('an existing final file counts as success and is not touched', async () => {
    const blobs = join(dir.path, 'exists', 'blobs', 'sha256');
    const final = join(blobs, digest.slice(7));
    await mkdir(blobs, { recursive: true });
    await writeFile(final, bytes);
    const before = await stat(final);
    await writeStreamAtomic(final, Readable.from([bytes]), { digest, size: bytes.length });
    const after = await stat(final);
    assert.equal(after.ino, before.ino, 'the same file, not replaced');
    assert.deepEqual(await readdir(blobs), [digest.slice(7)]);
  });

  test('concurrent writers of one blob all succeed; one file, no temp files', async () => {
    const blobs = join(dir.path, 'race', 'blobs', 'sha256');
    const final = join(blobs, digest.slice(7));
    await Promise.all(Array.from({ length: 12 }, () => writeStreamAtomic(final, Readable.from(split(bytes, 10_000)), { digest, size: bytes.length })));
    assert.deepEqual(await readdir(blobs), [digest.slice(7)]);
    assert.deepEqual(await readFile(final), bytes);
  });

  test('the temp file can live in another directory of the same tree', async () => {
    const root = join(dir.path, 'elsewhere');
    const final = join(root, 'blobs', 'sha256', digest.slice(7));
    const source = new Readable({ read() {} });
    source.push(bytes.subarray(0, 1000));
    const writing = writeStreamAtomic(final, source, { digest, size: bytes.length, tempDir: join(root, 'tmp') });
    assert.equal((await tempFilesAppear(join(root, 'tmp'))).filter(isTempName).length, 1);
    source.push(bytes.subarray(1000));
    source.push(null);
    await writing;
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.deepEqual(await readFile(final), bytes);
  });

  test('content already verified upstream is still refused when it is wrong', async () => {
    // The writer skips its own hash for a stream that checks the same digest; that stream must still fail.
    const blobs = join(dir.path, 'upstream', 'blobs', 'sha256');
    const evil = Buffer.from(bytes);
    evil[0] = (evil[0] ?? 0) ^ 1;
    const upstream = verifiedStream(Readable.from(split(evil, 65_536)), { digest, size: bytes.length });
    await assert.rejects(writeStreamAtomic(join(blobs, digest.slice(7)), upstream, { digest, size: bytes.length }), { code: 'DIGEST_MISMATCH' });
    assert.deepEqual(await readdir(blobs), []);
  });
});
