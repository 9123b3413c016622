// The one regex engine that tenant patterns run on: RE2's algorithm (re2js, a pure-JavaScript port), which
// matches in time linear in the text whatever the pattern, where V8's backtracking RegExp can take exponential
// time (`(a|a)+$`). Why this engine and not V8's `l` flag or re2-wasm: docs/url-filters.md#the-engine.
// Everything here speaks RE2 syntax; regex-syntax.ts and glob.ts translate user patterns into it.
import { RE2Set } from 're2js';
import { errorMessage } from '../errors.ts';

/** A pattern the linear-time engine cannot run, or will not because it is too big; `message` says why. */
export class PatternRefused extends Error {
  override name = 'PatternRefused';
}

/**
 * Instructions in one pattern's program, as regex-syntax.ts and glob.ts estimate it before anything is compiled
 * (they refuse patterns over it). Matching is linear in the text but also proportional to the program in the worst case (each
 * instruction can be a live thread at each character), and a job's patterns are matched as one program, so
 * a job's total is bounded too (JobOptionLimits.patterns.maxTotalSize).
 */
export const MAX_PROGRAM_SIZE = 1000;

/** Largest `{n,m}` count RE2 accepts. */
export const MAX_REPEAT = 1000;

/**
 * Memory for one set's lazy DFA. re2js's default, 8 MB, is per program: with one program per pattern, a job
 * of 98 patterns whose DFAs a hostile site's URLs kept missing held 426 MB after four URLs. A set that runs
 * out falls back to the NFA, which is no slower than a DFA that keeps missing (bench/filters.ts).
 */
const DFA_MEMORY = 256 * 1024;

/** A user's pattern written out in RE2 syntax, with an estimate of its program's size made before compiling. */
export interface Re2Translation {
  source: string;
  steps: number;
}

/**
 * Patterns compiled together into one program (an RE2Set): one pass over a text answers for all of them,
 * whatever their number, with one DFA cache of bounded memory. Add every pattern, then compile, then match.
 */
export class LinearSet {
  private readonly set = new RE2Set(RE2Set.UNANCHORED, 0, DFA_MEMORY);
  /** The caller's id of each pattern, by its index in the set. */
  private readonly ids: number[] = [];

  get size(): number {
    return this.ids.length;
  }

  /** Parses `source` (RE2 syntax) into the set under `id`; throws PatternRefused when RE2 refuses it. */
  add(source: string, id: number): void {
    try {
      this.set.add(source);
    } catch (err) {
      throw new PatternRefused(`the linear-time engine cannot run it (${errorMessage(err)})`);
    }
    this.ids.push(id);
  }

  compile(): void {
    if (this.ids.length > 0) this.set.compile();
  }

  /** The ids of the patterns that match somewhere in `text` (anchor them with ^…$ to match all of it). */
  matches(text: string): number[] {
    if (this.ids.length === 0) return [];
    return this.set.match(text).map((index) => this.ids[index]!);
  }
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
 * meaning differs from JavaScript's, and as `[^…]` when that is shorter (RE2's `[^…]` takes line breaks too);
 * an empty set (JavaScript's `[]`) matches nothing, as there.
 */
export function characterClass(ranges: Ranges): string {
  const merged = normaliseRanges(ranges);
  if (merged.length === 0) return `[^\\x{0}-\\x{${MAX_CODE_POINT.toString(16)}}]`;
  const outside = complementRanges(merged);
  return outside.length > 0 && outside.length < merged.length
    ? `[^${classBody(outside)}]`
    : `[${classBody(merged)}]`;
}

function classBody(ranges: Ranges): string {
  return ranges.map(([lo, hi]) => (lo === hi ? literal(lo) : `${literal(lo)}-${literal(hi)}`)).join('');
}
