// What the benches share: timing a run, printing a plain aligned table, and one line per target
// saying whether this run met it.

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
