// `serve --htpasswd` under a password-guessing flood, and the timing of unknown vs known users.
// Timings are compared with each other and with a bcrypt check measured on this machine, never
// with fixed limits.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { startEmbedded, type EmbeddedHandle } from '../helpers/embedded.js';
import { tempDir } from '../helpers/temp-dir.js';

const COST = 9;
let dir: { path: string; remove: () => Promise<void> };
let server: EmbeddedHandle;
let bcryptMs: number;

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function timed(url: string, authorization?: string): Promise<{ ms: number; status: number }> {
  const start = performance.now();
  const res = await fetch(url, authorization ? { headers: { authorization } } : {});
  await res.arrayBuffer();
  return { ms: performance.now() - start, status: res.status };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

before(async () => {
  dir = await tempDir();
  const hash = bcrypt.hashSync('correct horse', COST);
  await writeFile(join(dir.path, 'htpasswd'), `# users\nalice:${hash}\nbob:${bcrypt.hashSync('battery', COST)}\n`);
  server = await startEmbedded({ root: join(dir.path, 'root'), htpasswd: join(dir.path, 'htpasswd') });
  // What one bcrypt check costs here (median of 3).
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    bcrypt.compareSync('wrong', hash);
    samples.push(performance.now() - start);
  }
  bcryptMs = median(samples);
});
after(async () => {
  await server?.stop();
  await dir?.remove();
});

test('9.1 32 clients guessing passwords do not slow down a logged-in user or an anonymous /v2/', async (t) => {
  const url = `${server.url}/v2/`;
  // Log in once (this one pays for bcrypt; later ones are cached).
  assert.equal((await timed(url, basic('alice', 'correct horse'))).status, 200);

  const attack: number[] = [];
  let stop = false;
  const attackers = Array.from({ length: 32 }, async (_, i) => {
    for (let n = 0; !stop && n < 50; n++) {
      const r = await timed(url, basic(i % 2 ? 'alice' : 'mallory', `guess-${i}-${n}`));
      assert.equal(r.status, 401);
      attack.push(r.ms);
    }
  });
  await new Promise((resolve) => setTimeout(resolve, Math.max(300, 4 * bcryptMs))); // let the flood build up
  const legit: number[] = [];
  const anonymous: number[] = [];
  const deadline = performance.now() + Math.max(2500, 20 * bcryptMs);
  while (performance.now() < deadline) {
    const ok = await timed(url, basic('alice', 'correct horse'));
    assert.equal(ok.status, 200);
    legit.push(ok.ms);
    const anon = await timed(url);
    assert.equal(anon.status, 401);
    anonymous.push(anon.ms);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  stop = true;
  await Promise.all(attackers);
  const attackMean = mean(attack);
  const report = `bcrypt ${bcryptMs.toFixed(0)} ms; attack mean ${attackMean.toFixed(0)} ms over ${attack.length}; logged-in median ${median(legit).toFixed(1)} ms, anonymous median ${median(anonymous).toFixed(1)} ms`;
  t.diagnostic(report);
  assert.ok(attack.length >= 32, report);
  // A logged-in user and an anonymous ping each answer in less than one bcrypt check and in less than half an attacker's wait.
  for (const [what, xs] of [['logged-in', legit], ['anonymous', anonymous]] as const) {
    assert.ok(median(xs) < bcryptMs, `${what}: ${report}`);
    assert.ok(mean(xs) < attackMean / 2, `${what}: ${report}`);
  }
});

test('9.2 an unknown user takes as long to refuse as a known user with a wrong password', async (t) => {
  const url = `${server.url}/v2/`;
  const unknown: number[] = [];
  const known: number[] = [];
  for (let i = 0; i < 8; i++) {
    const u = await timed(url, basic(`nobody${i}`, `pw${i}`));
    const k = await timed(url, basic('bob', `pw${i}`));
    assert.equal(u.status, 401);
    assert.equal(k.status, 401);
    unknown.push(u.ms);
    known.push(k.ms);
  }
  const ratio = mean(unknown) / mean(known);
  t.diagnostic(`unknown ${mean(unknown).toFixed(1)} ms, known ${mean(known).toFixed(1)} ms`);
  assert.ok(ratio > 0.5 && ratio < 2, `unknown ${mean(unknown).toFixed(1)} ms vs known ${mean(known).toFixed(1)} ms (ratio ${ratio.toFixed(2)})`);
});

test('9.3 a remembered login ends when the htpasswd file changes', async () => {
  const url = `${server.url}/v2/`;
  assert.equal((await timed(url, basic('alice', 'correct horse'))).status, 200);
  assert.equal((await timed(url, basic('alice', 'correct horse'))).status, 200); // remembered
  await writeFile(join(dir.path, 'htpasswd'), `alice:${bcrypt.hashSync('new password', 4)}\nbob:${bcrypt.hashSync('battery', 4)}\n`);
  await new Promise((resolve) => setTimeout(resolve, 1200)); // the file is looked at once a second at most
  assert.equal((await timed(url, basic('alice', 'correct horse'))).status, 401);
  assert.equal((await timed(url, basic('alice', 'new password'))).status, 200);
});
