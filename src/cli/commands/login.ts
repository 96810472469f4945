import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const loginCommand: CommandSpec = {
  name: 'login',
  description: "log in to a registry; credentials go to docker's config.json",
  arguments: [{ name: '<registry>', description: 'registry host[:port]' }],
  options: [
    { flags: '-u, --username <name>', description: 'user name' },
    { flags: '-p, --password <password>', description: 'password (prefer --password-stdin)' },
    { flags: '--password-stdin', description: 'read the password from standard input' },
  ],
  action: async () => (await actionModule('login')).loginAction,
};

export const logoutCommand: CommandSpec = {
  name: 'logout',
  description: 'remove stored credentials for a registry',
  arguments: [{ name: '<registry>', description: 'registry host[:port]' }],
  action: async () => (await actionModule('login')).logoutAction,
};
