// Everything one crawl job's pages share: the options, the per-origin robots.txt cache, per-host politeness
// (whose store the worker backs with PostgreSQL so all its processes share one budget per host), the compiled
// include/exclude filters, and the admission rule every URL source goes through before it becomes a task.

import { USER_AGENT_PRODUCT } from './fetch-settings.ts';
import { createOpenUrl } from './fetch-stream.ts';
import { type FilterGuardOptions, type GuardedFilter, guardFilter } from './filter-guard.ts';
import { compileFilters, type FilterSpec } from './filters.ts';
import { Politeness, type PolitenessOptions } from './politeness.ts';
import { type OpenUrl, RobotsCache, type RobotsCacheOptions } from './robots.ts';
import type { FetchOptions } from './types.ts';
import { isSameSite, normaliseUrl, tryNormaliseUrl } from './url.ts';

/** The fetch settings a crawl passes to every request it makes (see FetchOptions), and the crawl's own. */
export type CrawlFetchSettings = Pick<
  FetchOptions,
  | 'userAgent'
  | 'allowPrivateNetworks'
  | 'allowAddresses'
  | 'resolver'
  | 'connectTimeoutMs'
  | 'headersTimeoutMs'
  | 'bodyTimeoutMs'
  | 'totalTimeoutMs'
  | 'maxBodyBytes'
  | 'maxRedirects'
>;

export interface CrawlOptions extends CrawlFetchSettings {
  /** Parse HTML pages for links. Default true. */
  discoverLinks?: boolean;
  /** Also report images, scripts, stylesheets and other assets. Default false. */
  collectAssets?: boolean;
  /** false: drop query strings from discovered URLs. Default true. Tracking parameters always go. */
  keepQuery?: boolean;
  /** Drop rel=nofollow links. Default true. */
  respectNofollow?: boolean;
  /** Honour robots.txt. Default true. */
  respectRobots?: boolean;
  filters?: FilterSpec;
  /** When a job's filters count as too slow and stop (src/crawler/filter-guard.ts). */
  filterGuard?: FilterGuardOptions;
  /** Warm GETs after a MISS/EXPIRED; 0 turns warming off. Default 3. */
  warmAttempts?: number;
  /** Warm attempt n waits n × this × (1..2). Default 500. */
  warmBaseDelayMs?: number;
  politeness?: Omit<PolitenessOptions, 'now' | 'sleep'>;
  robotsCache?: Pick<RobotsCacheOptions, 'ttlMs' | 'errorTtlMs'>;
}

export interface CrawlSettings {
  discoverLinks: boolean;
  collectAssets: boolean;
  keepQuery: boolean;
  respectNofollow: boolean;
  respectRobots: boolean;
  warmAttempts: number;
  warmBaseDelayMs: number;
}

export interface CrawlContext {
  /** The job's root URL, normalised: "internal" means same site as this. */
  readonly siteUrl: string;
  readonly settings: CrawlSettings;
  /** Passed to every page, warm, link-check, robots and sitemap request. */
  readonly fetchOptions: FetchOptions;
  readonly open: OpenUrl;
  readonly robots: RobotsCache;
  readonly politeness: Politeness;
  /** The job's include/exclude filter; it stops itself if the patterns prove too slow (stoppedBy). */
  readonly filter: GuardedFilter;
}

/** Instances a worker may share between the jobs it runs, so robots.txt and host budgets are per host. */
export interface SharedCrawlState {
  robots?: RobotsCache;
  politeness?: Politeness;
}

/** The fetch options a crawl's requests take, without the ones left unset. */
function crawlFetchOptions(options: CrawlOptions): FetchOptions {
  const fetchOptions: FetchOptions = {
    userAgent: options.userAgent,
    allowPrivateNetworks: options.allowPrivateNetworks,
    allowAddresses: options.allowAddresses,
    resolver: options.resolver,
    connectTimeoutMs: options.connectTimeoutMs,
    headersTimeoutMs: options.headersTimeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs,
    totalTimeoutMs: options.totalTimeoutMs,
    maxBodyBytes: options.maxBodyBytes,
    maxRedirects: options.maxRedirects,
  };
  for (const key of Object.keys(fetchOptions) as Array<keyof FetchOptions>) {
    if (fetchOptions[key] === undefined) delete fetchOptions[key];
  }
  return fetchOptions;
}

/** Streams bodies for robots.txt and sitemaps with the crawl's fetch policy (no size or redirect caps). */
function openFor(fetchOptions: FetchOptions): OpenUrl {
  const { maxBodyBytes: _, maxRedirects: __, ...openOptions } = fetchOptions;
  return createOpenUrl(openOptions);
}

/**
 * A robots.txt cache for these options (user agent, fetch policy). A worker makes one and shares it between the
 * jobs it runs, so robots.txt is fetched once per origin whichever job asks.
 */
export function createRobotsCache(
  options: CrawlOptions = {},
  open = openFor(crawlFetchOptions(options)),
): RobotsCache {
  return new RobotsCache({ open, productToken: productToken(options.userAgent), ...options.robotsCache });
}

/** Throws InvalidFilterError for a bad pattern and PermanentCrawlError('invalid_url') for a bad root. */
export function createCrawlContext(
  rootUrl: string,
  options: CrawlOptions = {},
  shared: SharedCrawlState = {},
): CrawlContext {
  const fetchOptions = crawlFetchOptions(options);
  const open = openFor(fetchOptions);
  const keepQuery = options.keepQuery ?? true;
  return {
    siteUrl: normaliseUrl(rootUrl, undefined, { keepQuery }),
    settings: {
      discoverLinks: options.discoverLinks ?? true,
      collectAssets: options.collectAssets ?? false,
      keepQuery,
      respectNofollow: options.respectNofollow ?? true,
      respectRobots: options.respectRobots ?? true,
      warmAttempts: options.warmAttempts ?? 3,
      warmBaseDelayMs: options.warmBaseDelayMs ?? 500,
    },
    fetchOptions,
    open,
    robots: shared.robots ?? createRobotsCache(options, open),
    politeness: shared.politeness ?? new Politeness(options.politeness),
    filter: guardFilter(compileFilters(options.filters), options.filterGuard),
  };
}

function productToken(userAgent: string | undefined): string {
  const token = userAgent?.split('/')[0]?.trim();
  return token && /^[A-Za-z_-]+$/.test(token) ? token : USER_AGENT_PRODUCT;
}

export type Admission =
  | { ok: true; url: string }
  | {
      ok: false;
      reason: 'invalid' | 'other_site' | 'excluded' | 'not_included' | 'filters_too_slow';
      detail?: string;
    };

/**
 * Whether a URL from any source (the root, a sitemap, a page's links) may become a task of this job:
 * normalised (tracking parameters stripped, query kept or dropped per keepQuery), same site, through filters.
 */
export function admitUrl(url: string, ctx: CrawlContext): Admission {
  const normalised = tryNormaliseUrl(url, undefined, { keepQuery: ctx.settings.keepQuery });
  if (!normalised.ok) return { ok: false, reason: 'invalid', detail: normalised.reason };
  if (!isSameSite(normalised.url, ctx.siteUrl)) return { ok: false, reason: 'other_site' };
  const verdict = ctx.filter.test(normalised.url);
  if (!verdict.ok) return { ok: false, reason: verdict.reason, detail: verdict.pattern };
  return { ok: true, url: normalised.url };
}
