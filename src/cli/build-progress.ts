// `build --progress=plain`: each step and each line it prints, on stderr, prefixed as buildx's plain
// progress does: `[linux/arm64 builder 3/5] RUN make`, then `[linux/arm64 builder 3/5] cc -c a.c`.
// Step output comes from programs inside hostile images: every line is escaped before it is shown.
import { formatPlatform, type BuildProgress, type BuildStep, type ProgressListener } from '../index.js';
import { escapeControl, type OutputStream } from './output.js';

/** `[platform stage n/total]`, the number padded to the width of the total as buildx pads it. */
function prefix(step: BuildStep): string {
  const number = String(step.number).padStart(String(step.total).length);
  return `[${formatPlatform(step.platform)}${step.stage !== undefined ? ` ${step.stage}` : ''} ${number}/${step.total}]`;
}

function text(event: BuildProgress): string {
  switch (event.kind) {
    case 'step':
      return event.step.instruction;
    case 'cached':
      return 'CACHED';
    case 'output':
      return event.line;
    case 'notice':
      return `notice: ${event.message}`;
  }
}

/** A listener printing each event as one line to `out`: one write a line, so platforms interleave only between lines. */
export function printBuildProgress(out: OutputStream): ProgressListener {
  return (event) => {
    const shown = text(event);
    out.write(`${escapeControl(shown === '' ? prefix(event.step) : `${prefix(event.step)} ${shown}`)}\n`);
  };
}
