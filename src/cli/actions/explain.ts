import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { detectHostPlatform, explainMatch, formatPlatform, parsePlatform } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { line, printJson } from '../output.js';

export async function explainAction(context: CliContext, location: string, flags: { host?: string; strict?: boolean }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  const host = flags.host !== undefined ? parsePlatform(flags.host) : detectHostPlatform();
  const result = await explainMatch({ location, host, ...connectionOptions(globals, context.signal), ...(flags.strict ? { strict: true } : {}) });
  if (globals.json) {
    printJson(result, context.stdout);
    return;
  }
  const out = context.stdout;
  out.write(line`host:      ${formatPlatform(result.host)}`);
  out.write(line`accepts:   ${result.fallbacks.map(formatPlatform).join(' → ')}`);
  out.write(result.chosen ? line`pulls:     ${result.chosen.platform ? formatPlatform(result.chosen.platform) : '?'} ${result.chosen.digest}` : 'pulls:     nothing: no entry runs on this host\n');
  for (const why of result.why) out.write(line`passed over: ${why}`);
}
