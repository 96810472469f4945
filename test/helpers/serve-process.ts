import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_PATH } from './run-cli.js';

/** `polyarch serve` as its own process on a free loopback port (for kill -9 tests and benchmarks). */
export function startServeProcess(root: string, extraArgs: readonly string[] = []): Promise<{ child: ChildProcess; host: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, 'serve', '--root', root, '--listen', '127.0.0.1:0', ...extraArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const match = /on http:\/\/(127\.0\.0\.1:\d+)/.exec(out);
      if (match) resolve({ child, host: match[1]! });
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}
