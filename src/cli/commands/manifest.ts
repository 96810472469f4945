import type { CommandSpec } from '../command-spec.js';
import { PROGRESS_OPTION } from './progress-option.js';
import { actionModule } from '../load-command-code.js';

const INSECURE = { flags: '--insecure', description: 'allow plain HTTP or unverified TLS' };

export const manifestCommand: CommandSpec = {
  name: 'manifest',
  description: "manage manifest lists in docker's local store (docker manifest drop-in)",
  commands: [
    {
      name: 'create',
      description: 'create a local manifest list from images in registries',
      arguments: [
        { name: '<list>', description: 'the list reference, e.g. REG/foo:1.0' },
        { name: '<images...>', description: 'one image per platform' },
      ],
      options: [{ flags: '-a, --amend', description: 'amend an existing list' }, INSECURE],
      action: async () => (await actionModule('manifest')).manifestCreateAction,
    },
    {
      name: 'annotate',
      description: 'set platform fields of one entry of a local list',
      arguments: [{ name: '<list>' }, { name: '<image>' }],
      options: [
        { flags: '--os <os>', description: 'operating system' },
        { flags: '--arch <arch>', description: 'architecture (aliases such as x86_64 or aarch64 are normalized)' },
        { flags: '--variant <variant>', description: 'architecture variant' },
        { flags: '--os-version <version>', description: 'operating system version' },
        { flags: '--os-features <features>', description: 'operating system features, comma separated (repeatable)', parse: { kind: 'collect' } },
      ],
      action: async () => (await actionModule('manifest')).manifestAnnotateAction,
    },
    {
      name: 'inspect',
      description: 'print an image or list as JSON: an entry of a local list, a local list (as push would send it), or from the registry',
      arguments: [
        { name: '<list-or-image>', description: 'the image or list; with a second argument, the local list holding it' },
        { name: '[image]', description: 'an entry of that local list' },
      ],
      options: [INSECURE, { flags: '-v, --verbose', description: "docker's entry form: Ref, Descriptor (with platform), Raw and the manifest" }],
      action: async () => (await actionModule('manifest')).manifestInspectAction,
    },
    {
      name: 'push',
      description: 'push a local list: entries are copied or mounted into its repository, then the list',
      arguments: [{ name: '<list>' }],
      options: [{ flags: '-p, --purge', description: 'remove the local list after pushing' }, INSECURE, PROGRESS_OPTION],
      action: async () => (await actionModule('manifest')).manifestPushAction,
    },
    {
      name: 'rm',
      description: 'delete local manifest lists',
      arguments: [{ name: '<lists...>' }],
      action: async () => (await actionModule('manifest')).manifestRemoveAction,
    },
  ],
};
