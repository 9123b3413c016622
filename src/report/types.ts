// The crawl report: one shape for every output format, documented field by field in docs/report.md.
// Changing a field here is a breaking change for anyone parsing `bbb crawl --format json`.
import type { JobStats, JobStatus } from '../queue/jobs.ts';
import type { TaskSource } from '../queue/tasks.ts';

export interface ReportJob {
  id: string;
  url: string;
  status: JobStatus;
  started_at: string | null;
  completed_at: string | null;
  stats: JobStats | null;
}

export interface PageError {
  /** A stable code from docs/crawler.md, e.g. http_4xx, timeout_total, robots_disallowed. */
  code: string;
  message: string | null;
}

export interface ReportPage {
  url: string;
  status_code: number | null;
  cache_status: string | null;
  /** What a visitor gets now: the status after warming, or the first one when no warming was needed. */
  final_cache_status: string | null;
  response_time_ms: number | null;
  warm_response_time_ms: number | null;
  redirect_url: string | null;
  error: PageError | null;
  source: TaskSource;
  found_on: string | null;
}

export interface Report {
  job: ReportJob;
  pages: ReportPage[];
}

export type ReportFormat = 'table' | 'json' | 'csv';
export const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'json', 'csv'];
