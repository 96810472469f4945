// A command's code is most of what a short command costs to start: compiling the installed bin's
// 1.2 MB took about 40 ms of a 0.2 s `polyarch inspect` here, every run. Node ≥ 22.1 can keep
// compiled modules on disk (module.enableCompileCache); Node 20 keeps nothing for modules, but
// vm.Script takes V8's code cache. So the bundle (scripts/bundle-cli.mjs) makes the command code one
// CommonJS file, command-code.cjs beside the bin, and it is loaded through the cache here. The
// compiled modules (dist/cli/, no such file beside them) import it as modules.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { codeCacheDir, requireWithCodeCache } from './code-cache.js';
import { flagsOfCommand, setV8Flags } from './v8-flags.js';

export type CommandCode = typeof import('./command-code.js');

let loaded: Promise<CommandCode> | undefined;

/**
 * A long command's cache is made this far into it. V8 drops the bytecode of functions not run for a
 * few garbage collections: by the end of a cold build (tens of seconds) it had dropped 650, the
 * start every command runs among them (commander, the Dockerfile parser), so a cache made at its end
 * held the build's long work and not that start. Warm builds compiled from it took 0.41 s against
 * 0.36 s from one made by a warm build. Short commands end before this and cache everything they ran.
 */
const CACHE_WITHIN_MS = 1000;

/** The command code, loaded once; `command` (the command that runs) chooses the code cache's file. */
export function loadCommandCode(command?: string): Promise<CommandCode> {
  loaded ??= load(command);
  return loaded;
}

async function load(command: string | undefined): Promise<CommandCode> {
  // The V8 flags the command sets for itself, set before its code compiles: V8 refuses a cache
  // made under other flags (v8-flags.ts).
  setV8Flags(flagsOfCommand(command));
  const bundled = fileURLToPath(new URL('./command-code.cjs', import.meta.url));
  if (existsSync(bundled)) {
    const script = requireWithCodeCache(bundled, codeCacheDir(), command);
    // Written once the command is done, so the cache holds the functions it compiled too; but no
    // later than CACHE_WITHIN_MS into a long command (a cold build), see there.
    process.once('exit', script.saveCache);
    setTimeout(script.saveCache, CACHE_WITHIN_MS).unref();
    return script.exports as CommandCode;
  }
  return import('./command-code.js');
}

type Actions = CommandCode['actions'];

/** A command's implementation module (a command definition's action), loaded with the command code when the command runs. */
export async function actionModule<Name extends keyof Actions>(name: Name): Promise<Awaited<ReturnType<Actions[Name]>>> {
  return (await loadCommandCode()).actions[name]() as Promise<Awaited<ReturnType<Actions[Name]>>>;
}
