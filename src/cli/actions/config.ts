import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { describeRegistrySettings, formatMirror, type EffectiveHostSettings, type Sourced } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { line, printJson, printTable } from '../output.js';

export async function configShowAction(context: CliContext, host: string, _flags: unknown, command: Command): Promise<void> {
  const globals = globalsOf(command);
  const report = await describeRegistrySettings({ registry: host, ...connectionOptions(globals, context.signal) });
  if (globals.json) {
    printJson(report, context.stdout);
    return;
  }
  const { settings } = report;
  context.stdout.write(line`registry ${settings.host}`);
  printTable(['SETTING', 'VALUE', 'FROM'], rowsOf(settings), context.stdout);
  context.stdout.write('files read (first wins):\n');
  for (const file of report.files) context.stdout.write(line`  ${file.kind.padEnd(13)} ${file.path}${file.found ? '' : ' (absent)'}`);
}

function rowsOf(settings: EffectiveHostSettings): string[][] {
  const row = <T>(name: string, value: Sourced<T> | undefined, show: (v: T) => string, unset: string): string[] =>
    value === undefined ? [name, unset, '(default)'] : [name, show(value.value), value.source];
  return [
    row('http', settings.http, String, 'false (TLS; plain HTTP only for loopback hosts)'),
    row('insecure', settings.insecure, String, 'false'),
    row('ca', settings.ca, (files) => (files.length === 0 ? '(none)' : files.join(', ')), '(system roots)'),
    row('keypair', settings.keypairs, (pairs) => (pairs.length === 0 ? '(none)' : pairs.map((p) => `cert=${p.cert} key=${p.key}`).join(', ')), '(none)'),
    row('mirrors', settings.mirrors, (mirrors) => (mirrors.length === 0 ? '(none)' : mirrors.map(formatMirror).join(', ')), '(none)'),
  ];
}
