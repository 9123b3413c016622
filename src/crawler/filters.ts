// Include/exclude patterns that every URL source (root, sitemap, discovered links) passes through, so a job
// never crawls what its owner ruled out. Syntax is documented in docs/url-filters.md; keep the two in step.
import picomatch from 'picomatch';

export interface FilterSpec {
  /** When non-empty, a URL must match at least one of these. */
  include?: readonly string[];
  /** A URL matching any of these is dropped, even when an include matches too. */
  exclude?: readonly string[];
}

export type FilterResult =
  | { ok: true }
  | { ok: false; reason: 'excluded' | 'not_included'; pattern?: string };

export interface UrlFilter {
  /** `url` is an absolute URL (normalised, ideally) or a path starting with `/`. */
  test(url: string): FilterResult;
}

export class InvalidFilterError extends Error {
  override name = 'InvalidFilterError';
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(`Invalid URL filter pattern ${JSON.stringify(pattern)}: ${reason}`);
  }
}

const MAX_PATTERN_LENGTH = 500;
const INCLUDED: FilterResult = { ok: true };

interface Target {
  /** Path plus `?query` when there is one. */
  full: string;
  path: string;
}

type Matcher = (target: Target) => boolean;

export function compileFilters(spec: FilterSpec = {}): UrlFilter {
  const include = (spec.include ?? []).map((p) => [p, compilePattern(p)] as const);
  const exclude = (spec.exclude ?? []).map((p) => [p, compilePattern(p)] as const);
  if (include.length === 0 && exclude.length === 0) return { test: () => INCLUDED };
  return {
    test(url: string): FilterResult {
      const target = toTarget(url);
      for (const [pattern, matches] of exclude) {
        if (matches(target)) return { ok: false, reason: 'excluded', pattern };
      }
      if (include.length === 0) return INCLUDED;
      for (const [, matches] of include) {
        if (matches(target)) return INCLUDED;
      }
      return { ok: false, reason: 'not_included' };
    },
  };
}

/** The problem with `pattern`, or undefined when it compiles; for validating user input (e.g. a zod refine). */
export function validateFilterPattern(pattern: string): string | undefined {
  try {
    compilePattern(pattern);
    return undefined;
  } catch (err) {
    return err instanceof InvalidFilterError ? err.message : String(err);
  }
}

function compilePattern(raw: string): Matcher {
  if (typeof raw !== 'string') throw new InvalidFilterError(String(raw), 'not a string');
  const pattern = raw.trim();
  if (pattern === '') throw new InvalidFilterError(raw, 'empty pattern');
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new InvalidFilterError(raw, `longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  // `/…/` is a regex; a glob can therefore not be wrapped in slashes (see docs/url-filters.md for `/blog/`).
  if (pattern.length >= 2 && pattern.startsWith('/') && pattern.endsWith('/'))
    return compileRegex(raw, pattern);
  return compileGlob(raw, pattern);
}

function compileRegex(raw: string, pattern: string): Matcher {
  const source = pattern.slice(1, -1);
  if (source === '') throw new InvalidFilterError(raw, 'empty regular expression');
  let regex: RegExp;
  try {
    regex = new RegExp(source);
  } catch (err) {
    throw new InvalidFilterError(raw, `not a valid regular expression (${(err as Error).message})`);
  }
  // JavaScript regexes backtrack; a repeated group that itself repeats (`(a+)+`) can take exponential time on
  // a hostile URL and would stall the worker's event loop.
  if (hasNestedQuantifier(source)) {
    throw new InvalidFilterError(
      raw,
      'nested repetition such as (a+)+ can take exponential time; simplify it',
    );
  }
  return (t) => regex.test(t.full);
}

function compileGlob(raw: string, pattern: string): Matcher {
  if (pattern.includes('/') && !pattern.startsWith('/') && !pattern.startsWith('**')) {
    throw new InvalidFilterError(
      raw,
      'globs match the URL path, so they start with "/" (or "**", or have no "/")',
    );
  }
  // picomatch will not let `/**/` match zero directories at the start of an absolute path, so match both sides
  // relative to the root instead.
  const relative = pattern.startsWith('/') ? pattern.slice(1) : pattern;
  if (relative === '') return (t) => t.path === '/';
  let regex: RegExp;
  try {
    regex = picomatch.makeRe(relative, { dot: true });
  } catch (err) {
    throw new InvalidFilterError(raw, `not a valid glob (${(err as Error).message})`);
  }
  if (!pattern.includes('/')) {
    // No slash: match the last path segment anywhere, like .gitignore (`*.pdf`).
    return (t) => regex.test(t.path.slice(t.path.lastIndexOf('/') + 1));
  }
  // Try the path alone as well, so `/**/*.pdf` still matches `/a.pdf?download=1`.
  return (t) => regex.test(t.full.slice(1)) || (t.full !== t.path && regex.test(t.path.slice(1)));
}

function toTarget(url: string): Target {
  let full = url;
  if (!url.startsWith('/')) {
    const hostStart = url.indexOf('//');
    const pathStart = hostStart === -1 ? -1 : url.indexOf('/', hostStart + 2);
    full = pathStart === -1 ? '/' : url.slice(pathStart);
  }
  const hash = full.indexOf('#');
  if (hash !== -1) full = full.slice(0, hash);
  const q = full.indexOf('?');
  return { full, path: q === -1 ? full : full.slice(0, q) };
}

/**
 * True when a group that contains a repeating quantifier is itself repeated: the classic catastrophic shape.
 * A heuristic (overlapping alternatives like `(a|a)+` get through), but it catches what people actually write.
 */
function hasNestedQuantifier(source: string): boolean {
  // One entry per open group: whether anything inside it repeats.
  const repeats: boolean[] = [false];
  let inClass = false;
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      i++;
      continue;
    }
    if (c === '[') {
      inClass = true;
      i++;
      continue;
    }
    if (c === '(') {
      repeats.push(false);
      i = skipGroupPrefix(source, i + 1);
      continue;
    }
    if (c === ')') {
      const inner = repeats.length > 1 ? repeats.pop()! : false;
      const [length, repeating] = quantifierAt(source, i + 1);
      if (inner && repeating) return true;
      if (inner || repeating) repeats[repeats.length - 1] = true;
      i += 1 + length;
      continue;
    }
    const [length, repeating] = quantifierAt(source, i);
    if (length > 0) {
      if (repeating) repeats[repeats.length - 1] = true;
      i += length;
      continue;
    }
    i++;
  }
  return false;
}

/** Skips `?:`, `?=`, `?!`, `?<=`, `?<!`, `?<name>` so their `?` is not read as a quantifier. */
function skipGroupPrefix(source: string, i: number): number {
  if (source[i] !== '?') return i;
  if (source[i + 1] === '<' && source[i + 2] !== '=' && source[i + 2] !== '!') {
    const close = source.indexOf('>', i);
    return close === -1 ? source.length : close + 1;
  }
  return source[i + 1] === '<' ? i + 3 : i + 2;
}

const BRACES = /^\{(\d+)(,(\d*))?\}\??/;

/** [length of the quantifier at i (0 if none), whether it can repeat more than once]. */
function quantifierAt(source: string, i: number): [number, boolean] {
  const c = source[i];
  if (c === '*' || c === '+') return [source[i + 1] === '?' ? 2 : 1, true];
  if (c === '?') return [source[i + 1] === '?' ? 2 : 1, false];
  if (c !== '{') return [0, false];
  const m = BRACES.exec(source.slice(i));
  if (m === null) return [0, false];
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
  return [m[0].length, max > 1];
}
