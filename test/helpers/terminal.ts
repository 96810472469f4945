// A command run on a real terminal, as a person runs it: a tmux pane of a fixed size on a private
// tmux server, whose screen the test reads (what is drawn, after every cursor movement and
// erase), types into (Ctrl-C), and whose cursor it can ask about. The server is stopped by its pid.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './temp-dir.js';

const exec = promisify(execFile);

export interface TerminalSession {
  /** The pane as it shows now, scrollback included, trailing blank lines dropped. */
  screen(): Promise<string>;
  /** Reads the screen until `pattern` shows (or fails after `timeoutMs`, naming what showed). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Types keys as tmux names them (`C-c`). */
  keys(...keys: string[]): Promise<void>;
  /** Waits for the command to end; its exit code. */
  exited(timeoutMs?: number): Promise<number>;
  /** Whether the terminal shows its cursor (a program that hid it must show it again). */
  cursorVisible(): Promise<boolean>;
  /** What the command wrote to standard output (kept off the screen). */
  stdout(): Promise<string>;
  stop(): Promise<void>;
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `argv` with stderr on a `columns`×`rows` terminal and stdout to a file. */
export async function startTerminal(argv: readonly string[], options: { columns?: number; rows?: number; env?: Record<string, string> } = {}): Promise<TerminalSession> {
  const dir = await tempDir('polyarch-terminal-');
  const socket = `polyarch-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const tmux = (...args: string[]) => exec('tmux', ['-L', socket, ...args], { maxBuffer: 16 << 20 });
  const out = join(dir.path, 'stdout');
  const script = join(dir.path, 'run.sh');
  const exports = Object.entries(options.env ?? {}).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`);
  // The shell outlives a Ctrl-C (a trap, unlike an ignored signal, is not inherited), then reports
  // the exit code as the pane's title: tmux reads that in order with the output, so once the title
  // shows, the screen holds all the command wrote. The pane stays alive, its cursor as left.
  await writeFile(
    script,
    `trap : INT\n${exports.join('')}${argv.map(shellQuote).join(' ')} > ${shellQuote(out)}\nprintf '\\033]2;exit:%s\\033\\\\' "$?"\nexec sleep 3600\n`,
  );
  const config = join(dir.path, 'tmux.conf');
  await writeFile(config, 'set -g history-limit 5000\nset -g status off\n');
  await exec('tmux', ['-L', socket, '-f', config, 'new-session', '-d', '-x', String(options.columns ?? 120), '-y', String(options.rows ?? 40), `sh ${shellQuote(script)}`]);
  const serverPid = Number((await tmux('display-message', '-p', '#{pid}')).stdout.trim());

  const session: TerminalSession = {
    async screen() {
      const { stdout } = await tmux('capture-pane', '-p', '-S', '-', '-E', '-');
      return stdout.replace(/\s+$/, '');
    },
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const shown = await session.screen();
        if (pattern.test(shown)) return shown;
        if (Date.now() > deadline) throw new Error(`the terminal never showed ${pattern}; it shows:\n${shown}`);
        await sleep(50);
      }
    },
    async keys(...keys) {
      await tmux('send-keys', ...keys);
    },
    async exited(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const title = (await tmux('display-message', '-p', '#{pane_title}')).stdout.trim();
        if (/^exit:\d+$/.test(title)) return Number(title.slice('exit:'.length));
        if (Date.now() > deadline) throw new Error(`the command did not end; the terminal shows:\n${await session.screen()}`);
        await sleep(50);
      }
    },
    async cursorVisible() {
      return (await tmux('display-message', '-p', '#{cursor_flag}')).stdout.trim() === '1';
    },
    stdout: () => readFile(out, 'utf8'),
    async stop() {
      try {
        process.kill(serverPid, 'SIGTERM');
      } catch {
        // already gone
      }
      await dir.remove();
    },
  };
  return session;
}
