// Setup errors are the operator's to fix, so their messages say what to do.
import { ExpectedError } from '../errors.ts';

export class DbSetupError extends ExpectedError {
  override name = 'DbSetupError';
}

/** A migration file failed; the database stays at the previous version. */
export class MigrationError extends ExpectedError {
  override name = 'MigrationError';
  constructor(
    message: string,
    readonly file?: string,
    readonly statementIndex?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
