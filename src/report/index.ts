// The report's public face: load it from the database, render it in the format asked for.
import { formatCsv } from './csv.ts';
import { formatJson } from './json.ts';
import { formatTable } from './table.ts';
import type { Report, ReportFormat } from './types.ts';

export { brokenPages, isBroken } from './broken.ts';
export { loadReport } from './load.ts';
export { REPORT_FORMATS, type Report, type ReportFormat, type ReportPage } from './types.ts';

export function formatReport(report: Report, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return formatJson(report);
    case 'csv':
      return formatCsv(report);
    case 'table':
      return formatTable(report);
  }
}
