import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { PolyarchError, login, logout } from '../../index.js';
import { connectionOptions, globalsOf } from '../global-options.js';

export function registerLogin(program: Command, context: CliContext): void {
  program
    .command('login')
    .description("log in to a registry; credentials go to docker's config.json")
    .argument('<registry>', 'registry host[:port]')
    .option('-u, --username <name>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (host: string, flags: { username?: string; password?: string; passwordStdin?: boolean }, command: Command) => {
      const globals = globalsOf(command);
      if (flags.password !== undefined && flags.passwordStdin) throw new PolyarchError('USAGE', '--password and --password-stdin cannot be used together');
      if (flags.username === undefined) throw new PolyarchError('USAGE', `login ${host}: --username is required`);
      const password = flags.passwordStdin ? await readStdin(context.stdin) : flags.password;
      if (password === undefined) throw new PolyarchError('USAGE', `login ${host}: give --password-stdin or --password`);
      await login(host, { username: flags.username, password }, connectionOptions(globals, context.signal));
      if (!globals.quiet) context.stdout.write('Login Succeeded\n');
    });

  program
    .command('logout')
    .description('remove stored credentials for a registry')
    .argument('<registry>', 'registry host[:port]')
    .action(async (host: string, _flags: unknown, command: Command) => {
      const globals = globalsOf(command);
      await logout(host, globals.registryConfig !== undefined ? { registryConfigDir: globals.registryConfig } : {});
      if (!globals.quiet) context.stdout.write(`Removing login credentials for ${host}\n`);
    });
}

/** The whole of standard input, without its trailing newline (as docker reads --password-stdin). */
async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stdin) text += chunk.toString();
  return text.replace(/\r?\n$/, '');
}
