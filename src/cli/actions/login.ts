import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { PolyarchError, login, logout } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';
import { printJson } from '../output.js';
import { readStdinText } from '../read-stdin.js';

export async function loginAction(context: CliContext, host: string, flags: { username?: string; password?: string; passwordStdin?: boolean }, command: Command): Promise<void> {
  const globals = globalsOf(command);
  if (flags.password !== undefined && flags.passwordStdin) throw new PolyarchError('USAGE', '--password and --password-stdin cannot be used together');
  if (flags.username === undefined) throw new PolyarchError('USAGE', `login ${host}: --username is required`);
  // Without its trailing newline, as docker reads --password-stdin.
  const password = flags.passwordStdin ? (await readStdinText(context.stdin)).replace(/\r?\n$/, '') : flags.password;
  if (password === undefined) throw new PolyarchError('USAGE', `login ${host}: give --password-stdin or --password`);
  await login({ registry: host, username: flags.username, password, ...connectionOptions(globals, context.signal) });
  if (globals.json) printJson({ host, loggedIn: true }, context.stdout);
  else if (!globals.quiet) context.stdout.write('Login Succeeded\n');
}

export async function logoutAction(context: CliContext, host: string, _flags: unknown, command: Command): Promise<void> {
  const globals = globalsOf(command);
  await logout({ registry: host, signal: context.signal, ...(globals.registryConfig !== undefined ? { registryConfigDir: globals.registryConfig } : {}) });
  if (globals.json) printJson({ host, loggedIn: false }, context.stdout);
  else if (!globals.quiet) context.stdout.write(`Removing login credentials for ${host}\n`);
}
