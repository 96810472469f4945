// `npm run bench` (start): how long the CLI takes to answer `--version` and `--help`, beside
// skopeo's and buildah's `--version` (Go binaries, the floor for a CLI), interleaved, medians of
// 10. Issue 11's target: ≤ 0.15 s for polyarch's.
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import { CLI_PATH as cli } from '../test/helpers/run-cli.js';
import { median, printTable, seconds, targetLine } from './report.js';

const exec = promisify(execFile);
const RUNS = 10;

const cases: { name: string; file: string; args: string[] }[] = [
  { name: 'node -e 0 (node alone)', file: process.execPath, args: ['-e', '0'] },
  { name: 'polyarch --version', file: process.execPath, args: [cli, '--version'] },
  { name: 'polyarch --help', file: process.execPath, args: [cli, '--help'] },
  { name: 'polyarch inspect --help', file: process.execPath, args: [cli, 'inspect', '--help'] },
  { name: 'skopeo --version', file: 'skopeo', args: ['--version'] },
  { name: 'buildah --version', file: 'buildah', args: ['--version'] },
];

const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
// Interleaved: one run of each case per round, so load from other work touches every case alike.
for (let round = 0; round < RUNS; round++) {
  for (const c of cases) times.get(c.name)!.push(await seconds(() => exec(c.file, c.args)));
}
const medians = new Map(cases.map((c) => [c.name, median(times.get(c.name)!)]));
const skopeo = medians.get('skopeo --version')!;
const node = medians.get('node -e 0 (node alone)')!;

console.log(`\nCLI start, median of ${RUNS} interleaved runs (load average ${loadavg()[0]!.toFixed(2)})\n`);
printTable(
  ['command', 'seconds', 'beyond node alone', 'vs skopeo --version'],
  cases.map((c) => [c.name, medians.get(c.name)!.toFixed(3), c.file === process.execPath ? (medians.get(c.name)! - node).toFixed(3) : '', `${(medians.get(c.name)! / skopeo).toFixed(1)}× its time`]),
);
console.log();
for (const name of ['polyarch --version', 'polyarch --help', 'polyarch inspect --help']) targetLine(`${name} start`, medians.get(name)!, 0.15, { unit: ' s', atMost: true });
