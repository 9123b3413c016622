import type { Report } from './types.ts';

/** The report as documented in docs/report.md, pretty-printed and newline-terminated for files and pipes. */
export function formatJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
