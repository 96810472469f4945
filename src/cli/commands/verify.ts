import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';

export const verifyCommand: CommandSpec = {
  name: 'verify',
  description: "lint an index and check that each platform's binaries are built for it (exit 1 on any error)",
  arguments: [{ name: '<location>', description: 'registry reference, oci:DIR[:TAG][@DIGEST], oci-archive:FILE[:TAG][@DIGEST], docker-archive:FILE[:REPO:TAG], or a path (FILE.tar, ./FILE, ./DIR of an OCI layout); a bundle archive checks each image' }],
  options: [{ flags: '--require <platforms>', description: 'comma-separated platforms that must be present (e.g. linux/amd64,linux/arm64)' }],
  action: async () => (await actionModule('verify')).verifyAction,
};
