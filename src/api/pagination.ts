// Cursor pagination: the cursor is an opaque base64url token of the last row's sort key and id, so pages stay
// stable while rows are added. A cursor that does not decode is a 400, never a query.
import { z } from 'zod';
import { ApiError } from './errors.ts';

const cursorSchema = z.object({
  v: z.union([z.string(), z.number(), z.null()]),
  id: z.union([z.string(), z.number()]),
});
export type Cursor = z.infer<typeof cursorSchema>;

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** Also for a cursor that decodes but does not fit the list it was sent to. */
export const invalidCursor = () =>
  new ApiError(400, 'invalid_cursor', 'the cursor is not one this API returned: start again without it');

export function decodeCursor(token: string | undefined): Cursor | undefined {
  if (token === undefined || token === '') return undefined;
  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
  } catch {
    throw invalidCursor();
  }
}

/** Fetch limit + 1 rows; this trims the extra one and says where the next page starts. */
export function page<T>(
  rows: T[],
  limit: number,
  key: (row: T) => Cursor,
): { data: T[]; next_cursor: string | null } {
  const more = rows.length > limit;
  const data = more ? rows.slice(0, limit) : rows;
  const last = data[data.length - 1];
  return { data, next_cursor: more && last ? encodeCursor(key(last)) : null };
}
