import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { PolyarchError, collectServerGarbage, createRegistryServer } from '../../index.js';
import { collectYoungGarbage, noOptimizingCompilers } from '../young-garbage.js';
import { globalsOf } from '../global-options.js';
import { printJson } from '../output.js';

function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || !Number.isSafeInteger(port) || port < 0 || port > 65535) throw new PolyarchError('USAGE', `cannot parse --listen "${text}": expected HOST:PORT`);
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `24h`, `7d` → milliseconds (`0s` only where `zero` allows it). */
function parseDuration(text: string, flag: string, zero = false): number {
  const match = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2]!]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < (zero ? 0 : 1)) throw new PolyarchError('USAGE', `cannot parse ${flag} "${text}": expected a ${zero ? '' : 'positive '}duration such as 30m, 24h or 7d`);
  return ms;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `5000000`, `512M`, `10G` (binary units) → bytes. */
function parseSize(text: string, flag: string): number {
  const match = /^(\d{1,15})([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  const bytes = match ? Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]! : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new PolyarchError('USAGE', `cannot parse ${flag} "${text}": expected a size such as 500M or 10G`);
  return bytes;
}

export async function serveAction(context: CliContext, flags: { root?: string; listen: string; uploadMaxAge: string; maxBlobSize?: string; htpasswd?: string; anonymousRead?: boolean; readOnly?: boolean; tlsCert?: string; tlsKey?: string; gc?: boolean; gcGrace: string }, command: Command): Promise<void> {
  // Every flag is checked before the store is created (createRegistryServer reads the files first).
  const root = flags.root;
  if (root === undefined) throw new PolyarchError('USAGE', 'serve needs --root here: XDG_DATA_HOME is not set and there is no home directory (HOME is not set, and this user has none in the user database)');
  const { host, port } = parseListen(flags.listen);
  const uploadMaxAgeMs = parseDuration(flags.uploadMaxAge, '--upload-max-age');
  const gracePeriodMs = parseDuration(flags.gcGrace, '--gc-grace', true);
  const maxBlobSize = flags.maxBlobSize === undefined ? undefined : parseSize(flags.maxBlobSize, '--max-blob-size');
  if (flags.gc) {
    // No server is created: its start would clear uploads/ under a server running on this root.
    const { removed, kept, young } = await collectServerGarbage({ root, gracePeriodMs, signal: context.signal });
    if (globalsOf(command).json) return printJson({ removed, kept, young }, context.stdout);
    context.stdout.write(`removed ${removed} unreferenced blobs, kept ${kept}${young > 0 ? ` (${young} unreferenced but younger than --gc-grace ${flags.gcGrace})` : ''}\n`);
    return;
  }
  // Blobs move now and then: socket buffers are collected young while any request is open, and
  // RSS stays flat over many requests without the optimizing compilers (see young-garbage.ts).
  noOptimizingCompilers();
  const collecting = collectYoungGarbage({ restWhenQuiet: true });
  try {
    const server = await createRegistryServer({
      root,
      uploadMaxAgeMs,
      ...(maxBlobSize !== undefined ? { maxBlobSize } : {}),
      onError: (error, request) => context.stderr.write(`polyarch serve: ${request.method} ${request.path}: ${error instanceof Error ? error.message : String(error)}\n`.replace(/[\r\n]+(?=.)/g, ' ')),
      onRequest: () => collecting.hold(),
      ...(flags.htpasswd !== undefined ? { htpasswd: flags.htpasswd } : {}),
      ...(flags.anonymousRead ? { anonymousRead: true } : {}),
      ...(flags.readOnly ? { readOnly: true } : {}),
      ...(flags.tlsCert !== undefined ? { tlsCert: flags.tlsCert } : {}),
      ...(flags.tlsKey !== undefined ? { tlsKey: flags.tlsKey } : {}),
      signal: context.signal,
    });
    const address = await server.listen(port, host);
    // With --json one line, written once listening: a script reads it to learn the port it got.
    if (globalsOf(command).json) context.stdout.write(`${JSON.stringify({ address: address.host, url: address.url, root })}\n`);
    else if (!globalsOf(command).quiet) context.stdout.write(`polyarch registry on ${address.url} (root ${root})\n`);
    await new Promise<void>((resolve) => {
      if (context.signal.aborted) resolve();
      context.signal.addEventListener('abort', () => resolve(), { once: true });
      process.once('SIGTERM', () => resolve());
    });
    await server.close();
  } finally {
    collecting.stop();
  }
}
