// One crawl task end to end, as the worker runs it: robots.txt → politeness → GET → cache status → warm →
// links. It never throws for anything a site can do: the outcome, including a typed CrawlError deciding the
// task's retry, comes back as one result holding everything the task row stores.
import { normaliseCacheStatus } from './cache-status.ts';
import { charsetEncoding, isHtmlContentType } from './content-type.ts';
import type { CrawlContext } from './crawl-context.ts';
import { type CrawlError, isCrawlError, PermanentCrawlError } from './errors.ts';
import { checkUrl, errorForStatus, fetchUrl } from './fetch.ts';
import type { ExtractedAsset, ExtractedLink } from './link-types.ts';
import { extractLinks } from './links.ts';
import { errorOutcome, politeFetch, responseOutcome } from './politeness.ts';
import type { Robots } from './robots.ts';
import type { CacheStatus, FetchResult, RedirectHop, Timing } from './types.ts';
import { isSameSite, normaliseUrl } from './url.ts';
import { needsWarming, type WarmAttempt, warmPage } from './warm.ts';

export interface PageCrawlResult {
  /** The URL crawled, normalised. */
  url: string;
  /** Set when the task failed; `retryable` and `retryAfterMs` decide what the queue does next. */
  error: CrawlError | undefined;
  statusCode: number | undefined;
  /** Total of the first GET (redirect hops included), politeness wait excluded. */
  responseTimeMs: number | undefined;
  timing: Timing | undefined;
  /** Time spent waiting for a politeness slot before the first GET; never part of responseTimeMs. */
  politenessWaitMs: number;
  cacheStatus: CacheStatus | undefined;
  /** Which header decided cacheStatus ('age' for the fallback, 'none'). */
  cacheStatusSource: string | undefined;
  /** Cache status after warming; undefined when no warm GET was made. */
  warmCacheStatus: CacheStatus | undefined;
  warmAttempts: WarmAttempt[];
  /** Total time of the last successful warm GET: what the next visitor near that edge will see. */
  warmResponseTimeMs: number | undefined;
  /** Final URL when the GET was redirected. */
  redirectUrl: string | undefined;
  redirects: RedirectHop[];
  contentType: string | undefined;
  /** Decompressed body length. */
  contentLength: number | undefined;
  /** Same-site links that passed the filters: tasks to enqueue. */
  internalLinks: ExtractedLink[];
  /** Links to other sites: to check (checkExternalLink), never to crawl. */
  externalLinks: ExtractedLink[];
  /** Only with collectAssets. */
  assets: ExtractedAsset[];
  /** Same-site links dropped by the include/exclude filters. */
  filteredLinks: number;
  /** hrefs that are not valid http(s) URLs (broken-link report candidates). */
  invalidLinks: Array<{ href: string; reason: string }>;
}

function emptyResult(url: string): PageCrawlResult {
  return {
    url,
    error: undefined,
    statusCode: undefined,
    responseTimeMs: undefined,
    timing: undefined,
    politenessWaitMs: 0,
    cacheStatus: undefined,
    cacheStatusSource: undefined,
    warmCacheStatus: undefined,
    warmAttempts: [],
    warmResponseTimeMs: undefined,
    redirectUrl: undefined,
    redirects: [],
    contentType: undefined,
    contentLength: undefined,
    internalLinks: [],
    externalLinks: [],
    assets: [],
    filteredLinks: 0,
    invalidLinks: [],
  };
}

// A Crawl-delay is written to the (possibly shared) host state once per robots.txt fetched, not per page.
const floorsApplied = new WeakSet<Robots>();

async function checkRobots(url: string, ctx: CrawlContext): Promise<void> {
  if (!ctx.settings.respectRobots) return;
  const robots = await ctx.robots.get(url);
  if (robots.crawlDelayMs !== undefined && !floorsApplied.has(robots)) {
    floorsApplied.add(robots);
    await ctx.politeness.setCrawlDelay(new URL(url).host, robots.crawlDelayMs / 1000);
  }
  if (!robots.isAllowed(url)) {
    throw new PermanentCrawlError('robots_disallowed', `robots.txt disallows ${url}`, { url });
  }
}

/** First GET under politeness: the wait is measured apart, and the outcome teaches the host's backoff. */
async function politeGet(url: string, ctx: CrawlContext, result: PageCrawlResult, signal?: AbortSignal) {
  const waitStarted = performance.now();
  const release = await ctx.politeness.acquire(new URL(url).host, signal);
  result.politenessWaitMs = Math.round(performance.now() - waitStarted);
  try {
    const res = await fetchUrl(url, { ...ctx.fetchOptions, signal });
    await release(responseOutcome(res, ctx.politeness.now()));
    return res;
  } catch (err) {
    await release(errorOutcome(err));
    throw err;
  }
}

function recordResponse(result: PageCrawlResult, res: FetchResult): void {
  const cache = normaliseCacheStatus(res.headers);
  result.statusCode = res.statusCode;
  result.timing = res.timing;
  result.responseTimeMs = res.timing.total;
  result.cacheStatus = cache.status;
  result.cacheStatusSource = cache.source;
  result.redirects = res.redirects;
  if (res.redirects.length > 0) result.redirectUrl = res.finalUrl;
  result.contentType = res.contentType;
  result.contentLength = res.contentLength;
}

async function warm(
  url: string,
  res: FetchResult,
  ctx: CrawlContext,
  result: PageCrawlResult,
  signal?: AbortSignal,
) {
  const warmed = await warmPage(url, res, {
    // Each warm GET takes its own politeness turn; the body is downloaded (CDNs fill on a full read) but dropped.
    fetch: politeFetch(ctx.politeness, fetchUrl),
    fetchOptions: { ...ctx.fetchOptions, readBody: false },
    maxAttempts: ctx.settings.warmAttempts,
    baseDelayMs: ctx.settings.warmBaseDelayMs,
    signal,
  });
  result.warmAttempts = warmed.attempts;
  if (warmed.attempts.length > 0) result.warmCacheStatus = warmed.finalCacheStatus;
  result.warmResponseTimeMs = warmed.lastTiming?.total;
}

function discoverLinks(res: FetchResult, ctx: CrawlContext, result: PageCrawlResult): void {
  if (!isHtmlContentType(res.contentType, res.body)) return;
  // A page that redirected off the site is someone else's: its links are not ours to follow.
  if (!isSameSite(res.finalUrl, ctx.siteUrl)) return;
  const found = extractLinks(res.body, res.finalUrl, {
    siteUrl: ctx.siteUrl,
    keepQuery: ctx.settings.keepQuery,
    respectNofollow: ctx.settings.respectNofollow,
    collectAssets: ctx.settings.collectAssets,
    encoding: charsetEncoding(res.contentType),
  });
  // The extractor already normalised each URL and judged it same-site; only the filters are left to apply.
  for (const link of found.links) {
    if (!link.internal) result.externalLinks.push(link);
    else if (ctx.filter.test(link.url).ok) result.internalLinks.push(link);
    else result.filteredLinks++;
  }
  result.assets = found.assets;
  result.invalidLinks = found.invalid;
}

/** Crawls one page of the job. Rejects only when `signal` aborts (with its reason). */
export async function crawlPage(
  url: string,
  ctx: CrawlContext,
  opts: { signal?: AbortSignal } = {},
): Promise<PageCrawlResult> {
  const { signal } = opts;
  const result = emptyResult(url);
  try {
    result.url = normaliseUrl(url, undefined, { keepQuery: ctx.settings.keepQuery });
    await checkRobots(result.url, ctx);
    const res = await politeGet(result.url, ctx, result, signal);
    recordResponse(result, res);
    result.error = errorForStatus(res);
    if (result.error) return result;
    if (ctx.settings.warmAttempts > 0 && needsWarming(result.cacheStatus!)) {
      await warm(result.url, res, ctx, result, signal);
    }
    if (ctx.settings.discoverLinks && res.statusCode < 300) discoverLinks(res, ctx, result);
    return result;
  } catch (err) {
    if (signal?.aborted || !isCrawlError(err)) throw err;
    result.error = err;
    return result;
  }
}

export interface LinkCheckResult {
  url: string;
  statusCode: number | undefined;
  finalUrl: string | undefined;
  redirects: RedirectHop[];
  responseTimeMs: number | undefined;
  /** A 4xx/5xx answer or a failure to get one; undefined means the link works. */
  error: CrawlError | undefined;
}

/** Checks an external link (HEAD, GET when HEAD is refused) under that host's politeness; never crawls it. */
export async function checkExternalLink(
  url: string,
  ctx: CrawlContext,
  opts: { signal?: AbortSignal } = {},
): Promise<LinkCheckResult> {
  const result: LinkCheckResult = {
    url,
    statusCode: undefined,
    finalUrl: undefined,
    redirects: [],
    responseTimeMs: undefined,
    error: undefined,
  };
  try {
    const res = await politeFetch(ctx.politeness, checkUrl)(url, {
      ...ctx.fetchOptions,
      signal: opts.signal,
    });
    result.statusCode = res.statusCode;
    result.finalUrl = res.finalUrl;
    result.redirects = res.redirects;
    result.responseTimeMs = res.timing.total;
    result.error = errorForStatus(res);
  } catch (err) {
    if (opts.signal?.aborted || !isCrawlError(err)) throw err;
    result.error = err;
  }
  return result;
}
