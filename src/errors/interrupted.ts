// One behaviour for every verb a caller stops with an AbortSignal: a PolyarchError with code
// INTERRUPTED, whatever the signal was aborted with (a bare `controller.abort()` gives a DOMException
// that names nothing polyarch knows) and wherever the work was when it stopped.
import { PolyarchError } from './polyarch-error.js';

/** The error a verb rejects with once `signal` is aborted: the reason itself when it is already a PolyarchError. */
export function interruptedError(signal: AbortSignal, cause?: unknown): PolyarchError {
  const reason: unknown = signal.reason;
  if (reason instanceof PolyarchError) return reason;
  return new PolyarchError('INTERRUPTED', 'interrupted', { cause: cause ?? reason });
}

/** Throws the INTERRUPTED error if `signal` is aborted. */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interruptedError(signal);
}

/**
 * Runs `work`, refusing to start when `signal` is already aborted, and turning whatever it throws
 * after an abort (an AbortError, a killed child's failure) into the INTERRUPTED error.
 */
export async function interruptible<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  throwIfInterrupted(signal);
  try {
    return await work();
  } catch (error) {
    if (signal?.aborted) throw interruptedError(signal, error);
    throw error;
  }
}
