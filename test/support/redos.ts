// The pattern shapes of security finding 1 (ReDoS), each with URL paths it does not match that would keep a
// backtracking engine busy for longer than anyone waits, and one it does match. Shared by the job service and
// API tests; bench/filters.ts measures the same shapes, on RE2 and on V8's backtracking RegExp.
export interface RedosShape {
  /** As a tenant submits it. */
  pattern: string;
  /**
   * What V8's backtracking RegExp ran for it before RE2: the regex itself, or, for the glob, picomatch 4's
   * translation (dot: true), matched against the path's last segment.
   */
  backtracking: string;
  /** A path of `length` characters that it does not match. */
  hostilePath(length: number): string;
  matchingPath: string;
}

export const REDOS_SHAPES: readonly RedosShape[] = [
  {
    pattern: '/^\\/(a|a)+$/',
    backtracking: '^\\/(a|a)+$',
    hostilePath: (length) => `/${'a'.repeat(length - 2)}!`,
    matchingPath: '/aaaa',
  },
  {
    pattern: '/.*.*.*.*.*x/',
    backtracking: '.*.*.*.*.*x',
    hostilePath: (length) => `/${'a'.repeat(length - 1)}`,
    matchingPath: '/a/x',
  },
  {
    pattern: '*a*a*a*a*a*a*b',
    backtracking: `^(?:(?!\\.{1,2}(?:\\/|$))(?=.)${'[^/]*?a'.repeat(6)}[^/]*?b)$`,
    hostilePath: (length) => `/${'a'.repeat(length - 1)}`,
    matchingPath: '/x/aaaaaab',
  },
];

/** A hostile path's length in the tests: the URL stays under the 2,048-character limit. */
export const HOSTILE_PATH_LENGTH = 2000;
