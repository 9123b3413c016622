// One CSV row per page (RFC 4180). Reports are opened in spreadsheets, and page URLs and error messages come
// from the crawled site, so a cell that a spreadsheet would run as a formula is prefixed with a quote.
import type { Report, ReportPage } from './types.ts';

export const CSV_COLUMNS = [
  'url',
  'status_code',
  'cache_status',
  'final_cache_status',
  'response_time_ms',
  'warm_response_time_ms',
  'redirect_url',
  'error_code',
  'error_message',
  'source',
  'found_on',
] as const;

type Cell = string | number | null;

function row(page: ReportPage): Cell[] {
  return [
    page.url,
    page.status_code,
    page.cache_status,
    page.final_cache_status,
    page.response_time_ms,
    page.warm_response_time_ms,
    page.redirect_url,
    page.error?.code ?? null,
    page.error?.message ?? null,
    page.source,
    page.found_on,
  ];
}

/** OWASP's list of formula triggers; tab and carriage return start formulas in some spreadsheets too. */
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: Cell): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function formatCsv(report: Report): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const page of report.pages) lines.push(row(page).map(csvCell).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
