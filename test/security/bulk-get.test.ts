// Blob GETs over plain HTTP read the answer with polyarch's own head reader (bulk-get.ts). A
// hostile or odd server answers here byte by byte: whatever it sends, the request either gets the
// body the server meant (asking again through node:http when the answer is not a plain-length
// one), or fails with one coded error; nothing crashes and no header can be smuggled in.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { isPolyarchError } from '../../src/errors/polyarch-error.js';
import type { PieceTaker } from '../../src/internal/streams.js';
import { BulkBody } from '../../src/registry/transport/bulk-get.js';
import { createFetcher, isCutError, type Fetcher } from '../../src/registry/transport/http.js';

/** What the server does with the n-th connection (0-based), given the request head it read. */
type Scenario = (socket: Socket, connection: number, head: string) => void;

let server: Server;
let port = 0;
let scenario: Scenario = () => undefined;
let heads: string[] = [];
const open = new Set<Socket>();

before(async () => {
  server = createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      if (text.includes('\r\n\r\n')) return;
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const connection = heads.length;
      heads.push(text.slice(0, end));
      scenario(socket, connection, text.slice(0, end));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

after(async () => {
  for (const socket of open) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const BODY = Buffer.from('the exact blob bytes '.repeat(1000));

function plain(body: Buffer = BODY, extra = ''): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n${extra}\r\n`;
}

async function fetchBlob(fetcher: Fetcher, signal?: AbortSignal) {
  return fetcher.fetch({ method: 'GET', url: `http://127.0.0.1:${port}/v2/app/blobs/sha256:0`, bulk: true, ...(signal ? { signal } : {}) });
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Drains a bulk answer's body into `take`; fails the test when the body is not a bulk one. */
async function drain(fetcher: Fetcher, take: PieceTaker): Promise<void> {
  const { body } = await fetchBlob(fetcher);
  assert.ok(body instanceof BulkBody, 'read by the bulk reader');
  await delay(20); // the first reads land in the stream before the drain starts: they must come first
  await body.drainInto(take);
}

async function readBody(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Runs one exchange with a fresh fetcher; `heads` then holds the request heads the server read. */
async function exchange<T>(play: Scenario, use: (fetcher: Fetcher) => Promise<T>, timeoutMs = 2000): Promise<T> {
  heads = [];
  scenario = play;
  const fetcher = createFetcher({ timeoutMs });
  try {
    return await use(fetcher);
  } finally {
    await fetcher.close();
  }
}

test('a plain answer is read whole, on one connection', async () => {
  const body = await exchange(
    (socket) => socket.end(Buffer.concat([Buffer.from(plain()), BODY])),
    async (f) => readBody((await fetchBlob(f)).body),
  );
  assert.ok(body.equals(BODY));
  assert.equal(heads.length, 1);
  assert.match(heads[0]!, /^GET \/v2\/app\/blobs\/sha256:0 HTTP\/1\.1\r\n/);
  assert.match(heads[0]!, /\r\nconnection: close(\r\n|$)/, 'read by the bulk reader (node:http keeps connections alive)');
});

test('bytes after the declared length are not part of the body', async () => {
  const body = await exchange(
    (socket) => socket.end(Buffer.concat([Buffer.from(plain()), BODY, Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nevil')])),
    async (f) => readBody((await fetchBlob(f)).body),
  );
  assert.ok(body.equals(BODY));
});

test('answers the reader does not take are asked for again through node:http, which reads them', async () => {
  const chunked = (socket: Socket): void => {
    socket.end(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${BODY.length.toString(16)}\r\n${BODY.toString('latin1')}\r\n0\r\n\r\n`);
  };
  const odd: Record<string, Scenario> = {
    chunked,
    'a head over 64 KiB': (socket, n) => (n === 0 ? socket.write(`HTTP/1.1 200 OK\r\nx-pad: ${'a'.repeat(70_000)}`) : socket.end(Buffer.concat([Buffer.from(plain()), BODY]))),
    'a control character in a value': (socket, n) => socket.end(n === 0 ? `${plain(BODY, 'x-a: \u001b[31mred\r\n')}${BODY.toString('latin1')}` : Buffer.concat([Buffer.from(plain()), BODY])),
    'a folded header line': (socket, n) => socket.end(n === 0 ? `${plain(BODY, 'x-a: 1\r\n  folded\r\n')}${BODY.toString('latin1')}` : Buffer.concat([Buffer.from(plain()), BODY])),
    'two different lengths': (socket, n) => socket.end(n === 0 ? `HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\n1234567` : Buffer.concat([Buffer.from(plain()), BODY])),
    'a length that is not a number': (socket, n) => socket.end(n === 0 ? `HTTP/1.1 200 OK\r\ncontent-length: +12\r\n\r\n${BODY.toString('latin1')}` : Buffer.concat([Buffer.from(plain()), BODY])),
    'no length (read to the close)': (socket, n) => socket.end(n === 0 ? `HTTP/1.1 200 OK\r\n\r\n${BODY.toString('latin1')}` : Buffer.concat([Buffer.from(plain()), BODY])),
    'an informational answer': (socket, n) => socket.end(n === 0 ? `HTTP/1.1 100 Continue\r\n\r\n${plain()}${BODY.toString('latin1')}` : Buffer.concat([Buffer.from(plain()), BODY])),
  };
  for (const [what, play] of Object.entries(odd)) {
    const body = await exchange(play, async (f) => readBody((await fetchBlob(f)).body));
    assert.ok(body.equals(BODY), what);
    assert.equal(heads.length, 2, `${what}: asked twice`);
  }
});

test('garbage instead of a status line fails with one coded NETWORK error', async () => {
  for (const garbage of ['ICY 200 OK\r\n\r\n', 'HTTP/1.1 2000 OK\r\ncontent-length: 1\r\n\r\nx', '\u0000\u0001\u0002\r\n\r\n', 'HTTP/1.1 200 OK\r\nbad header\r\n\r\n']) {
    const error = await exchange(
      (socket) => socket.end(garbage),
      (f) => fetchBlob(f).then(() => undefined, (e: unknown) => e),
    );
    assert.ok(isPolyarchError(error) && error.code === 'NETWORK', `${JSON.stringify(garbage)}: ${String(error)}`);
    assert.doesNotMatch((error as Error).message, /\n/);
  }
});

test('a body cut short of its length fails as a cut connection (which openBlob resumes)', async () => {
  const failure = await exchange(
    (socket) => socket.end(Buffer.concat([Buffer.from(plain()), BODY.subarray(0, 1000)])),
    async (f) => readBody((await fetchBlob(f)).body).then(() => undefined, (e: unknown) => e),
  );
  assert.ok(failure instanceof Error && isCutError(failure), String(failure));
});

test('a server that goes silent fails after the timeout, before or during the body', async () => {
  const before = await exchange(
    () => undefined,
    (f) => fetchBlob(f).then(() => undefined, (e: unknown) => e),
    200,
  );
  assert.ok(isPolyarchError(before) && before.code === 'NETWORK' && /timed out/.test(before.message), String(before));
  const during = await exchange(
    (socket) => socket.write(Buffer.concat([Buffer.from(plain()), BODY.subarray(0, 10)])),
    async (f) => readBody((await fetchBlob(f)).body).then(() => undefined, (e: unknown) => e),
    200,
  );
  assert.ok(during instanceof Error && isCutError(during), String(during));
});

test('a header value with a line break is refused before anything is sent', async () => {
  heads = [];
  scenario = (socket) => socket.end(Buffer.concat([Buffer.from(plain()), BODY]));
  const fetcher = createFetcher({ timeoutMs: 2000 });
  try {
    const error = await fetcher
      .fetch({ method: 'GET', url: `http://127.0.0.1:${port}/v2/app/blobs/sha256:0`, bulk: true, headers: { authorization: 'Bearer x\r\nx-injected: 1' } })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(isPolyarchError(error), String(error));
  } finally {
    await fetcher.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(heads.every((h) => !/x-injected/i.test(h)), 'no injected header reached the server');
});

test('a redirect is followed without reading its body, whatever its framing', async () => {
  const body = await exchange(
    (socket, n) => socket.end(n === 0 ? `HTTP/1.1 307 Temporary Redirect\r\nlocation: /storage/blob\r\ntransfer-encoding: chunked\r\n\r\nffffff\r\n` : Buffer.concat([Buffer.from(plain()), BODY])),
    async (f) => readBody((await fetchBlob(f)).body),
  );
  assert.ok(body.equals(BODY));
  assert.deepEqual(heads.map((h) => h.split('\r\n')[0]), ['GET /v2/app/blobs/sha256:0 HTTP/1.1', 'GET /storage/blob HTTP/1.1']);
});

test('aborting mid-body ends the body with the abort and closes the connection', async () => {
  const controller = new AbortController();
  let closed = false;
  const failure = await exchange(
    (socket) => {
      socket.on('close', () => (closed = true));
      socket.write(Buffer.concat([Buffer.from(plain()), BODY.subarray(0, 100)]));
    },
    async (f) => {
      const response = await fetchBlob(f, controller.signal);
      setTimeout(() => controller.abort(), 20);
      return readBody(response.body).then(() => undefined, (e: unknown) => e);
    },
  );
  assert.ok(failure instanceof Error, String(failure));
  // The close reaches the server a moment later; a loaded machine may take a while.
  for (let i = 0; i < 200 && !closed; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(closed, 'the connection was closed');
});

test('a drained body reaches the taker whole and in order, each piece untouched until its take settles', async () => {
  const blob = randomBytes(3 << 20);
  const pieces: Buffer[] = [];
  let taking = 0;
  let most = 0;
  await exchange(
    (socket) => socket.end(Buffer.concat([Buffer.from(plain(blob)), blob])),
    (f) =>
      drain(f, async (piece) => {
        const copy = Buffer.from(piece);
        pieces.push(copy);
        most = Math.max(most, ++taking);
        await delay(2); // a slow disk: the socket reads on meanwhile, into other buffers
        assert.ok(piece.equals(copy), 'a piece was read into again before its take settled');
        taking--;
      }),
  );
  assert.ok(Buffer.concat(pieces).equals(blob));
  assert.ok(pieces.length > 3, `${pieces.length} pieces`);
  assert.ok(most >= 2 && most <= 3, `${most} takes at once`);
});

test('a drain cut short of the length rejects as a cut, once every take has settled', async () => {
  const blob = randomBytes(1 << 20);
  let taking = 0;
  let taken = 0;
  const failure = await exchange(
    (socket) => socket.end(Buffer.concat([Buffer.from(plain(blob)), blob.subarray(0, 600_000)])),
    (f) =>
      drain(f, async (piece) => {
        taking++;
        await delay(5);
        taken += piece.length;
        taking--;
      }).then(() => undefined, (e: unknown) => e),
  );
  assert.ok(failure instanceof Error && isCutError(failure), String(failure));
  assert.equal(taking, 0, 'no take was still under way');
  assert.equal(taken, 600_000, 'every byte that came was taken');
});

test('a taker that fails ends the drain with its error and closes the connection', async () => {
  const blob = randomBytes(2 << 20);
  let closed = false;
  const failure = await exchange(
    (socket) => {
      socket.on('close', () => (closed = true));
      socket.write(Buffer.concat([Buffer.from(plain(blob)), blob.subarray(0, 1 << 20)])); // and then nothing
    },
    (f) => {
      let calls = 0;
      return drain(f, async () => {
        if (++calls === 2) throw new Error('disk full');
      }).then(() => undefined, (e: unknown) => e);
    },
  );
  assert.equal((failure as Error | undefined)?.message, 'disk full');
  for (let i = 0; i < 200 && !closed; i++) await delay(10);
  assert.ok(closed, 'the connection was closed');
});
