import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const pruneCommand: CommandSpec = {
  name: 'prune',
  description:
    'remove build cache entries ($XDG_CACHE_HOME/polyarch/build): what no build needs, or with --all / --keep-storage also cached layers and base images; with --bundle-cache (or --all) the bundle blob cache too',
  options: [
    { flags: '--all', description: 'remove every entry (of the bundle cache too)' },
    { flags: '--keep-storage <size>', description: 'keep the most recently used entries up to this size (e.g. 1GB), counted over both caches with --bundle-cache' },
    { flags: '--bundle-cache', description: 'also prune the bundle blob cache ($XDG_CACHE_HOME/polyarch/bundle-blobs)' },
  ],
  action: async () => (await actionModule('prune')).pruneAction,
};
