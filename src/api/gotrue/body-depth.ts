// Refuses JSON bodies nested deeper than any /auth/v1 request needs, before anything parses them: a body
// 200,000 levels deep made the sign-up's first recursive step overflow the stack (a 500). The scan reads the
// raw text once, ignoring brackets inside strings; hono keeps that text, so the validator's c.req.json()
// parses it without reading the body again.
import type { MiddlewareHandler } from 'hono';
import { validationFailed } from '../../auth/gotrue/errors.ts';
import { MAX_METADATA_DEPTH } from '../../auth/gotrue/metadata.ts';

// The body object, then sign-up `data` at its deepest.
export const MAX_BODY_DEPTH = MAX_METADATA_DEPTH + 1;

/** Whether `text` opens more than `limit` nested objects or arrays at some point. */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) {
      inString = true;
    } else if (ch === 0x7b || ch === 0x5b) {
      if (++depth > limit) return true;
    } else if (ch === 0x7d || ch === 0x5d) {
      depth--;
    }
  }
  return false;
}

export function limitBodyDepth(): MiddlewareHandler {
  return async (c, next) => {
    if (/json/i.test(c.req.header('content-type') ?? '')) {
      if (nestsDeeperThan(await c.req.text(), MAX_BODY_DEPTH)) {
        throw validationFailed(
          `The request body is nested too deeply: data (user metadata) may nest at most ${MAX_METADATA_DEPTH} levels`,
        );
      }
    }
    await next();
  };
}
