import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { PolyarchError, createRegistryServer } from '../../index.js';
import { globalsOf } from '../global-options.js';

/** `$XDG_DATA_HOME/polyarch/registry`, else `~/.local/share/polyarch/registry`. */
function defaultRoot(): string {
  const base = process.env.XDG_DATA_HOME && process.env.XDG_DATA_HOME !== '' ? process.env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  return join(base, 'polyarch', 'registry');
}

function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || !Number.isSafeInteger(port) || port < 0 || port > 65535) throw new PolyarchError('USAGE', `cannot parse --listen "${text}": expected HOST:PORT`);
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `24h`, `7d` → milliseconds. */
function parseDuration(text: string, flag: string): number {
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2]!]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new PolyarchError('USAGE', `cannot parse ${flag} "${text}": expected a positive duration such as 30m, 24h or 7d`);
  return ms;
}

export function registerServe(program: Command, context: CliContext): void {
  program
    .command('serve')
    .description('run an embedded OCI registry with a web page (docker, skopeo, buildah and containerd can push and pull)')
    .option('--root <dir>', 'where content is stored', defaultRoot())
    .option('--listen <host:port>', 'address to listen on (all interfaces only when asked, e.g. 0.0.0.0:5000)', '127.0.0.1:5000')
    .option('--htpasswd <file>', 'require Basic auth from a bcrypt htpasswd file (htpasswd -B)')
    .option('--anonymous-read', 'with --htpasswd: allow pulls without credentials')
    .option('--read-only', 'refuse every push')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate')
    .option('--tls-key <file>', 'and this key')
    .option('--upload-max-age <duration>', 'remove upload sessions left untouched this long (e.g. 30m, 24h, 7d)', '1h')
    .option('--gc', 'remove blobs no repository references, then exit (run while nothing pushes)')
    .action(async (flags: { root: string; listen: string; uploadMaxAge: string; htpasswd?: string; anonymousRead?: boolean; readOnly?: boolean; tlsCert?: string; tlsKey?: string; gc?: boolean }, command: Command) => {
      // Every flag is checked before the store is created (createRegistryServer reads the files first).
      const { host, port } = parseListen(flags.listen);
      const uploadMaxAgeMs = parseDuration(flags.uploadMaxAge, '--upload-max-age');
      const server = await createRegistryServer({
        root: flags.root,
        uploadMaxAgeMs,
        onError: (error, request) => context.stderr.write(`polyarch serve: ${request.method} ${request.path}: ${error instanceof Error ? error.message : String(error)}\n`.replace(/[\r\n]+(?=.)/g, ' ')),
        ...(flags.htpasswd !== undefined ? { htpasswd: flags.htpasswd } : {}),
        ...(flags.anonymousRead ? { anonymousRead: true } : {}),
        ...(flags.readOnly ? { readOnly: true } : {}),
        ...(flags.tlsCert !== undefined ? { tlsCert: flags.tlsCert } : {}),
        ...(flags.tlsKey !== undefined ? { tlsKey: flags.tlsKey } : {}),
      });
      if (flags.gc) {
        const { removed, kept } = await server.storage.collectGarbage();
        context.stdout.write(`removed ${removed} unreferenced blobs, kept ${kept}\n`);
        return;
      }
      const address = await server.listen(port, host);
      if (!globalsOf(command).quiet) context.stdout.write(`polyarch registry on ${address.url} (root ${flags.root})\n`);
      await new Promise<void>((resolve) => {
        if (context.signal.aborted) resolve();
        context.signal.addEventListener('abort', () => resolve(), { once: true });
        process.once('SIGTERM', () => resolve());
      });
      await server.close();
    });
}
