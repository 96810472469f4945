import type { CommandSpec } from '../command-spec.js';
import { PROGRESS_OPTION } from './progress-option.js';
import { actionModule } from '../load-command-code.js';

const CONCURRENCY = { flags: '--concurrency <n>', description: 'blobs transferred at once (1–64)', parse: { kind: 'integer', min: 1, max: 64 }, default: 6 } as const;

export const bundleCommand: CommandSpec = {
  name: 'bundle',
  description: 'offline release archives: every listed image for one platform per archive (docker load-able), each shared layer once, with SHA256SUMS beside them',
  arguments: [{ name: '[images...]', description: 'registry references NAME:TAG[@DIGEST]; each keeps its name in the archive' }],
  options: [
    { flags: '--platform <platforms>', description: 'one archive per platform (comma separated)' },
    { flags: '-o, --output <pattern>', description: 'archive path; {os}, {arch} and {variant} are replaced per platform' },
    { flags: '--format <format>', description: 'docker (docker save form) or oci (OCI layout archive)', default: 'docker' },
    { flags: '--images <file>', description: 'read the images from FILE, one per line (# comments)' },
    { flags: '--cache-dir <dir>', description: 'where fetched blobs are kept between runs (default: $XDG_CACHE_HOME/polyarch/bundle-blobs)' },
    CONCURRENCY,
    PROGRESS_OPTION,
  ],
  commands: [
    {
      name: 'push',
      description: 'push every image of a bundle archive to REGISTRY/PREFIX/NAME:TAG, digests kept',
      arguments: [{ name: '<archive>', description: 'a bundle archive (FILE.tar, docker-archive:FILE or oci-archive:FILE)' }],
      options: [{ flags: '--to <registry/prefix>', description: 'where the images go; NAME is the last component of each image name' }, CONCURRENCY, PROGRESS_OPTION],
      action: async () => (await actionModule('bundle')).bundlePushAction,
    },
  ],
  action: async () => (await actionModule('bundle')).bundleAction,
};
