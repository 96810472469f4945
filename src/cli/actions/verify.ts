import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { parsePlatformList, verify } from '../../index.js';
import { CommandExit, EXIT_FAILURE } from '../exit-codes.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { line, printJson, printTable } from '../output.js';
import { whileMovingBlobs } from '../young-garbage.js';

export async function verifyAction(context: CliContext, location: string, flags: { require?: string }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  const report = await whileMovingBlobs(() =>
    verify({
      location,
      ...connectionOptions(globals, context.signal),
      ...(flags.require !== undefined ? { require: parsePlatformList(flags.require) } : {}),
    }),
  );
  const errors = report.findings.filter((f) => f.severity === 'error').length;
  if (globals.json) {
    printJson(report, context.stdout);
  } else if (!globals.quiet || errors > 0) {
    if (report.findings.length > 0) {
      printTable(
        ['SEVERITY', 'PLATFORM', 'RULE', 'DETAIL'],
        report.findings.map((f) => [f.severity, f.platform ?? '-', f.rule, f.detail]),
        context.stdout,
      );
    }
    const warnings = report.findings.filter((f) => f.severity === 'warning').length;
    const platforms = report.images.map((i) => i.platform ?? i.digest).join(', ');
    context.stdout.write(line`${errors === 0 ? 'passed' : 'failed'}: ${errors} error(s), ${warnings} warning(s); checked ${report.images.length} image(s)${platforms ? ` (${platforms})` : ''}`);
  }
  // The findings are the output; the exit code is what CI gates on.
  if (errors > 0) throw new CommandExit(EXIT_FAILURE);
}
