import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const configCommand: CommandSpec = {
  name: 'config',
  description: 'registry settings read from registries.toml, buildkitd.toml and daemon.json',
  commands: [
    {
      name: 'show',
      description: 'print the settings in force for a registry, each with the file and key it came from',
      arguments: [{ name: '<registry>', description: 'registry host[:port]' }],
      action: async () => (await actionModule('config')).configShowAction,
    },
  ],
};
