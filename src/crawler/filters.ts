// Include/exclude patterns that every URL source (root, sitemap, discovered links) passes through, so a job
// never crawls what its owner ruled out. Syntax is documented in docs/url-filters.md; keep the two in step.
import { errorMessage } from '../errors.ts';
import { JobOptionLimits } from '../queue/job-options.ts';
import { globToRe2 } from './glob.ts';
import { LinearSet, PatternRefused, type Re2Translation } from './linear-regex.ts';
import { regexToRe2 } from './regex-syntax.ts';

export interface FilterSpec {
  /** When non-empty, a URL must match at least one of these. */
  include?: readonly string[];
  /** A URL matching any of these is dropped, even when an include matches too. */
  exclude?: readonly string[];
}

export type FilterResult =
  | { ok: true }
  | { ok: false; reason: 'excluded' | 'not_included'; pattern?: string }
  /** The job's filter stopped itself for being too slow (src/crawler/filter-guard.ts). */
  | { ok: false; reason: 'filters_too_slow'; pattern?: undefined };

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

const { maxLength: MAX_PATTERN_LENGTH, maxTotalSize: MAX_TOTAL_SIZE } = JobOptionLimits.patterns;
const INCLUDED: FilterResult = { ok: true };

interface Target {
  /** Path plus `?query` when there is one. */
  full: string;
  path: string;
}

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

/**
 * Compiles every pattern once, and either the filter or every pattern's problem (for validating a job), with
 * the patterns' total size. What it compiles is bounded by JobOptionLimits.patterns.maxTotalSize: it stops at
 * the pattern that would take the job past it, so the problems are those of the patterns up to that one, then
 * that one.
 */
export function tryCompileFilters(
  spec: FilterSpec,
): ({ filter: UrlFilter } | { problems: FilterProblem[] }) & { size: number } {
  const problems: FilterProblem[] = [];
  const budget = new SizeBudget(MAX_TOTAL_SIZE);
  const include = new PatternList(spec.include ?? []);
  const exclude = new PatternList(spec.exclude ?? []);
  for (const [list, patterns] of [
    ['include', include],
    ['exclude', exclude],
  ] as const) {
    for (const [index, pattern] of patterns.patterns.entries()) {
      try {
        compilePattern(pattern, budget, patterns, index);
      } catch (err) {
        if (err instanceof OverBudget) {
          problems.push({ list, index, error: new InvalidFilterError(pattern, err.message) });
          return { problems, size: budget.used };
        }
        if (!(err instanceof InvalidFilterError)) throw err;
        problems.push({ list, index, error: err });
      }
    }
  }
  if (problems.length > 0) return { problems, size: budget.used };
  include.compile();
  exclude.compile();
  const filter: UrlFilter = {
    test(url: string): FilterResult {
      const target = toTarget(url);
      const excluded = exclude.firstMatch(target);
      if (excluded !== undefined)
        return { ok: false, reason: 'excluded', pattern: exclude.patterns[excluded] };
      if (include.patterns.length === 0 || include.firstMatch(target) !== undefined) return INCLUDED;
      return { ok: false, reason: 'not_included' };
    },
  };
  return { filter, size: budget.used };
}

/** The problem with `pattern`, or undefined when it compiles; for validating user input (e.g. a zod refine). */
export function validateFilterPattern(pattern: string): string | undefined {
  try {
    compilePattern(pattern, new SizeBudget(MAX_TOTAL_SIZE), new PatternList([pattern]), 0);
    return undefined;
  } catch (err) {
    return err instanceof InvalidFilterError || err instanceof OverBudget ? err.message : String(err);
  }
}

/**
 * One list's patterns, compiled into one program per text they are matched against, so a URL costs one pass
 * per kind of pattern, not one per pattern.
 */
class PatternList {
  /** Regexes: the path and query. */
  readonly full = new LinearSet();
  /** Globs with a `/`: the path and query without the leading `/`, then the path alone. */
  readonly relative = new LinearSet();
  /** Globs without a `/`: the path's last segment, like .gitignore (`*.pdf`). */
  readonly segment = new LinearSet();

  constructor(readonly patterns: readonly string[]) {}

  compile(): void {
    for (const set of [this.full, this.relative, this.segment]) set.compile();
  }

  /** The index of the first pattern, in list order, that matches the target. */
  firstMatch(t: Target): number | undefined {
    const ids = [
      ...this.full.matches(t.full),
      ...this.relative.matches(t.full.slice(1)),
      // The path alone as well, so `/**/*.pdf` still matches `/a.pdf?download=1`.
      ...(t.full !== t.path && this.relative.size > 0 ? this.relative.matches(t.path.slice(1)) : []),
      ...(this.segment.size > 0 ? this.segment.matches(t.path.slice(t.path.lastIndexOf('/') + 1)) : []),
    ];
    return ids.length === 0 ? undefined : Math.min(...ids);
  }
}

/**
 * What compiling a job's patterns has cost so far. Compiling costs about in proportion to the characters read
 * (the pattern, then its RE2 translation) plus the steps of the program built, so each is counted, before the
 * work: nothing is compiled that would not fit.
 */
class SizeBudget {
  used = 0;
  constructor(readonly max: number) {}

  /** Counts `size` more; throws OverBudget when that takes the total past the budget. */
  take(size: number): void {
    this.used += size;
    if (this.used > this.max) {
      throw new OverBudget(
        `with it this job's patterns come to ${this.used.toLocaleString('en')} in size, more than the ` +
          `${this.max.toLocaleString('en')} a job may have, so it and the patterns after it were not checked ` +
          '(docs/url-filters.md#limits); use fewer or shorter patterns: one regex such as /^\\/(en|fr|de)\\// ' +
          'does the work of several globs',
      );
    }
  }
}

class OverBudget extends Error {
  override name = 'OverBudget';
}

/** Checks `raw` and adds it to `list` as pattern `index`; throws InvalidFilterError or OverBudget. */
function compilePattern(raw: string, budget: SizeBudget, list: PatternList, index: number): void {
  if (typeof raw !== 'string') throw new InvalidFilterError(String(raw), 'not a string');
  if (raw.length > MAX_PATTERN_LENGTH) {
    throw new InvalidFilterError(raw, `longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  // Reading it, checking it, translating it: all in proportion to its length.
  budget.take(raw.length);
  const pattern = raw.trim();
  if (pattern === '') throw new InvalidFilterError(raw, 'empty pattern');
  // `/…/` is a regex; a glob can therefore not be wrapped in slashes (see docs/url-filters.md for `/blog/`).
  if (pattern.length >= 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    const source = pattern.slice(1, -1);
    if (source === '') throw new InvalidFilterError(raw, 'empty regular expression');
    try {
      // V8 is the judge of what is valid JavaScript; it only parses here, the matching is done by RE2.
      new RegExp(source);
    } catch (err) {
      throw new InvalidFilterError(raw, `not a valid regular expression (${errorMessage(err)})`);
    }
    addLinear(raw, () => regexToRe2(source), budget, list.full, index);
    return;
  }
  if (pattern.includes('/') && !pattern.startsWith('/') && !pattern.startsWith('**')) {
    throw new InvalidFilterError(
      raw,
      'globs match the URL path, so they start with "/" (or "**", or have no "/")',
    );
  }
  // Globs see the path without its leading slash (as picomatch did: it will not let `/**/` match zero
  // directories at the start of an absolute path); `/` alone is the home page.
  const relative = pattern.startsWith('/') ? pattern.slice(1) : pattern;
  const translate = () => (relative === '' ? { source: '^$', steps: 4 } : globToRe2(relative));
  addLinear(raw, translate, budget, pattern.includes('/') ? list.relative : list.segment, index);
}

/**
 * Adds what `translate` writes for the linear-time engine to `set`, within the budget: the translation's
 * length and estimated steps are counted before RE2 sees it. Its refusals name the pattern.
 */
function addLinear(
  raw: string,
  translate: () => Re2Translation,
  budget: SizeBudget,
  set: LinearSet,
  index: number,
): void {
  let translation: Re2Translation;
  try {
    translation = translate();
  } catch (err) {
    if (err instanceof PatternRefused) throw new InvalidFilterError(raw, err.message);
    throw new InvalidFilterError(raw, `not a valid pattern (${errorMessage(err)})`);
  }
  budget.take(translation.source.length + translation.steps);
  try {
    set.add(translation.source, index);
  } catch (err) {
    throw new InvalidFilterError(raw, errorMessage(err));
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
