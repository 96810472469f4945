import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REGISTER = new URL('./register.js', import.meta.url).href;

export interface TracedRun {
  readonly code: number;
  readonly stdout: string;
  /** Every module URL the process resolved (ESM imports, including packages reached through them). */
  readonly modules: readonly string[];
}

/** Runs `node SCRIPT ARGS` and reports which modules it loaded. */
export async function traceModules(script: string, args: readonly string[]): Promise<TracedRun> {
  const dir = await mkdtemp(join(tmpdir(), 'polyarch-trace-'));
  const file = join(dir, 'modules.txt');
  try {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', REGISTER, script, ...args], { env: { ...process.env, MODULE_TRACE_FILE: file }, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c ?? -1, stdout: out }));
    });
    const modules = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    return { code, stdout, modules };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
