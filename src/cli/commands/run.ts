import type { CommandSpec } from '../command-spec.js';
import { PROGRESS_OPTION } from './progress-option.js';
import { actionModule } from '../load-command-code.js';

export const runCommand: CommandSpec = {
  name: 'run',
  description: "run a command (default: the image's entrypoint and cmd) in an image on its platform, emulated when foreign; nothing is left on disk",
  arguments: [
    { name: '<location>', description: 'registry reference, oci:DIR[:TAG][@DIGEST], oci-archive:FILE[:TAG][@DIGEST], docker-archive:FILE[:REPO:TAG], or a path (FILE.tar, ./FILE, ./DIR of an OCI layout)' },
    { name: '[command...]', description: "replaces the image's cmd (its entrypoint stays, as docker run); every word after the location is the command's, options included" },
  ],
  options: [
    { flags: '--platform <platform>', description: "for an index, the image this platform pulls (default: the host's)" },
    { flags: '--all-platforms', description: 'run once per image of the index and print a table: platform, exit code, first line of output' },
    { flags: '--entrypoint <command>', description: 'run this program instead of the image\'s entrypoint, without its cmd (as docker run); "" for none' },
    { flags: '-e, --env <KEY=VALUE>', description: "a variable set over the image's (repeatable); KEY alone takes the value from the environment", parse: { kind: 'collect' } },
    { flags: '-u, --user <user[:group]>', description: "run as this user (a name or id) instead of the image's" },
    { flags: '-w, --workdir <dir>', description: "run in this absolute directory instead of the image's (made when missing)" },
    { flags: '-v, --volume <host:path[:ro]>', description: 'show a host file or directory (absolute, or ./relative) at this absolute path, writable unless :ro (repeatable, as docker run -v; named volumes need a daemon)', parse: { kind: 'collect' } },
    { flags: '-i, --interactive', description: "accepted as docker run takes it: standard input always reaches the command" },
    { flags: '-t, --tty', description: 'refused: the command gets pipes, not a terminal (for a shell that prompts, run sh -i)' },
    { flags: '--add-host <name:ip>', description: "a name the command finds in /etc/hosts before the host's own (repeatable; host-gateway is 127.0.0.1)", parse: { kind: 'collect' } },
    { flags: '--network <mode>', description: 'default, host or none', default: 'default' },
    { flags: '--rm', description: 'accepted as docker run takes it: the root is always removed' },
    { ...PROGRESS_OPTION, description: "auto (tty on a terminal, else quiet: stderr stays the command's own), tty (a line per layer in flight, redrawn), plain (a line per pulled layer) or quiet; on stderr" },
  ],
  commandAfterImage: true,
  action: async () => (await actionModule('run')).runAction,
};
