// A job's starting tasks from the site's sitemaps: the files robots.txt declares (else /sitemap.xml, then
// /sitemap_index.xml), same-site URLs only, through the job's filters, ordered and prioritised for the queue.
import { admitUrl, type CrawlContext } from './crawl-context.ts';
import {
  iterateSitemapBatches,
  type SitemapEntry,
  sitemapTaskPriority,
  sortSitemapEntries,
} from './sitemap.ts';

export interface SitemapTask {
  /** Normalised, same-site, admitted by the filters. */
  url: string;
  /** Queue priority (higher first) from the sitemap priority and lastmod; see sitemapTaskPriority. */
  priority: number;
  lastmod: Date | undefined;
  /** The sitemap's own <priority>, 0..1. */
  sitemapPriority: number;
  /** The sitemap file it came from. */
  sitemap: string;
}

export interface SitemapDiscovery {
  /** Crawl order: highest priority first. Empty when the tasks went to `onTasks` as the walk went. */
  tasks: SitemapTask[];
  /** Admitted URLs found, whether returned or handed to `onTasks`. */
  found: number;
  sitemapsRead: string[];
  warnings: string[];
  /** Stopped at maxUrls; the sitemaps may list more. */
  reachedMaxUrls: boolean;
  /** URLs the include/exclude filters rejected. */
  filtered: number;
}

/**
 * Reads the site's sitemaps until `maxUrls` admitted URLs are found (the job's max_pages). Rejects only
 * with ssrf_blocked (robots.txt's host may not be contacted), when `signal` aborts, or when `onTasks` rejects;
 * a missing or broken sitemap is a warning and an empty or partial list.
 *
 * With `onTasks`, each batch of new tasks is handed over as soon as it is parsed (the walk waits for it), so a
 * worker enqueues them while the walk goes on instead of holding a whole large sitemap until the end.
 */
export async function discoverSitemapUrls(
  rootUrl: string,
  ctx: CrawlContext,
  opts: {
    maxUrls: number;
    signal?: AbortSignal;
    now?: number;
    onTasks?: (tasks: SitemapTask[]) => Promise<void>;
  },
): Promise<SitemapDiscovery> {
  const robots = ctx.settings.respectRobots ? await ctx.robots.get(rootUrl) : undefined;
  const warnings: string[] = [];
  const sitemapsRead: string[] = [];
  let filtered = 0;
  const admitted = new Map<string, string>();
  // Deciding admission inside the walk (rather than after) makes maxUrls count only URLs we will crawl.
  const isAdmitted = (url: string): boolean => {
    const verdict = admitUrl(url, ctx);
    if (verdict.ok) admitted.set(url, verdict.url);
    else if (['excluded', 'not_included', 'filters_too_slow'].includes(verdict.reason)) filtered++;
    return verdict.ok;
  };
  const entries: SitemapEntry[] = [];
  const seen = new Set<string>();
  const batches = iterateSitemapBatches(rootUrl, {
    open: ctx.open,
    robots,
    maxUrls: opts.maxUrls,
    isSameSite: isAdmitted,
    signal: opts.signal,
    onWarning: (message) => warnings.push(message),
    onSitemapRead: (url) => sitemapsRead.push(url),
  });
  const now = opts.now ?? Date.now();
  const toTask = (entry: SitemapEntry): SitemapTask => ({
    url: entry.url,
    priority: sitemapTaskPriority(entry, now),
    lastmod: entry.lastmod,
    sitemapPriority: entry.priority,
    sitemap: entry.sitemap,
  });
  for await (const batch of batches) {
    const fresh: SitemapEntry[] = [];
    for (const entry of batch) {
      // Two spellings (tracking parameters, www.) can normalise to one task.
      const url = admitted.get(entry.url) ?? entry.url;
      if (seen.has(url)) continue;
      seen.add(url);
      fresh.push({ ...entry, url });
    }
    if (opts.onTasks) {
      if (fresh.length > 0) await opts.onTasks(sortSitemapEntries(fresh).map(toTask));
    } else entries.push(...fresh);
  }
  return {
    tasks: sortSitemapEntries(entries).map(toTask),
    found: seen.size,
    sitemapsRead,
    warnings,
    reachedMaxUrls: opts.maxUrls > 0 && seen.size >= opts.maxUrls,
    filtered,
  };
}
