// A fault-injecting proxy in front of a real registry, on a seeded schedule: each GET or HEAD
// may get a 500, a 429 with a small Retry-After, a connection dropped mid-body, a stall longer
// than the client's timeout, a body cut short under its full Content-Length, or a flipped byte.
// Built on startProxy; counts what it injected so a test can report it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startProxy, type ProxyHandle } from './proxy.js';

export const FAULT_KINDS = ['status500', 'status429', 'drop', 'stall', 'truncate', 'corrupt'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
const STATUS_FAULTS: readonly FaultKind[] = ['status500', 'status429'];

export interface FaultSchedule {
  readonly seed: number;
  /** Chance that a request gets a fault (0..1). */
  readonly rate: number;
  /** How long a stall lasts before the proxy gives up on the connection (ms). */
  readonly stallMs: number;
}

export interface FaultProxy {
  readonly host: string;
  readonly proxy: ProxyHandle;
  /** Faults injected since the last `schedule()`. */
  readonly injected: Record<FaultKind, number>;
  schedule(plan: FaultSchedule): void;
  stop(): Promise<void>;
}

/** mulberry32: a small seeded PRNG, so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function zero(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  let plan: FaultSchedule = { seed: 1, rate: 0, stallMs: 0 };
  let random = prng(1);
  const injected = zero();
  // The fault chosen for a request when it arrived, applied once the upstream answers.
  const pending = new WeakMap<IncomingMessage, FaultKind>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const proxy = await startProxy(upstream, {
    intercept(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      if (random() >= plan.rate) return false;
      const choices = req.method === 'HEAD' ? STATUS_FAULTS : FAULT_KINDS;
      const kind = choices[Math.floor(random() * choices.length)] as FaultKind;
      if (kind === 'status500') {
        injected.status500++;
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}');
        return true;
      }
      if (kind === 'status429') {
        injected.status429++;
        res.writeHead(429, { 'retry-after': random() < 0.8 ? '0' : '1', 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"injected fault"}]}');
        return true;
      }
      if (kind === 'stall' && random() < 0.5) {
        injected.stall++; // silence before the headers: the client's headers timeout, then a retry
        const socket = res.socket;
        later(plan.stallMs, () => socket?.destroy());
        return true;
      }
      pending.set(req, kind);
      return false;
    },
    respond(req, up, res) {
      const kind = pending.get(req);
      const length = Number(up.headers['content-length']);
      if (kind === undefined || req.method !== 'GET' || (up.statusCode !== 200 && up.statusCode !== 206) || !(length > 0)) return false;
      injected[kind]++;
      const cut = Math.floor(random() * length);
      faulty(kind, cut, up, res);
      return true;
    },
  });

  function faulty(kind: FaultKind, at: number, up: IncomingMessage, res: ServerResponse): void {
    res.writeHead(up.statusCode ?? 200, up.headers);
    let sent = 0;
    let done = false;
    const stop = (how: () => void): void => {
      if (done) return;
      done = true;
      up.destroy();
      how();
    };
    up.on('data', (chunk: Buffer) => {
      if (done) return;
      const part = chunk.subarray(0, Math.max(0, at - sent));
      if (kind === 'corrupt') {
        const copy = Buffer.from(chunk);
        if (at >= sent && at < sent + chunk.length) copy[at - sent] = (copy[at - sent] as number) ^ 0xff;
        sent += chunk.length;
        res.write(copy);
        return;
      }
      if (sent + chunk.length <= at) {
        sent += chunk.length;
        res.write(chunk);
        return;
      }
      sent += part.length;
      const socket = res.socket;
      if (kind === 'drop') stop(() => res.write(part, () => socket?.destroy()));
      else if (kind === 'truncate') stop(() => res.write(part, () => socket?.end())); // a clean FIN, short of Content-Length
      else stop(() => res.write(part, () => later(plan.stallMs, () => socket?.destroy()))); // silence, then gone
    });
    up.on('end', () => {
      if (!done) res.end();
    });
  }

  return {
    host: proxy.host,
    proxy,
    injected,
    schedule(next) {
      plan = next;
      random = prng(next.seed);
      Object.assign(injected, zero());
    },
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      await proxy.stop();
    },
  };
}
