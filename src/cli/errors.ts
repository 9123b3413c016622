// The exit codes of `bbb` commands, and the error a command raises to end with a message, without a stack trace.
import { ExpectedError } from '../errors.ts';

export const EXIT_OK = 0;
/** Broken links found (crawl), or an unexpected failure. */
export const EXIT_FAILURE = 1;
/** Usage or setup error: the message says what to fix. */
export const EXIT_USAGE = 2;
/** `bbb worker` could not reach its database for BBB_WORKER_DB_DEADLINE_MS: restart it (or fix the database). */
export const EXIT_DB_UNREACHABLE = 3;

/** A mistake the user can fix by changing the command line or the environment. */
export class UsageError extends ExpectedError {
  override name = 'UsageError';
}

/** Exit code for a run stopped by a signal, as shells report it (128 + the signal's number). */
export function signalExitCode(signal: string): number {
  return signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : EXIT_FAILURE;
}
