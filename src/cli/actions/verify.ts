import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { archiveLocationFor, parsePlatformList, verify, verifyBundle, type VerifyReport } from '../../index.js';
import { CommandExit, EXIT_FAILURE } from '../exit-codes.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { line, printJson, printTable, type OutputStream } from '../output.js';
import { whileMovingBlobs } from '../young-garbage.js';

export async function verifyAction(context: CliContext, location: string, flags: { require?: string }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  const checks = { ...(flags.require !== undefined ? { require: parsePlatformList(flags.require) } : {}), signal: context.signal };
  // A bundle archive: each image it lists, checked in turn.
  const bundle = await whileMovingBlobs(() => verifyBundle({ location, ...checks }));
  if (bundle) {
    if (globals.json) printJson(bundle, context.stdout);
    else {
      for (const { image, report } of bundle.images) {
        if (!globals.quiet || !report.passed) context.stdout.write(line`${image}:`);
        printReport(report, globals.quiet === true, context.stdout);
      }
    }
    if (!bundle.passed) throw new CommandExit(EXIT_FAILURE);
    return;
  }
  // A plain path to an archive reads as inspect reads it.
  const archive = await archiveLocationFor(location);
  const report = await whileMovingBlobs(() =>
    verify({
      location: archive ?? location,
      ...connectionOptions(globals, context.signal),
      ...checks,
    }),
  );
  if (globals.json) printJson(report, context.stdout);
  else printReport(report, globals.quiet === true, context.stdout);
  // The findings are the output; the exit code is what CI gates on.
  if (!report.passed) throw new CommandExit(EXIT_FAILURE);
}

/** The findings as a table and a one-line verdict (only when something failed, with --quiet). */
function printReport(report: VerifyReport, quiet: boolean, out: OutputStream): void {
  const errors = report.findings.filter((f) => f.severity === 'error').length;
  if (quiet && errors === 0) return;
  if (report.findings.length > 0) {
    printTable(
      ['SEVERITY', 'PLATFORM', 'RULE', 'DETAIL'],
      report.findings.map((f) => [f.severity, f.platform ?? '-', f.rule, f.detail]),
      out,
    );
  }
  const warnings = report.findings.filter((f) => f.severity === 'warning').length;
  const platforms = report.images.map((i) => i.platform ?? i.digest).join(', ');
  out.write(line`${errors === 0 ? 'passed' : 'failed'}: ${errors} error(s), ${warnings} warning(s); checked ${report.images.length} image(s)${platforms ? ` (${platforms})` : ''}`);
}
