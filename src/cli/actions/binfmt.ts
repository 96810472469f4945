import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { stat } from 'node:fs/promises';
import {
  PolyarchError,
  detectEmulation,
  formatPlatform,
  installEmulation,
  parsePlatformList,
  uninstallEmulation,
  type EmulationStatus,
  type Platform,
} from '../../index.js';
import { globalsOf } from '../global-options.js';
import { line, printJson, printTable } from '../output.js';

function platformsArg(value: string): readonly Platform[] | 'all' {
  return value.trim() === 'all' ? 'all' : parsePlatformList(value);
}

function statusText(s: EmulationStatus): string {
  if (s.status === 'emulated') return `emulated via ${s.handler?.name ?? '?'}`;
  if (s.status === 'broken') return `broken: ${s.reason ?? s.handler?.name ?? '?'}`;
  return s.status;
}

export async function binfmtAction(context: CliContext, flags: { install?: string | true; uninstall?: string; procRoot?: string }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  // A procfs the user named must be there: a typo would otherwise read as "nothing registered".
  if (flags.procRoot !== undefined && !(await stat(flags.procRoot).catch(() => undefined))?.isDirectory()) {
    throw new PolyarchError('USAGE', `--proc-root ${flags.procRoot}: no such directory`);
  }
  const options = { signal: context.signal, ...(flags.procRoot !== undefined ? { procRoot: flags.procRoot } : {}) };
  // With --json the changes made are part of the one document printed, not only lines on stderr.
  const uninstalled: { platform: string; removed: readonly string[] }[] = [];
  const installed: { platform: string; action: string; handler?: string }[] = [];
  if (flags.uninstall !== undefined) {
    for (const result of await uninstallEmulation({ ...options, platforms: platformsArg(flags.uninstall) })) {
      uninstalled.push({ platform: formatPlatform(result.platform), removed: result.removed });
      const name = formatPlatform(result.platform);
      context.stderr.write(result.removed.length > 0 ? line`uninstalling: ${name} ${result.removed.join(', ')} OK` : line`uninstalling: ${name} none registered`);
    }
  }
  if (flags.install !== undefined) {
    for (const result of await installEmulation({ ...options, platforms: flags.install === true ? 'all' : platformsArg(flags.install) })) {
      installed.push({ platform: formatPlatform(result.platform), action: result.action, ...(result.handler !== undefined ? { handler: result.handler } : {}) });
      const name = formatPlatform(result.platform);
      const said = { installed: `${result.handler ?? ''} OK`, present: `${result.handler ?? ''} already registered`, native: 'runs natively, skipped', 'no-qemu': 'no qemu binary, skipped' }[result.action];
      context.stderr.write(line`installing: ${name} ${said}`);
    }
  }
  const report = await detectEmulation(options);
  if (globals.json) {
    printJson(
      {
        binfmtMisc: report.binfmtMisc,
        platforms: report.platforms.map((s) => ({
          platform: formatPlatform(s.platform),
          status: s.status,
          kernel: s.kernel,
          ...(s.handler ? { handler: s.handler.name, interpreter: s.handler.interpreter, flags: s.handler.flags, fixBinary: s.handler.fixBinary } : {}),
          ...(s.reason !== undefined ? { reason: s.reason } : {}),
        })),
        ...(flags.uninstall !== undefined ? { uninstalled } : {}),
        ...(flags.install !== undefined ? { installed } : {}),
      },
      context.stdout,
    );
    return;
  }
  printTable(
    ['PLATFORM', 'STATUS', 'INTERPRETER', 'FLAGS'],
    report.platforms.map((s) => [formatPlatform(s.platform), statusText(s), s.handler?.interpreter ?? '', s.handler?.flags ?? '']),
    context.stdout,
  );
  if (report.binfmtMisc !== 'enabled') context.stdout.write(`binfmt_misc is ${report.binfmtMisc === 'unmounted' ? 'not mounted' : 'disabled'}\n`);
}
