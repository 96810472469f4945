import type { CommandSpec } from '../command-spec.js';

export const pruneCommand: CommandSpec = {
  name: 'prune',
  description: 'remove build cache entries ($XDG_CACHE_HOME/polyarch/build): what no build needs, or with --all / --keep-storage also cached layers and base images',
  options: [
    { flags: '--all', description: 'remove every entry' },
    { flags: '--keep-storage <size>', description: 'keep the most recently used entries up to this size (e.g. 1GB)' },
  ],
  action: async () => (await import('../actions/prune.js')).pruneAction,
};
