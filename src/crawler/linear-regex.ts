// The one regex engine that tenant patterns run on: RE2's algorithm (re2js, a pure-JavaScript port), which
// matches in time linear in the text whatever the pattern, where V8's backtracking RegExp can take exponential
// time (`(a|a)+$`). Why this engine and not V8's `l` flag or re2-wasm: docs/url-filters.md#the-engine.
// Everything here speaks RE2 syntax; regex-syntax.ts and glob.ts translate user patterns into it.
import { RE2JS } from 're2js';

/** A pattern the linear-time engine cannot run, or will not because it is too big; `message` says why. */
export class PatternRefused extends Error {
  override name = 'PatternRefused';
}

export interface LinearRegex {
  /** Whether the pattern matches anywhere in `text` (anchor it with ^…$ to match all of it). */
  test(text: string): boolean;
}

/**
 * Instructions in a compiled program. Matching is linear in the text but also proportional to the program in
 * the worst case (each instruction can be a live thread at each character), so a huge program is a slow
 * program: `.{1000}.{1000}.{1000}` costs 0.3 s per 2,048-character URL. 1,000 is twice what the longest
 * allowed pattern can spell out without counted repetition.
 */
export const MAX_PROGRAM_SIZE = 1000;

/** Largest `{n,m}` count RE2 accepts. */
export const MAX_REPEAT = 1000;

/** Compiles RE2 syntax; throws PatternRefused when the engine refuses it or the program is too big. */
export function compileLinear(source: string): LinearRegex {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source);
  } catch (err) {
    throw new PatternRefused(`the linear-time engine cannot run it (${(err as Error).message})`);
  }
  if (compiled.programSize() > MAX_PROGRAM_SIZE) {
    throw new PatternRefused(
      `it compiles to ${compiled.programSize()} steps, more than the ${MAX_PROGRAM_SIZE} allowed; ` +
        'use + or * instead of large {n} counts, or split it into several patterns',
    );
  }
  return { test: (text) => compiled.test(text) };
}

/** Inclusive code point ranges, sorted and disjoint once normalised. */
export type Ranges = Array<readonly [number, number]>;

const MAX_CODE_POINT = 0x10ffff;

/** Sorts and merges overlapping or touching ranges. */
export function normaliseRanges(ranges: Ranges): Ranges {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

export function complementRanges(ranges: Ranges): Ranges {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [lo, hi] of normaliseRanges(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

/** RE2 syntax for one literal character: ASCII letters and digits as they are, anything else as `\x{…}`. */
export function literal(c: number): string {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
    ? String.fromCharCode(c)
    : `\\x{${c.toString(16)}}`;
}

/**
 * RE2 syntax for a set of characters. Written out as ranges rather than with RE2's own `\s` or `.`, whose
 * meaning differs from JavaScript's; an empty set (JavaScript's `[]`) matches nothing, as there.
 */
export function characterClass(ranges: Ranges): string {
  const merged = normaliseRanges(ranges);
  if (merged.length === 0) return `[^\\x{0}-\\x{${MAX_CODE_POINT.toString(16)}}]`;
  const body = merged.map(([lo, hi]) => (lo === hi ? literal(lo) : `${literal(lo)}-${literal(hi)}`));
  return `[${body.join('')}]`;
}
