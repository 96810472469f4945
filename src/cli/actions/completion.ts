import type { CliContext } from '../context.js';
import { PolyarchError } from '../../index.js';
import { COMPLETION_SHELLS } from '../commands/completion.js';
import { POLYARCH } from '../commands/polyarch.js';
import { bashCompletion } from '../completion/bash.js';
import { completionTree } from '../completion/command-tree.js';
import { fishCompletion } from '../completion/fish.js';
import { zshCompletion } from '../completion/zsh.js';

/** Prints the script, generated from the command definitions, so it never lags behind them. */
export async function completionAction(context: CliContext, shell: string): Promise<void> {
  const nodes = completionTree(POLYARCH);
  switch (shell) {
    case 'bash':
      context.stdout.write(bashCompletion(nodes, POLYARCH.name));
      return;
    case 'zsh':
      context.stdout.write(zshCompletion(nodes, POLYARCH.name));
      return;
    case 'fish':
      context.stdout.write(fishCompletion(nodes, POLYARCH.name));
      return;
    default:
      throw new PolyarchError('USAGE', `completion: unknown shell ${JSON.stringify(shell)}, expected ${COMPLETION_SHELLS.join(', ')}`);
  }
}
