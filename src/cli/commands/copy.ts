import type { CommandSpec } from '../command-spec.js';
import { PROGRESS_OPTION } from './progress-option.js';
import { actionModule } from '../load-command-code.js';

/** More parallel blob streams than this only queue up behind each other and the registry's limits. */
const MAX_CONCURRENCY = 64;

export const copyCommand: CommandSpec = {
  name: 'copy',
  alias: 'cp',
  description: 'copy an image or index between any two locations',
  arguments: [
    { name: '<source>', description: 'where to read: registry reference, oci:DIR[:TAG][@DIGEST], oci-archive:FILE[:TAG][@DIGEST], docker-archive:FILE[:REPO:TAG]' },
    { name: '<destination>', description: 'where to write, in the same syntax' },
  ],
  options: [
    { flags: '--platform <platforms>', description: 'copy only these platforms (comma separated); the index is rewritten, never sparse' },
    { flags: '-a, --all', description: 'accepted as skopeo copy takes it: without --platform, every platform is copied' },
    { flags: '--src-tls-verify [bool]', description: "skopeo's --src-tls-verify=false (written with =): the source registry alone may use plain HTTP or TLS it cannot verify (--insecure for that registry)" },
    { flags: '--dest-tls-verify [bool]', description: "skopeo's --dest-tls-verify=false: the same for the destination registry" },
    { flags: '--referrers', description: 'also copy what refers to the image or its entries (signatures, SBOMs, other artifacts), recursively' },
    { flags: '--concurrency <n>', description: `blobs copied at once (1–${MAX_CONCURRENCY})`, parse: { kind: 'integer', min: 1, max: MAX_CONCURRENCY }, default: 6 },
    PROGRESS_OPTION,
  ],
  action: async () => (await actionModule('copy')).copyAction,
};
