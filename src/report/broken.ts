// What counts as a broken link, in one place: the exit code of `bbb crawl` and every format agree on it.
import type { ReportPage } from './types.ts';

// Pages we chose not to fetch, or fetched fine but could not parse, are not broken for the visitor.
const NOT_BROKEN = new Set(['robots_disallowed', 'unsupported_content']);

/** An HTTP error status (≥ 400), or a page that could not be fetched at all (timeout, DNS, TLS, loop…). */
export function isBroken(page: ReportPage): boolean {
  if (page.status_code !== null) return page.status_code >= 400;
  return page.error !== null && !NOT_BROKEN.has(page.error.code);
}

export function brokenPages(pages: readonly ReportPage[]): ReportPage[] {
  return pages.filter(isBroken);
}
