import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const buildCommand: CommandSpec = {
  name: 'build',
  description: 'build a Dockerfile for several platforms into one index, without a daemon (RUN steps run per platform, foreign ones under qemu-user)',
  arguments: [{ name: '[context]', description: 'build context directory', default: '.' }],
  options: [
    { flags: '--platform <platforms>', description: 'target platforms, comma separated (default: this machine)' },
    { flags: '-t, --tag <ref>', description: 'name the result (repeatable); pushed with --push', parse: { kind: 'collect' } },
    { flags: '--push', description: 'push to every -t name' },
    { flags: '-o, --output <output>', description: 'type=registry|oci|docker|local|tar,… (buildx grammar; dest=- or -o - for standard output) or a polyarch location (repeatable)', parse: { kind: 'collect' } },
    { flags: '-f, --file <dockerfile>', description: 'the Dockerfile (default: CONTEXT/Dockerfile; - reads it from standard input)' },
    { flags: '--no-cache', description: 'run every RUN step again instead of reusing its cached layer (what they make is still cached)' },
    { flags: '--network <mode>', description: "RUN steps' network when a step names none: default (the host's), none or host (as buildx)", default: 'default' },
    { flags: '--pull', description: 'ask the registry for every base image (always done: a tag is never taken from the cache; accepted for buildx scripts)' },
    { flags: '--iidfile <file>', description: 'write the result index digest to a file (as buildx does)' },
    { flags: '--load', description: 'refused: there is no Docker daemon to load into (use -o type=docker,dest=FILE, then docker load < FILE)' },
    { flags: '--provenance <false>', description: 'accepted as false only, for buildx scripts: polyarch adds no provenance attestation' },
    { flags: '--sbom <false>', description: 'accepted as false only, for buildx scripts: polyarch adds no SBOM attestation' },
    { flags: '--build-arg <KEY=VALUE>', description: 'build argument (repeatable); KEY alone takes the value from the environment', parse: { kind: 'collect' } },
    { flags: '--label <KEY=VALUE>', description: 'image label (repeatable)', parse: { kind: 'collect' } },
    { flags: '--target <stage>', description: 'build this stage' },
    { flags: '--annotation <[TYPE:]KEY=VALUE>', description: 'annotation on manifest (default), index or manifest-descriptor, optionally TYPE[os/arch] (repeatable)', parse: { kind: 'collect' } },
    { flags: '--compression <kind>', description: 'layer compression: gzip (default), zstd or uncompressed; also -o …,compression=' },
    { flags: '--compression-level <n>', description: 'gzip 0-9 (default 6), zstd 1-22 (default 3); also -o …,compression-level=' },
    { flags: '--push-by-digest', description: 'with --push: store the index by digest only, with no tag' },
    { flags: '--metadata-file <file>', description: 'write the result digest and names as JSON (as buildx does)' },
    { flags: '--secret <id=ID,src=FILE|env=VAR>', description: 'a secret for RUN --mount=type=secret, from a file or an environment variable (repeatable; buildx grammar)', parse: { kind: 'collect' } },
    { flags: '--source-date-epoch <seconds>', description: 'timestamp for every file and the image (default: $SOURCE_DATE_EPOCH or 0)' },
    {
      flags: '--progress <mode>',
      description: 'plain: each step and its output on stderr, prefixed [platform stage n/total]; tty: the same, with the blobs pulled, compressed and pushed redrawn in place; quiet: none; auto: tty on a terminal, else plain (default auto, quiet with --quiet)',
      parse: { kind: 'progress-mode' },
    },
  ],
  action: async () => (await actionModule('build')).buildAction,
};
