// Include/exclude patterns that every URL source (root, sitemap, discovered links) passes through, so a job
// never crawls what its owner ruled out. Syntax is documented in docs/url-filters.md; keep the two in step.
import { JobOptionLimits } from '../queue/job-options.ts';
import { globToRe2 } from './glob.ts';
import { compileLinear, type LinearRegex, PatternRefused } from './linear-regex.ts';
import { regexToRe2 } from './regex-syntax.ts';

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

const MAX_PATTERN_LENGTH = JobOptionLimits.patterns.maxLength;
const INCLUDED: FilterResult = { ok: true };

interface Target {
  /** Path plus `?query` when there is one. */
  full: string;
  path: string;
}

type Matcher = (target: Target) => boolean;

/** Throws InvalidFilterError, naming the pattern, for the first pattern that does not compile. */
export function compileFilters(spec: FilterSpec = {}): UrlFilter {
  const compiled = tryCompileFilters(spec);
  if ('filter' in compiled) return compiled.filter;
  throw compiled.problems[0]!.error;
}

export interface FilterProblem {
  list: 'include' | 'exclude';
  index: number;
  error: InvalidFilterError;
}

/** Compiles every pattern once, and either the filter or every pattern's problem (for validating a job). */
export function tryCompileFilters(spec: FilterSpec): { filter: UrlFilter } | { problems: FilterProblem[] } {
  const problems: FilterProblem[] = [];
  const compile = (list: 'include' | 'exclude') =>
    (spec[list] ?? []).map((pattern, index) => {
      try {
        return [pattern, compilePattern(pattern)] as const;
      } catch (err) {
        if (!(err instanceof InvalidFilterError)) throw err;
        problems.push({ list, index, error: err });
        return [pattern, () => false] as const;
      }
    });
  const include = compile('include');
  const exclude = compile('exclude');
  if (problems.length > 0) return { problems };
  if (include.length === 0 && exclude.length === 0) return { filter: { test: () => INCLUDED } };
  return {
    filter: {
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
  if (raw.length > MAX_PATTERN_LENGTH) {
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
  try {
    // V8 is the judge of what is valid JavaScript; it only parses here, the matching is done by RE2.
    new RegExp(source);
  } catch (err) {
    throw new InvalidFilterError(raw, `not a valid regular expression (${(err as Error).message})`);
  }
  const regex = linear(raw, () => regexToRe2(source));
  return (t) => regex.test(t.full);
}

function compileGlob(raw: string, pattern: string): Matcher {
  if (pattern.includes('/') && !pattern.startsWith('/') && !pattern.startsWith('**')) {
    throw new InvalidFilterError(
      raw,
      'globs match the URL path, so they start with "/" (or "**", or have no "/")',
    );
  }
  // Globs see the path without its leading slash (as picomatch did: it will not let `/**/` match zero
  // directories at the start of an absolute path).
  const relative = pattern.startsWith('/') ? pattern.slice(1) : pattern;
  if (relative === '') return (t) => t.path === '/';
  const regex = linear(raw, () => globToRe2(relative));
  if (!pattern.includes('/')) {
    // No slash: match the last path segment anywhere, like .gitignore (`*.pdf`).
    return (t) => regex.test(t.path.slice(t.path.lastIndexOf('/') + 1));
  }
  // Try the path alone as well, so `/**/*.pdf` still matches `/a.pdf?download=1`.
  return (t) => regex.test(t.full.slice(1)) || (t.full !== t.path && regex.test(t.path.slice(1)));
}

/** Compiles what `translate` writes for the linear-time engine; its refusals name the pattern. */
function linear(raw: string, translate: () => string): LinearRegex {
  try {
    return compileLinear(translate());
  } catch (err) {
    if (err instanceof PatternRefused) throw new InvalidFilterError(raw, err.message);
    throw new InvalidFilterError(raw, `not a valid pattern (${(err as Error).message})`);
  }
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
