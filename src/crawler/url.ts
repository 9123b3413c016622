// One canonical spelling per page, so the queue's dedupe, the filters and the reports all agree on what "the
// same URL" means. WHATWG URL does the heavy lifting (scheme/host case, default ports, dot-segments, IDN to
// punycode, IPv6); this module adds what it leaves alone: percent-encoding case, tracking parameters, fragments.
import { PermanentCrawlError } from './errors.ts';

/** Sitemaps cap URLs at 2048 characters and many servers and CDNs refuse longer request lines. */
export const MAX_URL_LENGTH = 2048;
// Refuse pathological input before parsing it; non-ASCII can triple when encoded, so allow headroom.
const MAX_INPUT_LENGTH = MAX_URL_LENGTH * 4;

/** Query parameters removed during normalisation: ad-click ids and campaign tags that never change the page. */
export const TRACKING_PARAMS: ReadonlySet<string> = new Set([
  'gclid',
  'gclsrc',
  'gbraid',
  'wbraid',
  'dclid',
  'fbclid',
  'msclkid',
  'mc_cid',
  'mc_eid',
  'yclid',
  'twclid',
  'ttclid',
  'igshid',
  'li_fat_id',
  '_hsenc',
  '_hsmi',
  'mkt_tok',
]);
/** Plus every parameter whose name starts with this. Names match case-sensitively, as the platforms emit them. */
export const TRACKING_PREFIX = 'utm_';
// Cheap pre-check so queries without tracking skip the split-and-join; exact matching happens in cleanQuery.
const MAYBE_TRACKING = new RegExp(`(?:^|&)(?:${TRACKING_PREFIX}|${[...TRACKING_PARAMS].join('|')})`);
const EMPTY_PAIR = /^&|&&|&$/;

export interface NormaliseOptions {
  /** false: drop the whole query string. Default true. */
  keepQuery?: boolean;
}

export type NormaliseResult = { ok: true; url: string } | { ok: false; reason: string };

/** Canonical form of `input` (resolved against `base`); throws PermanentCrawlError('invalid_url'). */
export function normaliseUrl(input: string, base?: string, opts?: NormaliseOptions): string {
  const result = tryNormaliseUrl(input, base, opts);
  if (!result.ok) throw new PermanentCrawlError('invalid_url', result.reason, { url: input.slice(0, 200) });
  return result.url;
}

/** Same as normaliseUrl without throwing, for batches where each bad URL is reported with its reason. */
export function tryNormaliseUrl(input: string, base?: string, opts?: NormaliseOptions): NormaliseResult {
  if (
    typeof input !== 'string' ||
    input.length === 0 ||
    (input.charCodeAt(0) <= 0x20 && input.trim() === '')
  ) {
    return fail('empty URL');
  }
  if (input.length > MAX_INPUT_LENGTH) return fail(`URL longer than ${MAX_URL_LENGTH} characters`);
  let parsed: URL;
  try {
    parsed = new URL(input, base);
  } catch {
    if (base !== undefined && !URL.canParse(base)) return fail(`invalid base URL: ${clip(base)}`);
    if (base === undefined && URL.canParse(input, 'http://base.invalid/')) {
      return fail(`relative URL without a base: ${clip(input)}`);
    }
    return fail(`malformed URL: ${clip(input)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return fail(`unsupported scheme "${parsed.protocol.slice(0, -1)}" (only http and https)`);
  }
  // Credentials would be sent to the site and stored in reports; no page we crawl should need them.
  if (parsed.username !== '' || parsed.password !== '') return fail('URL contains credentials');

  const path = normaliseEncoding(parsed.pathname);
  const query = opts?.keepQuery === false ? '' : cleanQuery(parsed.search);
  const url = `${parsed.protocol}//${parsed.host}${path}${query}`;
  if (url.length > MAX_URL_LENGTH) return fail(`URL longer than ${MAX_URL_LENGTH} characters`);
  return { ok: true, url };
}

/**
 * Same host (a leading `www.` ignored), same scheme and same port. Subdomains are other sites.
 * False when either URL does not parse.
 */
export function isSameSite(a: string, b: string): boolean {
  const ka = siteKey(a);
  return ka !== undefined && ka === siteKey(b);
}

/** `scheme://host[:port]` with a leading `www.` dropped: equal keys mean isSameSite. */
export function siteKey(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
  return `${parsed.protocol}//${stripWww(parsed.host)}`;
}

/**
 * siteKey without parsing, for strings that came out of normaliseUrl (lowercase, no credentials, no default
 * port). The link extractor calls it once per link, where a second URL parse would be measurable.
 */
export function siteKeyOfNormalised(normalised: string): string {
  const hostStart = normalised.indexOf('//') + 2;
  const pathStart = normalised.indexOf('/', hostStart);
  const scheme = normalised.slice(0, hostStart);
  return scheme + stripWww(normalised.slice(hostStart, pathStart === -1 ? undefined : pathStart));
}

function stripWww(host: string): string {
  return host.startsWith('www.') ? host.slice(4) : host;
}

// Decode %XX of unreserved characters (RFC 3986 2.3 says they are equivalent), uppercase the hex of every other
// escape, and escape the ASCII characters RFC 3986 never allows raw but WHATWG passes through (`|`, `[`, `^`…).
// Reserved characters stay as they are: `/` and `%2F` mean different things to a server.
const ENCODING = /%([0-9a-fA-F]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/gu;
// Most URLs need no change; a non-global test is several times cheaper than a replace that finds nothing.
const NEEDS_ENCODING_WORK = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/?]/;

function normaliseEncoding(s: string): string {
  if (!NEEDS_ENCODING_WORK.test(s)) return s;
  return s.replace(ENCODING, (match: string, hex: string | undefined) => {
    // WHATWG has already escaped non-ASCII; encodeURIComponent is only the safe fallback for it.
    if (hex === undefined) {
      return match.length === 1 && match < '\x80' ? percent(match) : encodeURIComponent(match);
    }
    const code = Number.parseInt(hex, 16);
    return isUnreserved(code) ? String.fromCharCode(code) : `%${hex.toUpperCase()}`;
  });
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || // -
    c === 0x2e || // .
    c === 0x5f || // _
    c === 0x7e // ~
  );
}

function percent(char: string): string {
  return `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

// Parameter order is kept: sorting would merge URLs that some servers treat differently (`?a=1&a=2` arrays,
// order-sensitive signatures). The query is split by hand because URLSearchParams would re-encode it (`%20`→`+`).
function cleanQuery(search: string): string {
  if (search.length <= 1) return '';
  const query = normaliseEncoding(search.slice(1));
  if (!MAYBE_TRACKING.test(query) && !EMPTY_PAIR.test(query)) return `?${query}`;
  const parts = query.split('&');
  const kept: string[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    if (TRACKING_PARAMS.has(name) || name.startsWith(TRACKING_PREFIX)) continue;
    kept.push(part);
  }
  return kept.length === 0 ? '' : `?${kept.join('&')}`;
}

function fail(reason: string): NormaliseResult {
  return { ok: false, reason };
}

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}
