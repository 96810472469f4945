// One behaviour for every verb once its AbortSignal fires: a PolyarchError with code INTERRUPTED,
// whatever was in flight at the time (a request, a stream, a child process, a file being written)
// and whatever that part threw on its way out (an AbortError, a reset stream, the signal's reason).
import { PolyarchError, isPolyarchError } from './polyarch-error.js';

/** The error a verb rejects with when `signal` has fired: the reason itself when it already is one (the CLI's Ctrl-C). */
export function interruptedError(signal: AbortSignal, cause?: unknown): PolyarchError {
  const reason: unknown = signal.reason;
  if (isPolyarchError(reason) && reason.code === 'INTERRUPTED') return reason;
  return new PolyarchError('INTERRUPTED', 'interrupted', { cause: cause ?? reason });
}

/**
 * Runs one verb under its signal: an already-aborted signal starts nothing, and any failure after
 * the signal fired is reported as INTERRUPTED. The work itself must honour the signal (and clean up
 * after itself): this does not race it, so nothing keeps running once the verb has settled.
 */
export async function interruptible<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
  if (signal === undefined) return run();
  // From plain JavaScript anything may come: not a network fault three layers down.
  if (!(signal instanceof AbortSignal)) throw new PolyarchError('USAGE', 'signal must be an AbortSignal');
  if (signal.aborted) throw interruptedError(signal);
  try {
    return await run();
  } catch (error) {
    if (signal.aborted) throw interruptedError(signal, error);
    throw error;
  }
}

/** Throws the INTERRUPTED error if `signal` is aborted (between steps of a verb that does several). */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interruptedError(signal);
}
