// Bounds on sign-up `data` (stored as raw_user_meta_data and copied into every access token as
// user_metadata, so every request carries it in a header). Unbounded depth broke the first recursive step
// after parsing (JSON.stringify when writing the row: a 500); unbounded size would make every token heavy.
// The walk here is iterative, so depth is measured without recursing.
import { validationFailed } from './errors.ts';

export const MAX_METADATA_DEPTH = 8;
export const MAX_METADATA_BYTES = 4096;

/** Nesting depth of a parsed JSON value ({} and [] count one level each), giving up past `limit`. */
function depthOver(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth + 1 > limit) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Throws GoTrue's 400 validation_failed unless `data` is within depth and size bounds. */
export function checkUserMetadata(data: Record<string, unknown>): void {
  if (depthOver(data, MAX_METADATA_DEPTH)) {
    throw validationFailed(`data (user metadata) may nest at most ${MAX_METADATA_DEPTH} levels`);
  }
  // Safe to serialise now that depth is bounded.
  if (Buffer.byteLength(JSON.stringify(data), 'utf8') > MAX_METADATA_BYTES) {
    throw validationFailed(`data (user metadata) may be at most ${MAX_METADATA_BYTES} bytes of JSON`);
  }
}
