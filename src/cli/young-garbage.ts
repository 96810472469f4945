// Streamed blob bytes reach the process in a fresh buffer per socket read, and die a few stream
// turns later (a copy between registries and layouts reads into reused buffers instead and makes
// almost none: transport/bulk-get.ts). V8 collects its young generation when its own heap fills
// (rarely: a buffer's object there is tiny) or once about 32 MB of buffers have piled up in it,
// and the ones still queued at that moment are promoted, to wait for a full collection. Measured
// on a 630 MB streamed copy: peak RSS 111–125 MB without help, 91–96 MB with a young collection
// every 10 ms, at the same CPU time; `serve` taking a 1 GiB blob PUT: 96 → 68–75 MB, and
// 4.8 → 3.0 s. The collector is reached through a flag set at run time, so
// `node dist/cli/main.js` and the installed bin behave alike and `--version` pays nothing (only
// commands that move blobs start this). `serve` rests
// while no request is open and no buffers pile up: a collection every 10 ms whatever happens cost
// an idle server 3% of a core, looking every 100 ms costs it 0.2%; but a look comes too late for a
// transfer (up to 25 MB of buffers in between), so each request holds the collector busy.
// The commands that move blobs from start to end (whileMovingBlobs, at the end) also space out
// V8's full collections and raise glibc's limits for handing freed heap back; `serve` does
// neither, and runs without V8's optimizing compilers instead (noOptimizingCompilers).
import { getHeapStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EXPOSE_GC, FEWER_FULL_COLLECTIONS, NO_OPTIMIZING_COMPILERS, setV8Flags } from './v8-flags.js';

type Collect = (options: { readonly type: 'minor' | 'major' }) => void;

/** A young collection this often while buffers are being made; a look this often while none are. */
const BUSY_MS = 10;
const IDLE_MS = 100;
/** Buffer bytes made between two idle looks that mean blobs are moving again. */
const BUSY_GROWTH = 2 << 20;
/**
 * A command that moves blobs from start to end collects on a busy turn only once this much buffer
 * memory has been made since the last collection. A copy that drains bodies into reused buffers
 * (bulk-get.ts) makes next to none, and collecting every 10 ms anyway cost it about 100 young
 * collections and 40–60 ms of a 1.6 s copy of the 630 MB bench index into a layout, at the same
 * peak RSS; a streamed copy makes about 3 MB per turn and is collected every turn as before. A
 * server collects on every busy turn: its requests' own garbage, not only buffers, then grew its
 * peak RSS moving a 1 GiB blob from 74 to 94 MB, and by 3.9 MB over 1,000 small requests.
 */
const PILE_UP = 1 << 20;
/** Busy turns that each made less than this… */
const QUIET_GROWTH = 256 << 10;
/** …in a row, before going back to idle looks. */
const QUIET_TURNS = 20;

let collect: Collect | undefined;

function collector(): Collect | undefined {
  if (collect) return collect;
  // Only a context made after the flag sees `gc`; the main context's globals stay as they were.
  // A runtime without the flag: the copy just runs with the engine's own schedule.
  setV8Flags([EXPOSE_GC]);
  const found = runInNewContext('typeof gc === "function" ? gc : undefined') as Collect | undefined;
  if (found) collect = found;
  return collect;
}

/** The running collector. */
export interface YoungCollector {
  /** Busy from now until the returned function is called, however quiet (a request is open). */
  hold(): () => void;
  stop(): void;
}

/**
 * Looks every 10 ms until stopped. A command that moves blobs from start to end collects the
 * young generation once buffers have piled up since the last collection (PILE_UP), and never rests
 * (a rest let a copy's peak grow by up to 20 MB when an upload paused). With `restWhenQuiet` (a
 * server: blobs move now and then) every busy turn collects; it rests once buffers stop being made
 * (V8's external memory stops growing) and nothing holds it, looks only every 100 ms while
 * resting, and starts again when they grow or something holds it. A server holds it for each
 * request from arrival to answer: a 1 GiB PUT, its writes stalled by the disk for a moment, let it
 * rest, and made up to 25 MB of socket buffers before the next look noticed them.
 */
export function collectYoungGarbage(options: { readonly restWhenQuiet?: boolean } = {}): YoungCollector {
  const run = collector();
  if (!run) return { hold: () => () => undefined, stop: () => undefined };
  const external = (): number => getHeapStatistics().external_memory;
  let busy = true;
  let quiet = 0;
  let holds = 0;
  let last = external();
  // Buffer memory a blob command's collection starts counting from: what was left a moment after
  // the last one (the buffers it found dead are freed on another thread, and counted off at once
  // in arrayBuffers; V8's external memory counts them off only at its next buffer), or less.
  const buffers = (): number => process.memoryUsage().arrayBuffers;
  let base = buffers();
  let stopped = false;
  const collectNow = (): void => {
    run({ type: 'minor' });
    if (!options.restWhenQuiet) setTimeout(() => void (base = buffers()), 1).unref();
  };
  let timer: NodeJS.Timeout | undefined;
  const schedule = (ms: number): void => {
    timer = setTimeout(turn, ms);
    timer.unref();
  };
  const turn = (): void => {
    const grew = external() - last;
    if (busy) {
      if (options.restWhenQuiet) collectNow();
      else {
        const now = buffers();
        base = Math.min(base, now);
        if (now - base >= PILE_UP) collectNow();
      }
      quiet = grew < QUIET_GROWTH ? quiet + 1 : 0;
      busy = !options.restWhenQuiet || holds > 0 || quiet < QUIET_TURNS;
    } else if (grew >= BUSY_GROWTH) {
      collectNow();
      busy = true;
      quiet = 0;
    }
    last = external();
    schedule(busy ? BUSY_MS : IDLE_MS);
  };
  schedule(BUSY_MS);
  return {
    hold() {
      holds++;
      quiet = 0;
      if (!busy && !stopped) {
        busy = true;
        clearTimeout(timer);
        schedule(BUSY_MS);
      }
      let released = false;
      return () => {
        if (!released) holds--;
        released = true;
      };
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Turns V8's optimizing compilers off for the rest of the process: for a server that must stay
 * flat. Their compile jobs allocate on V8's worker threads, and glibc keeps what those threads'
 * arenas grew to: over a fresh `serve`'s first 1,000 small requests RSS grew 5.6–7.3 MB with
 * them and 1.7–2.1 MB without, from about 4 MB lower. A server's bytes move in native code
 * (sockets, files, sha256): a skopeo push of a 600 MB index took 2.56–2.65 s without them and
 * 2.65–2.72 s with them, at the same server CPU time.
 */
export function noOptimizingCompilers(): void {
  setV8Flags(NO_OPTIMIZING_COMPILERS);
}

/**
 * Spaces out V8's full collections for the rest of the process: for commands that move blobs
 * from start to end, not for a server that must stay small while idle.
 */
export function fewerFullCollections(): void {
  setV8Flags([FEWER_FULL_COLLECTIONS]);
}

/**
 * glibc's malloc hands the top of its heap back to the system once 128 KiB are free there, and
 * raises that limit only when a block it had mapped on its own is freed. A transfer's 64 KiB
 * socket buffers come from that heap and die quickly, so each new one touched fresh pages: about
 * 31,000 minor page faults in a 630 MB `verify`. One 8 MiB block made and dropped at the start
 * (freed by the first young collection) raises the limits to 8 MiB mapped and 16 MiB kept:
 * 21,600 faults, `verify` 1.98 → 1.87 s (medians of 7), the same peak RSS. Under another
 * allocator it is only a short-lived buffer.
 */
const MALLOC_LIMIT_RAISER = 8 << 20;

/**
 * Runs the work of a command that moves blobs from start to end (copy, verify, bundle): young
 * collections every 10 ms, full ones spaced out, and malloc's limits raised.
 */
export async function whileMovingBlobs<T>(work: () => Promise<T>): Promise<T> {
  void Buffer.allocUnsafeSlow(MALLOC_LIMIT_RAISER);
  fewerFullCollections();
  const collecting = collectYoungGarbage();
  try {
    return await work();
  } finally {
    collecting.stop();
  }
}
