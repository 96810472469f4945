import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const explainCommand: CommandSpec = {
  name: 'explain',
  description: 'which entry an engine on a given host would pull, and why (containerd rules)',
  arguments: [{ name: '<location>' }],
  options: [
    { flags: '--host <platform>', description: 'the host platform (default: this machine)' },
    { flags: '--strict', description: 'no fallback: only the exact platform' },
  ],
  action: async () => (await actionModule('explain')).explainAction,
};
