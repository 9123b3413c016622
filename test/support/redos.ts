// The pattern shapes of security finding 1 (ReDoS), each with a URL path it does not match, near the
// 2,048-character URL limit, that would keep a backtracking engine busy for longer than anyone waits, and one
// it does match. Shared by the job service and API tests; bench/crawler.ts measures the same shapes.
export const REDOS_SHAPES: ReadonlyArray<
  readonly [pattern: string, hostilePath: string, matchingPath: string]
> = [
  ['/^\\/(a|a)+$/', `/${'a'.repeat(2000)}!`, '/aaaa'],
  ['/.*.*.*.*.*x/', `/${'a'.repeat(2000)}`, '/a/x'],
  ['*a*a*a*a*a*a*b', `/${'a'.repeat(2000)}`, '/x/aaaaaab'],
];
