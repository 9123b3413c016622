// The human summary: what a person checks after publishing. Broken links come first, each with the page that
// links to it, because that page is where the fix goes.
import { brokenPages, isBroken } from './broken.ts';
import type { Report, ReportPage } from './types.ts';

const MAX_SLOWEST = 10;

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

function formatRatio(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? 'n/a' : `${(ratio * 100).toFixed(1)}%`;
}

function duration(report: Report): string {
  const { started_at, completed_at } = report.job;
  if (!started_at || !completed_at) return '';
  return ` in ${formatMs(Date.parse(completed_at) - Date.parse(started_at))}`;
}

function brokenReason(page: ReportPage): string {
  if (page.status_code !== null) return String(page.status_code);
  return page.error?.code ?? 'error';
}

function section(title: string, lines: string[]): string[] {
  return ['', title, ...lines];
}

function brokenSection(report: Report): string[] {
  const broken = brokenPages(report.pages);
  if (broken.length === 0) return section('Broken links: none', []);
  const width = Math.max(...broken.map((p) => brokenReason(p).length));
  const lines = broken.flatMap((p) => [
    `  ${brokenReason(p).padEnd(width)}  ${p.url}`,
    `  ${' '.repeat(width)}  found on ${p.found_on ?? `(${p.source === 'sitemap' ? 'sitemap' : 'start URL'})`}`,
  ]);
  return section(`Broken links (${broken.length})`, lines);
}

function slowestSection(report: Report): string[] {
  const slowest = report.job.stats?.slowest.slice(0, MAX_SLOWEST) ?? [];
  if (slowest.length === 0) return [];
  const before = slowest.map((s) => formatMs(s.response_time_ms));
  const width = Math.max(...before.map((b) => b.length));
  return section(
    'Slowest pages (first request → after warming)',
    slowest.map((s, i) => {
      const after = s.warm_response_time_ms === null ? '' : ` → ${formatMs(s.warm_response_time_ms)}`;
      return `  ${before[i]!.padStart(width)}${after}  ${s.url}`;
    }),
  );
}

function cacheSection(report: Report): string[] {
  const stats = report.job.stats;
  if (!stats) return [];
  const { before, after } = stats.response_time_ms;
  // Labels as wide as "Response time " so the columns sit under their headings.
  const row = (label: string, p: typeof before) =>
    `  ${label.padEnd(12)}${(['p50', 'p90', 'p95', 'p99'] as const).map((k) => formatMs(p[k]).padStart(10)).join('')}`;
  return [
    ...section('Cache', [
      `  hit ratio  ${formatRatio(stats.cache_hit_ratio.before)} before warming → ${formatRatio(stats.cache_hit_ratio.after)} after`,
      `  time saved ${formatMs(stats.time_saved_ms)} (first request minus warmed request, summed over warmed pages)`,
    ]),
    ...section(`Response time ${['p50', 'p90', 'p95', 'p99'].map((k) => k.padStart(10)).join('')}`, [
      row('before', before),
      row('after', after),
    ]),
  ];
}

function pageCounts(pages: readonly ReportPage[]): string {
  const broken = pages.filter(isBroken).length;
  const notFetched = pages.filter((p) => p.error?.code === 'robots_disallowed').length;
  const redirected = pages.filter((p) => p.redirect_url !== null && !isBroken(p)).length;
  const ok = pages.length - broken - notFetched - redirected;
  const parts = [`${ok} ok`, `${broken} broken`];
  if (redirected > 0) parts.push(`${redirected} redirected`);
  if (notFetched > 0) parts.push(`${notFetched} not fetched (robots.txt)`);
  return parts.join(', ');
}

export function formatTable(report: Report): string {
  const { job } = report;
  const lines = [
    `Crawl of ${job.url}: ${job.status}${duration(report)}`,
    `Job ${job.id}`,
    `Pages crawled: ${report.pages.length} (${pageCounts(report.pages)})`,
    ...brokenSection(report),
    ...slowestSection(report),
    ...cacheSection(report),
  ];
  return `${lines.join('\n')}\n`;
}
