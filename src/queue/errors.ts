import { ExpectedError } from '../errors.ts';

export class UnknownJobError extends ExpectedError {
  override name = 'UnknownJobError';
  override readonly httpStatus = 404;
  override readonly code = 'not_found';
  constructor(readonly jobId: string) {
    super(`Unknown job ${jobId}: no job has that id.`);
  }
}

/** SQL functions raise P0002 (no_data_found) for an unknown job; give callers a typed error instead. */
export function mapQueueError(err: unknown, jobId: string): never {
  if ((err as { code?: string }).code === 'P0002') throw new UnknownJobError(jobId);
  throw err;
}
