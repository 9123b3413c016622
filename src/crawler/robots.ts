// Fetching and caching robots.txt per origin, with RFC 9309's status rules (§2.3), size limit (§2.5) and
// cache lifetime (§2.4). What a fetched file means is robots-parse.ts's business.
import { errorMessage } from '../errors.ts';
import { isCrawlError } from './errors.ts';
import { parseRobots, type Robots, robotsOrigin, robotsWithoutFile } from './robots-parse.ts';

export {
  DEFAULT_PRODUCT_TOKEN,
  parseRobots,
  type Robots,
  type RobotsStatus,
  robotsWithoutFile,
} from './robots-parse.ts';

/**
 * The I/O this module needs: GET a URL, following redirects (up to 5), with the body already
 * Content-Encoding-decoded. A body longer than maxBytes must not be an error: the stream may stop at maxBytes
 * or run on, and the reader stops consuming once it has enough. Aborting `signal` must drop the connection.
 */
export type OpenUrl = (url: string, opts: { maxBytes: number; signal?: AbortSignal }) => Promise<OpenedUrl>;

export interface OpenedUrl {
  statusCode: number;
  finalUrl: string;
  contentType?: string;
  body: AsyncIterable<Uint8Array>;
}

/** RFC 9309 §2.5: parse at least 500 KiB. We read exactly that much and ignore the rest. */
export const ROBOTS_MAX_BYTES = 500 * 1024;

export interface FetchRobotsOptions {
  open: OpenUrl;
  productToken?: string;
  maxBytes?: number;
  signal?: AbortSignal;
}

/**
 * Never rejects for a bad response or network failure; those become allow-all or disallow-all answers.
 * Rejects only when aborted, or with ssrf_blocked when the policy forbids connecting to the origin at all.
 */
export async function fetchRobots(origin: string, opts: FetchRobotsOptions): Promise<Robots> {
  const base = robotsOrigin(origin);
  const url = `${base}/robots.txt`;
  const maxBytes = opts.maxBytes ?? ROBOTS_MAX_BYTES;
  opts.signal?.throwIfAborted();
  const controller = new AbortController();
  const onAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await opts.open(url, { maxBytes, signal: controller.signal });
    const code = res.statusCode;
    if (code >= 200 && code < 300) {
      return parseRobots(url, await readCappedText(res.body, maxBytes), opts.productToken);
    }
    // 429 is a 4xx but means "slow down", not "no file": allow-all would crawl at full speed a site that
    // just asked us to back off. Google treats it as unreachable too.
    if (code === 429 || code >= 500 || code < 200)
      return robotsWithoutFile(base, 'unreachable', code, `HTTP ${code}`);
    // 4xx, or a 3xx the opener could not follow: RFC 9309 §2.3.1.3 "unavailable", so crawling is allowed.
    return robotsWithoutFile(base, 'unavailable', code);
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    // A host we may not connect to has no robots answer; disallow-all would misreport its pages as
    // robots-disallowed rather than blocked, so the refusal itself goes to the caller (and is not cached).
    if (isCrawlError(err) && err.code === 'ssrf_blocked') throw err;
    // More than five redirects: RFC 9309 §2.3.1.2 lets us treat the file as unavailable.
    if (isCrawlError(err) && (err.code === 'too_many_redirects' || err.code === 'redirect_loop')) {
      return robotsWithoutFile(base, 'unavailable', err.statusCode);
    }
    const message = errorMessage(err);
    return robotsWithoutFile(base, 'unreachable', undefined, message);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // Drops the connection when the body was not read to its end (non-2xx, or past maxBytes).
    controller.abort();
  }
}

/** Up to maxBytes of the body as text; a line cut by the cap is dropped rather than half-read. */
async function readCappedText(body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<string> {
  const parts: Uint8Array[] = [];
  let total = 0;
  let truncated = false;
  for await (const chunk of body) {
    if (total + chunk.length > maxBytes) {
      parts.push(chunk.subarray(0, maxBytes - total));
      truncated = true;
      break;
    }
    parts.push(chunk);
    total += chunk.length;
  }
  let bytes = Buffer.concat(parts);
  if (truncated) bytes = bytes.subarray(0, Math.max(bytes.lastIndexOf(0x0a), bytes.lastIndexOf(0x0d)) + 1);
  return new TextDecoder('utf-8').decode(bytes);
}

export interface RobotsCacheOptions extends Omit<FetchRobotsOptions, 'signal'> {
  /** Lifetime of a parsed file or an unavailable (4xx) answer. RFC 9309 §2.4: SHOULD NOT exceed 24 hours. */
  ttlMs?: number;
  /** Lifetime of a disallow-all answer after a 5xx or network failure, so a site that recovers is crawled. */
  errorTtlMs?: number;
  now?: () => number;
}

interface CacheEntry {
  robots: Promise<Robots>;
  expiresAt: number;
}

/** One robots.txt per origin; concurrent get()s for the same origin share one fetch. */
export class RobotsCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly ttlMs: number;
  private readonly errorTtlMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: RobotsCacheOptions) {
    this.ttlMs = opts.ttlMs ?? 24 * 60 * 60 * 1000;
    this.errorTtlMs = opts.errorTtlMs ?? 5 * 60 * 1000;
    this.now = opts.now ?? Date.now;
  }

  get(origin: string): Promise<Robots> {
    const key = robotsOrigin(origin);
    const cached = this.entries.get(key);
    if (cached && cached.expiresAt > this.now()) return cached.robots;
    this.dropExpired();
    // Infinity while in flight, so concurrent callers share the fetch; the real expiry is set once it lands.
    const entry: CacheEntry = { robots: fetchRobots(key, this.opts), expiresAt: Number.POSITIVE_INFINITY };
    this.entries.set(key, entry);
    entry.robots.then(
      (robots) => {
        entry.expiresAt = this.now() + (robots.status === 'unreachable' ? this.errorTtlMs : this.ttlMs);
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.robots;
  }

  async isAllowed(url: string): Promise<boolean> {
    return (await this.get(url)).isAllowed(url);
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
