// Finds a site's sitemaps and walks them (indexes included) into crawl candidates: one file at a time, in
// document order, each file read once, stopping the moment the job has enough URLs.
import { errorMessage } from '../errors.ts';
import type { OpenUrl, Robots } from './robots.ts';
import { parseSitemap, type SitemapItem } from './sitemap-parse.ts';

export { SitemapParseError } from './sitemap-parse.ts';

export interface SitemapEntry {
  url: string;
  lastmod?: Date;
  /** 0..1; 0.5 (the sitemaps.org default) when the file gave none or an invalid one. */
  priority: number;
  /** Position in document order across every file read, for stable ordering. */
  order: number;
  /** The sitemap file it came from. */
  sitemap: string;
}

export interface SitemapOptions {
  open: OpenUrl;
  /** Supplies declared sitemaps, and same-origin sitemap files it disallows are not fetched. */
  robots?: Robots;
  /** Stop once this many entries are found (the job's max_pages). */
  maxUrls: number;
  /** Which page URLs belong to the site being crawled. Default: same host as the origin. */
  isSameSite?: (url: string) => boolean;
  /** Levels of nested sitemap indexes followed below a discovered sitemap. Default 3. */
  maxDepth?: number;
  maxUrlsPerFile?: number;
  maxBytesPerFile?: number;
  signal?: AbortSignal;
  onWarning?: (message: string) => void;
  /** Called for each file that answered 2xx and was parsed (fully or partly). */
  onSitemapRead?: (url: string) => void;
}

export interface SitemapReadResult {
  /** Sorted by compareSitemapEntries: the order to crawl in. */
  entries: SitemapEntry[];
  warnings: string[];
  sitemapsRead: string[];
  /** true when maxUrls was reached, so there may be more URLs than returned. */
  reachedMaxUrls: boolean;
}

export const SITEMAP_MAX_URLS_PER_FILE = 50_000;
export const SITEMAP_MAX_BYTES_PER_FILE = 50 * 1024 * 1024;
const DEFAULT_PRIORITY = 0.5;

/**
 * Sitemaps declared in robots.txt (all of them are read), else the conventional locations, of which only the
 * first that turns out to be a sitemap is read (a site serving both usually serves the same data twice).
 */
export function discoverSitemaps(origin: string, robots?: Robots): { urls: string[]; declared: boolean } {
  if (robots && robots.sitemaps.length > 0) return { urls: [...robots.sitemaps], declared: true };
  const base = new URL(origin).origin;
  return { urls: [`${base}/sitemap.xml`, `${base}/sitemap_index.xml`], declared: false };
}

/** Entries in document order. Breaking out of the loop aborts the file being read. */
export async function* iterateSitemaps(origin: string, opts: SitemapOptions): AsyncGenerator<SitemapEntry> {
  for await (const batch of iterateSitemapBatches(origin, opts)) yield* batch;
}

/**
 * Like iterateSitemaps, in batches (one per chunk of a file read), which suits bulk enqueueing and spares
 * 50,000-entry files an async step per entry.
 */
export async function* iterateSitemapBatches(
  origin: string,
  opts: SitemapOptions,
): AsyncGenerator<SitemapEntry[]> {
  const base = new URL(origin);
  const predicate = opts.isSameSite;
  const isSameSite = predicate ? (url: URL) => predicate(url.href) : (url: URL) => url.host === base.host;
  const maxDepth = opts.maxDepth ?? 3;
  const limits = {
    maxItems: opts.maxUrlsPerFile ?? SITEMAP_MAX_URLS_PER_FILE,
    maxBytes: opts.maxBytesPerFile ?? SITEMAP_MAX_BYTES_PER_FILE,
  };
  const warn = opts.onWarning ?? (() => {});
  const filesSeen = new Set<string>();
  const urlsSeen = new Set<string>();
  let order = 0;

  // Kept out of the generator below, which V8 optimises poorly, as this loop runs once per sitemap entry.
  /** Splits a parsed batch into new page entries and child sitemaps; returns how many it dropped. */
  function sortBatch(batch: SitemapItem[], file: URL, entries: SitemapEntry[], children: string[]): number {
    let dropped = 0;
    for (const item of batch) {
      const url = httpUrl(item.loc);
      if (item.kind === 'sitemap') {
        // An index may list children on its own host even when that is not the site's (a sitemap host
        // declared in robots.txt); anything else would let one site's index send us to another's files.
        if (url && (isSameSite(url) || url.host === file.host)) children.push(url.href);
        else dropped++;
        continue;
      }
      if (!url || !isSameSite(url)) {
        dropped++;
        continue;
      }
      const href = url.href;
      if (urlsSeen.has(href)) continue;
      urlsSeen.add(href);
      const entry: SitemapEntry = {
        url: href,
        priority: item.priority ?? DEFAULT_PRIORITY,
        order: order++,
        sitemap: file.href,
      };
      if (item.lastmod) entry.lastmod = item.lastmod;
      entries.push(entry);
      if (urlsSeen.size >= opts.maxUrls) break;
    }
    return dropped;
  }

  async function* walk(sitemapUrl: string, depth: number): AsyncGenerator<SitemapEntry[], boolean> {
    opts.signal?.throwIfAborted();
    const file = httpUrl(sitemapUrl);
    if (!file || filesSeen.has(file.href)) return false;
    const key = file.href;
    if (depth > maxDepth) {
      warn(`${key}: not read, nested more than ${maxDepth} sitemap indexes deep`);
      return false;
    }
    // Marked before reading, so an index listing itself, or two indexes listing each other, end here.
    filesSeen.add(key);
    if (opts.robots && file.origin === opts.robots.origin && !opts.robots.isAllowed(key)) {
      warn(`${key}: not read, disallowed by robots.txt`);
      return false;
    }
    const children: string[] = [];
    let itemsRead = 0;
    let dropped = 0;
    const controller = new AbortController();
    const onAbort = () => controller.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await opts.open(key, { maxBytes: limits.maxBytes, signal: controller.signal });
      if (res.statusCode < 200 || res.statusCode >= 300) {
        warn(`${key}: HTTP ${res.statusCode}`);
        return false;
      }
      opts.onSitemapRead?.(key);
      for await (const batch of parseSitemap(res.body, limits, (message) => warn(`${key}: ${message}`))) {
        itemsRead += batch.length;
        const entries: SitemapEntry[] = [];
        dropped += sortBatch(batch, file, entries, children);
        if (entries.length > 0) yield entries;
        if (urlsSeen.size >= opts.maxUrls) return true;
      }
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // A broken file costs only itself: what it yielded before the error stands, the walk goes on.
      warn(`${key}: ${errorMessage(err)}`);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      controller.abort();
      if (dropped > 0) warn(`${key}: ${dropped} entries dropped (not an http(s) URL on this site)`);
    }
    for (const child of children) {
      if (urlsSeen.size >= opts.maxUrls) break;
      yield* walk(child, depth + 1);
    }
    return itemsRead > 0;
  }

  if (opts.maxUrls <= 0) return;
  const { urls, declared } = discoverSitemaps(base.origin, opts.robots);
  for (const url of urls) {
    if (urlsSeen.size >= opts.maxUrls) return;
    const found = yield* walk(url, 0);
    if (found && !declared) return;
  }
}

export async function readSitemaps(origin: string, opts: SitemapOptions): Promise<SitemapReadResult> {
  const warnings: string[] = [];
  const sitemapsRead: string[] = [];
  const entries: SitemapEntry[] = [];
  const batches = iterateSitemapBatches(origin, {
    ...opts,
    onWarning: (message) => {
      warnings.push(message);
      opts.onWarning?.(message);
    },
    onSitemapRead: (url) => {
      sitemapsRead.push(url);
      opts.onSitemapRead?.(url);
    },
  });
  for await (const batch of batches) entries.push(...batch);
  return {
    entries: sortSitemapEntries(entries),
    warnings,
    sitemapsRead,
    reachedMaxUrls: opts.maxUrls > 0 && entries.length >= opts.maxUrls,
  };
}

/** Priority (high first), then lastmod (newest first, missing last), then document order. */
export function compareSitemapEntries(a: SitemapEntry, b: SitemapEntry): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  const aTime = a.lastmod?.getTime() ?? Number.NEGATIVE_INFINITY;
  const bTime = b.lastmod?.getTime() ?? Number.NEGATIVE_INFINITY;
  if (aTime !== bTime) return bTime > aTime ? 1 : -1;
  return a.order - b.order;
}

export function sortSitemapEntries(entries: readonly SitemapEntry[]): SitemapEntry[] {
  return [...entries].sort(compareSitemapEntries);
}

// Recency steps for the low digit of the task priority: changed within a day scores 9, within 3 days 8, ...
const RECENCY_STEPS_DAYS = [1, 3, 7, 14, 30, 90, 180, 365, 730];

/**
 * An integer task priority, higher = crawl sooner: sitemap priority in steps of 0.01 (0..100) times ten,
 * plus 0..9 for how recently the page changed. For priorities of at most two decimals (what sitemaps use)
 * it never contradicts compareSitemapEntries, it only calls some entries equal.
 */
export function sitemapTaskPriority(entry: SitemapEntry, now: number = Date.now()): number {
  let recency = 0;
  if (entry.lastmod) {
    const ageDays = (now - entry.lastmod.getTime()) / 86_400_000;
    const step = RECENCY_STEPS_DAYS.findIndex((days) => ageDays <= days);
    recency = step === -1 ? 0 : RECENCY_STEPS_DAYS.length - step;
  }
  return Math.round(entry.priority * 100) * 10 + recency;
}

/** Absolute http(s) URL without its fragment, or undefined. Sitemap locs must be absolute. */
function httpUrl(value: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.hash) url.hash = '';
  return url;
}
