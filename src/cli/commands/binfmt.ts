import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const binfmtCommand: CommandSpec = {
  name: 'binfmt',
  description: 'show which platforms this machine runs (natively or through qemu-user handlers in binfmt_misc); register or remove the handlers (root)',
  options: [
    { flags: '--install [platforms]', description: 'register qemu-user handlers with the F flag for these platforms (comma-separated, default all)' },
    { flags: '--uninstall <platforms>', description: 'remove the handlers for these platforms (comma-separated, or all)' },
    { flags: '--proc-root <dir>', description: "where procfs is mounted (default /proc), e.g. a host's procfs seen from a container" },
  ],
  action: async () => (await actionModule('binfmt')).binfmtAction,
};
