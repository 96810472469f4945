// What the benches share: timing a run (wall time, and peak memory through GNU time), medians,
// printing a plain aligned table, and one line per target saying whether this run met it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** One run of a program: wall seconds and peak resident memory, as GNU time measures them for any tool alike. */
export interface Run {
  readonly seconds: number;
  readonly peakRssMb: number;
}

/** Runs `command` under GNU time. */
export async function timed(command: string, args: readonly string[]): Promise<Run> {
  const { stderr } = await exec('/usr/bin/time', ['-f', 'BENCH %e %M', command, ...args], { maxBuffer: 64 * 1024 * 1024 });
  const line = stderr.split('\n').find((l) => l.startsWith('BENCH '));
  if (!line) throw new Error(`no timing from ${command}: ${stderr}`);
  const [, seconds, kb] = line.split(' ');
  return { seconds: Number(seconds), peakRssMb: Number(kb) / 1024 };
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Prints `rows` under `header`, each column padded to its widest cell. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

/** Wall-clock seconds `run` takes. */
export async function seconds(run: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** How many times faster polyarch was than the peer (peer time / ours), as the tables print it. */
export function ratio(peerSeconds: number, oursSeconds: number): string {
  return `${(peerSeconds / oursSeconds).toFixed(2)}×`;
}

/**
 * One line per target: `target: <what> — <measured> (wanted <wanted>): met` or `not met`. Lower
 * is better when `atMost` is set (times, memory), higher otherwise (ratios, throughput).
 */
export function targetLine(what: string, measured: number, wanted: number, options: { unit?: string; atMost?: boolean } = {}): string {
  const unit = options.unit ?? '×';
  const met = options.atMost ? measured <= wanted : measured >= wanted;
  const line = `target: ${what} — ${measured.toFixed(2)}${unit} (wanted ${options.atMost ? '≤' : '≥'} ${wanted}${unit}): ${met ? 'met' : 'NOT met'}`;
  console.log(line);
  return line;
}
