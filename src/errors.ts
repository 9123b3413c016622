// The one base for errors a person can act on: the message says what to do. Each says how a `bbb` command ends
// with it and what the API answers, so the CLI and the API decide by type, in one place each, and anything
// else is a bug: a stack trace and exit 1 in the CLI, a logged 500 in the API.

export abstract class ExpectedError extends Error {
  /** A `bbb` command ending with it exits with this: 2, a usage or setup error, unless a subclass says otherwise. */
  readonly exitCode: number = 2;
  /** What the API answers when a route meets it; most expected errors never reach a route. */
  readonly httpStatus: number = 400;
  readonly code: string = 'bad_request';
  /** Machine-readable detail for the API's error body (validation issues, say). */
  readonly details?: unknown;
  /** The API's wording, when it must say less than the message (nothing about other tenants). */
  readonly publicMessage?: string;
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A request body that is not JSON, as Hono's body parser reports it (an HTTPException of its own wording). */
export function isMalformedJson(err: unknown): boolean {
  return err instanceof Error && /malformed json/i.test(err.message);
}
