// Passing a signal on to a step's command, as docker run passes on the ones it gets. bwrap runs
// the command under an init of its own, pid 1 of the step's pid namespace, and pid 1 takes no
// signal it has no handler for: sent to it or to bwrap, a signal never reaches the command. The
// command is that init's child, found through /proc and signalled itself.
import { readFileSync, readdirSync } from 'node:fs';

/** The processes whose parent is `pid`: /proc/PID/task/PID/children, else a scan of /proc. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter((p) => p !== '').map(Number);
  } catch {
    // A kernel without the children file.
  }
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last one.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/**
 * Delivers `signal` to what runs under `initPid` (bwrap's "child-pid": the step's pid 1): the
 * command, and any process orphaned inside the step, which that init has adopted.
 */
export function signalUnderInit(initPid: number, signal: NodeJS.Signals): void {
  for (const child of childrenOf(initPid)) {
    try {
      process.kill(child, signal);
    } catch {
      // It ended meanwhile.
    }
  }
}
