import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;

export const completionCommand: CommandSpec = {
  name: 'completion',
  description: 'print a shell completion script: source <(polyarch completion bash), or zsh; polyarch completion fish | source',
  arguments: [{ name: '<shell>', description: 'bash, zsh or fish', choices: COMPLETION_SHELLS }],
  action: async () => (await actionModule('completion')).completionAction,
};
