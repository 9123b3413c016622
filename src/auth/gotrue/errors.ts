// GoTrue's errors as GoTrue defines them: each error code comes with the status GoTrue answers it with, so
// supabase-js sees the same pair from bbb as from Supabase Auth. How one is rendered on the wire is
// src/api/gotrue/error-response.ts.

export class GotrueError extends Error {
  override name = 'GotrueError';
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    /** Extra body fields (weak_password) and response headers (Retry-After). */
    readonly extra: { body?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

export const validationFailed = (message: string) => new GotrueError(400, 'validation_failed', message);
