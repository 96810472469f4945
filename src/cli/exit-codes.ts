import { isBadInput } from '../index.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERRUPTED = 130;

/** 2 for bad input (usage, reference, platform, location), 1 for any other failure. */
export function exitCodeFor(error: unknown): number {
  return isBadInput(error) ? EXIT_BAD_INPUT : EXIT_FAILURE;
}
