import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const inspectCommand: CommandSpec = {
  name: 'inspect',
  description: 'show an image or index: platforms, digests, sizes, layers',
  arguments: [
    {
      name: '<location>',
      description: 'registry reference, oci:DIR[:TAG][@DIGEST], oci-archive:FILE[:TAG][@DIGEST], docker-archive:FILE[:REPO:TAG], or a path (FILE.tar, ./FILE, ./DIR of an OCI layout); a bundle archive shows its table of images',
    },
  ],
  options: [
    { flags: '--raw', description: "print the manifest's exact bytes" },
    { flags: '--platform <platform>', description: 'for an index, show the image a host of this platform pulls' },
    { flags: '-v, --verbose', description: 'for an index, also show each image' },
  ],
  action: async () => (await actionModule('inspect')).inspectAction,
};
