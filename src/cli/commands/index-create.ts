import type { CommandSpec } from '../command-spec.js';
import { PROGRESS_OPTION } from './progress-option.js';
import { actionModule } from '../load-command-code.js';

export const indexCommand: CommandSpec = {
  name: 'index',
  description: 'assemble multi-platform indexes',
  commands: [
    {
      name: 'create',
      description: 'one index from images anywhere (registries, indexes, oci: layouts, archives), pushed to every target',
      arguments: [{ name: '<sources...>', description: 'LOCATION[,platform=os/arch[/variant]]' }],
      options: [
        { flags: '-t, --tag <target>', description: 'where to push the index (repeatable)', parse: { kind: 'collect' }, required: true },
        { flags: '--append', description: 'add the sources to the existing index at the first target' },
        { flags: '--annotation <KEY=VALUE>', description: 'annotation for the index, or manifest-descriptor:KEY=VALUE for each entry (repeatable)', parse: { kind: 'collect' } },
        { flags: '--format <format>', description: 'oci or docker (default: docker when every image is a Docker manifest, else oci)' },
        { flags: '--allow-mixed', description: 'let a Docker list (--format docker) hold OCI manifests' },
        { flags: '--attestations <mode>', description: 'keep or drop BuildKit attestations of index sources', default: 'keep' },
        PROGRESS_OPTION,
      ],
      action: async () => (await actionModule('index-create')).indexCreateAction,
    },
  ],
};

export const pushCommand: CommandSpec = {
  name: 'push',
  description: "manifest-tool's push: from a spec file or from arguments",
  options: [{ flags: '--type <type>', description: 'docker (a manifest list) or oci (an index); default: docker when every image is a Docker manifest' }],
  commands: [
    {
      name: 'from-spec',
      arguments: [{ name: '<file>', description: "manifest-tool's YAML spec" }],
      options: [{ flags: '--ignore-missing', description: 'skip images that do not exist, with a notice' }, PROGRESS_OPTION],
      action: async () => (await actionModule('index-create')).pushFromSpecAction,
    },
    {
      name: 'from-args',
      options: [
        { flags: '--platforms <list>', description: 'platforms, comma separated (repeatable)', parse: { kind: 'collect' }, required: true },
        { flags: '--template <image>', description: 'image name with OS, ARCH and VARIANT placeholders', required: true },
        { flags: '--target <image>', description: 'where to push the index', required: true },
        { flags: '--tags <tags>', description: 'more tags for the index, comma separated (repeatable)', parse: { kind: 'collect' } },
        { flags: '--ignore-missing', description: 'skip images that do not exist, with a notice' },
        PROGRESS_OPTION,
      ],
      action: async () => (await actionModule('index-create')).pushFromArgsAction,
    },
  ],
};
