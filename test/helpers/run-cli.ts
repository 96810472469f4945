import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI, exactly as `npm install` ships it: the bundle package.json's `bin` names. */
export const CLI_PATH = fileURLToPath(new URL('../../../dist/bin/polyarch.js', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Spawns `polyarch ARGS` (or another copy of the CLI, `cli`) and collects its output. */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; cli?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.cli ?? CLI_PATH, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** `polyarch build`'s progress lines (`[linux/arm64 builder 3/5] …`), as --progress=plain prints them. */
const PROGRESS_LINE = /^\[[^\s/\]]+\/\S+( \S+)? +\d+\/\d+\](?: |$)/;

/** stderr without build progress lines: what a failing build says about its failure. */
export function withoutProgress(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !PROGRESS_LINE.test(line))
    .join('\n');
}
