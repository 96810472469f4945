import { join } from 'node:path';
import type { CommandSpec } from '../command-spec.js';
import { actionModule } from '../load-command-code.js';
import { userDirectory } from '../user-directory.js';

/** `$XDG_DATA_HOME/polyarch/registry`, else `~/.local/share/polyarch/registry`; none without either (then --root is needed). */
function defaultRoot(): string | undefined {
  const base = userDirectory(process.env, 'XDG_DATA_HOME', join('.local', 'share'));
  return base === undefined ? undefined : join(base, 'polyarch', 'registry');
}
const DEFAULT_ROOT = defaultRoot();

export const serveCommand: CommandSpec = {
  name: 'serve',
  description: 'run an embedded OCI registry with a web page (docker, skopeo, buildah and containerd can push and pull)',
  options: [
    { flags: '--root <dir>', description: 'where content is stored', ...(DEFAULT_ROOT !== undefined ? { default: DEFAULT_ROOT } : {}) },
    { flags: '--listen <host:port>', description: 'address to listen on (all interfaces only when asked, e.g. 0.0.0.0:5000)', default: '127.0.0.1:5000' },
    { flags: '--htpasswd <file>', description: 'require Basic auth from a bcrypt htpasswd file (htpasswd -B)' },
    { flags: '--anonymous-read', description: 'with --htpasswd: allow pulls without credentials' },
    { flags: '--read-only', description: 'refuse every push' },
    { flags: '--tls-cert <file>', description: 'serve HTTPS with this certificate' },
    { flags: '--tls-key <file>', description: 'and this key' },
    { flags: '--upload-max-age <duration>', description: 'remove upload sessions left untouched this long (e.g. 30m, 24h, 7d)', default: '1h' },
    { flags: '--max-blob-size <size>', description: 'refuse a blob push larger than this (e.g. 500M, 10G; default: no limit)' },
    { flags: '--gc', description: 'remove blobs no repository references, then exit (safe beside a server running on the same root)' },
    { flags: '--gc-grace <duration>', description: 'with --gc: keep unreferenced blobs pushed or used this recently (e.g. 0s, 30m, 24h)', default: '1h' },
  ],
  action: async () => (await actionModule('serve')).serveAction,
};
