// robots.txt rules per RFC 9309, without I/O. Grouping, longest match (tie → Allow) and `*`/`$` matching are
// robots-parser's. Where it departs from the RFC we correct it around the library rather than fork it:
// prepareRobotsText() fixes its input, canonicalPath() both sides of each comparison, and isAllowed() the
// implicit /robots.txt allow. A canary test in test/crawler/robots.test.ts shows the library's own behaviour.
import { createRequire } from 'node:module';

// robots-parser is CommonJS (`module.exports = fn`) but its types claim an ESM default export, so under
// NodeNext a default import type-checks as a namespace. require() gives the function its types describe.
const robotsParser = createRequire(import.meta.url)(
  'robots-parser',
) as typeof import('robots-parser').default;

/** parsed: a 2xx file. unavailable: 3xx/4xx, crawl everything. unreachable: 5xx/429/network, crawl nothing. */
export type RobotsStatus = 'parsed' | 'unavailable' | 'unreachable';

export interface Robots {
  readonly origin: string;
  readonly status: RobotsStatus;
  readonly statusCode: number | undefined;
  /** Why the file was unreachable. */
  readonly error: string | undefined;
  readonly crawlDelayMs: number | undefined;
  /** Absolute http(s) URLs from Sitemap lines, de-duplicated, in file order. */
  readonly sitemaps: string[];
  /** Throws for a URL on another origin: a Robots answers for one origin only. */
  isAllowed(url: string): boolean;
}

export const DEFAULT_PRODUCT_TOKEN = 'BlueBandedBee';

/** `url` is the robots.txt URL (or any URL on its origin); relative Sitemap lines resolve against it. */
export function parseRobots(url: string, text: string, productToken = DEFAULT_PRODUCT_TOKEN): Robots {
  if (!/^[A-Za-z_-]+$/.test(productToken))
    throw new TypeError(`invalid robots product token: ${productToken}`);
  const origin = robotsOrigin(url);
  const { rules, sitemaps } = prepareRobotsText(text);
  const parser = robotsParser(`${origin}/robots.txt`, rules);
  const delay = parser.getCrawlDelay(productToken);
  return {
    origin,
    status: 'parsed',
    statusCode: undefined,
    error: undefined,
    crawlDelayMs: delay === undefined ? undefined : Math.round(delay * 1000),
    sitemaps: resolveSitemaps(sitemaps, url),
    isAllowed(target) {
      const path = pathOf(origin, target);
      // RFC 9309 §2.2.2: "/robots.txt" is implicitly allowed; robots-parser does not know this.
      if (path === '/robots.txt') return true;
      return parser.isAllowed(`${origin}${path}`, productToken) !== false;
    },
  };
}

/** The answer when there is no file to parse: allow all (unavailable) or disallow all (unreachable). */
export function robotsWithoutFile(
  origin: string,
  status: Exclude<RobotsStatus, 'parsed'>,
  statusCode: number | undefined,
  error?: string,
): Robots {
  const allowed = status === 'unavailable';
  return {
    origin,
    status,
    statusCode,
    error,
    crawlDelayMs: undefined,
    sitemaps: [],
    isAllowed(target) {
      return pathOf(origin, target) === '/robots.txt' || allowed;
    },
  };
}

export function robotsOrigin(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`robots.txt needs an http(s) URL, got ${url}`);
  }
  return parsed.origin;
}

/**
 * Rewrites the file into what robots-parser handles correctly:
 * - Sitemap and unknown records are removed (Sitemap values collected here): robots-parser ends a run of
 *   user-agent lines at any other line, but RFC 9309 §2.2.4 says other records MUST NOT terminate a group.
 * - Crawl-delay inside a run of user-agent lines is moved after the run, for the same reason.
 * - Crawl-delay values that are not non-negative decimals are dropped (the library reads "" as 0, "-1" as -1).
 * - Allow/Disallow paths are canonicalised (see canonicalPath).
 * - A final empty "allow:" makes a trailing group with no rules exist, so it allows everything (§2.1),
 *   instead of robots-parser falling back to the `*` group. An empty allow adds no rule anywhere else.
 */
function prepareRobotsText(text: string): { rules: string; sitemaps: string[] } {
  const sitemaps: string[] = [];
  const out: string[] = [];
  let pendingDelays: string[] = [];
  let inAgentRun = false;
  for (const line of text.split(/\r\n|\r|\n/)) {
    const content = line.split('#', 1)[0] ?? '';
    const colon = content.indexOf(':');
    if (colon < 0) continue;
    const key = content.slice(0, colon).trim().toLowerCase();
    const value = content.slice(colon + 1).trim();
    if (key === 'sitemap') {
      if (value) sitemaps.push(value);
    } else if (key === 'user-agent') {
      inAgentRun = true;
      out.push(`user-agent: ${value}`);
    } else if (key === 'crawl-delay') {
      if (!/^(\d+(\.\d*)?|\.\d+)$/.test(value)) continue;
      if (inAgentRun) pendingDelays.push(`crawl-delay: ${value}`);
      else out.push(`crawl-delay: ${value}`);
    } else if (key === 'allow' || key === 'disallow') {
      inAgentRun = false;
      out.push(...pendingDelays, `${key}: ${canonicalPath(value)}`);
      pendingDelays = [];
    }
  }
  out.push(...pendingDelays, 'allow:');
  return { rules: out.join('\n'), sitemaps };
}

// RFC 3986 unreserved characters: %-encoded forms of these are decoded before comparison (RFC 9309 §2.2.2).
const UNRESERVED = /^[A-Za-z0-9._~-]$/;
// Characters left literal. Exactly the set encodeURI() leaves alone, because robots-parser runs encodeURI
// over every rule path: with the same set its pass cannot change our canonical form.
const LITERAL = /^[A-Za-z0-9._~\-;,/?:@&=+$!*'()#]$/;

/**
 * One spelling per path, applied to rule paths and request paths alike: %XX of an unreserved character is
 * decoded (RFC 9309 §2.2.2, so "/%7Euser" and "/~user" match), other %xx are upper-cased and kept (so
 * "/a%2Fb" never matches "/a/"), anything else outside LITERAL is UTF-8 percent-encoded (so "ツ" and
 * "%E3%83%84" match, and a literal "|" in a rule still matches a "|" the URL parser left in the path).
 */
function canonicalPath(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        const decoded = String.fromCharCode(Number.parseInt(hex, 16));
        out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
        i += 2;
      } else {
        out += '%25';
      }
    } else if (LITERAL.test(ch)) {
      out += ch;
    } else {
      const codePoint = raw.codePointAt(i)!;
      if (codePoint > 0xffff) i++;
      for (const byte of Buffer.from(String.fromCodePoint(codePoint), 'utf8')) {
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      }
    }
  }
  return out;
}

function pathOf(origin: string, target: string): string {
  const url = new URL(target);
  if (url.origin !== origin) throw new RangeError(`robots.txt for ${origin} cannot answer for ${target}`);
  return canonicalPath(url.pathname + url.search);
}

function resolveSitemaps(values: string[], base: string): string[] {
  const found = new Set<string>();
  for (const value of values) {
    if (!URL.canParse(value, base)) continue;
    const url = new URL(value, base);
    if (url.protocol === 'http:' || url.protocol === 'https:') found.add(url.href);
  }
  return [...found];
}
