// Turns whatever cache header a CDN sent into one CacheStatus, so warming and reporting work the same for every
// CDN (the Go version read only Cloudflare's header and never re-warmed anything else).
import type { CacheStatus } from './types.ts';

export interface NormalisedCacheStatus {
  status: CacheStatus;
  /** The header that decided, `age` for the Age fallback, or `none`. */
  source: string;
}

type Reader = (value: string, headers: Record<string, string>) => CacheStatus | undefined;

// Precedence: the first header present whose value we recognise wins; an unrecognised value falls through.
// When CDNs are stacked, every layer's header reaches us, so the order encodes which layer usually faces the
// user: Cloudflare is nearly always the outermost proxy; Fastly/CloudFront/Akamai (x-cache) are usually put in
// front of hosting platforms; RFC 9211 Cache-Status (Netlify and others) and Vercel's header come from the
// platform itself; Akamai's parent tier, bare Varnish ids and Age are weaker hints still.
const READERS: ReadonlyArray<readonly [string, Reader]> = [
  ['cf-cache-status', readCloudflare],
  ['x-cache', readXCache],
  ['cache-status', readRfc9211],
  ['x-vercel-cache', readVercel],
  ['x-cache-remote', readXCache],
  ['x-varnish', readXVarnish],
];

/** `headers` must have lower-cased names (repeated headers joined with ", "). */
export function normaliseCacheStatus(headers: Record<string, string>): NormalisedCacheStatus {
  for (const [name, read] of READERS) {
    const value = headers[name];
    if (value === undefined || value.trim() === '') continue;
    const status = read(value, headers);
    if (status) return { status, source: name };
  }
  // Age > 0 means the response sat in some cache, but nothing says which one or whether it was fresh.
  const age = Number.parseInt(lastEntry(headers.age ?? ''), 10);
  if (age > 0) return { status: 'HIT', source: 'age' };
  return { status: 'UNKNOWN', source: 'none' };
}

function lastEntry(value: string): string {
  return (value.split(',').at(-1) ?? '').trim();
}

// UPDATING = stale copy served while Cloudflare refreshes it. NONE/UNKNOWN (e.g. a Worker built the response)
// says nothing about caching, so a lower-precedence header behind the Worker may still decide.
const CLOUDFLARE: Record<string, CacheStatus> = {
  HIT: 'HIT',
  MISS: 'MISS',
  EXPIRED: 'EXPIRED',
  STALE: 'STALE',
  UPDATING: 'STALE',
  BYPASS: 'BYPASS',
  DYNAMIC: 'DYNAMIC',
  REVALIDATED: 'REVALIDATED',
};

function readCloudflare(value: string): CacheStatus | undefined {
  return CLOUDFLARE[lastEntry(value).toUpperCase()];
}

// PRERENDER is served from Vercel's static storage at the edge: as cached as a HIT for the user.
const VERCEL: Record<string, CacheStatus> = {
  HIT: 'HIT',
  MISS: 'MISS',
  STALE: 'STALE',
  PRERENDER: 'HIT',
  REVALIDATED: 'REVALIDATED',
  BYPASS: 'BYPASS',
};

function readVercel(value: string): CacheStatus | undefined {
  return VERCEL[lastEntry(value).toUpperCase()];
}

// First word of the edge entry, lower-cased. Fastly/Varnish: HIT/MISS/PASS; CloudFront: "<Word> from cloudfront";
// Akamai: "TCP_<STATE> from <host> (AkamaiGHost/...)". CloudFront "Error" maps to UNKNOWN, not BYPASS: it is set
// for any error response (origin 4xx/5xx or CloudFront failing to reach it), cached or not, so it says nothing
// about whether the page is cacheable; the status code already reports the error. Edge-generated responses
// (Lambda@Edge/CloudFront Functions/HTTPS redirects) are DYNAMIC: nothing is cached to warm.
const X_CACHE_WORDS: Record<string, CacheStatus> = {
  hit: 'HIT',
  miss: 'MISS',
  pass: 'BYPASS',
  bypass: 'BYPASS',
  expired: 'EXPIRED',
  stale: 'STALE',
  'hit-stale': 'STALE',
  updating: 'STALE',
  dynamic: 'DYNAMIC',
  revalidated: 'REVALIDATED',
  refreshhit: 'REVALIDATED',
  error: 'UNKNOWN',
  lambdageneratedresponse: 'DYNAMIC',
  functiongeneratedresponse: 'DYNAMIC',
  redirect: 'DYNAMIC',
  // Akamai: REFRESH_HIT = stale copy confirmed by a 304; REFRESH_MISS = stale copy replaced by a new 200;
  // REFRESH_FAIL_HIT = origin failed so the stale copy was served; CLIENT_REFRESH_MISS = our own request
  // headers forced the origin fetch; COOKIE_DENY = not cached because of cookies.
  tcp_hit: 'HIT',
  tcp_mem_hit: 'HIT',
  tcp_ims_hit: 'HIT',
  tcp_negative_hit: 'HIT',
  tcp_miss: 'MISS',
  tcp_refresh_hit: 'REVALIDATED',
  tcp_refresh_miss: 'EXPIRED',
  tcp_refresh_fail_hit: 'STALE',
  tcp_client_refresh_miss: 'BYPASS',
  tcp_cookie_deny: 'BYPASS',
  tcp_denied: 'UNKNOWN',
};

// With Fastly shielding the list is "<shield>, <edge>": the last entry is the cache nearest the user.
function readXCache(value: string, headers: Record<string, string>): CacheStatus | undefined {
  const word = /^[a-z_-]+/.exec(lastEntry(value).toLowerCase())?.[0] ?? '';
  let status = X_CACHE_WORDS[word];
  // Fastly's many HIT-*/MISS-* states (HIT-SYNTH, MISS-CLUSTER, ...) and any other Akamai TCP_*_HIT.
  if (!status && /(^|_)hit/.test(word)) status = 'HIT';
  if (!status && /(^|_)miss/.test(word)) status = 'MISS';
  // Akamai says outright when an object is not cacheable; retrying such a MISS would never warm anything.
  if (
    (status === 'MISS' || status === 'EXPIRED') &&
    headers['x-check-cacheable']?.trim().toUpperCase() === 'NO'
  ) {
    return 'BYPASS';
  }
  return status;
}

// Varnish puts the request's id, plus the id of the stored object when it served one from cache.
function readXVarnish(value: string): CacheStatus | undefined {
  const ids = lastEntry(value).split(/\s+/);
  if (!ids.every((id) => /^\d+$/.test(id))) return undefined;
  if (ids.length === 2) return 'HIT';
  return ids.length === 1 ? 'MISS' : undefined;
}

type SfValue = string | number | boolean;
interface CacheStatusMember {
  name: string;
  params: Map<string, SfValue>;
}

// RFC 9211 §2: the list is ordered from the cache closest to the origin to the cache closest to the user, so
// the last member is what the user got. Netlify has been seen emitting members out of order, so its edge
// member wins wherever it sits.
function readRfc9211(value: string): CacheStatus | undefined {
  const members = parseCacheStatusList(value);
  const edge = members.find((m) => m.name.toLowerCase() === 'netlify edge') ?? members.at(-1);
  return edge ? classifyMember(edge.params) : undefined;
}

function classifyMember(params: Map<string, SfValue>): CacheStatus | undefined {
  const ttl = params.get('ttl');
  // A hit with a negative ttl was served past its freshness lifetime (RFC 9211 §2.2).
  if (params.get('hit') === true) return typeof ttl === 'number' && ttl < 0 ? 'STALE' : 'HIT';
  const fwd = params.get('fwd');
  if (typeof fwd !== 'string') return undefined;
  switch (fwd.toLowerCase()) {
    case 'bypass':
    case 'method':
    case 'request':
      // Configured not to cache, or our request's method/headers ruled the cache out: retrying will not warm.
      return 'BYPASS';
    case 'stale':
      // A stored but stale response was forwarded: a 304 refreshed it in place, anything else replaced it.
      return params.get('fwd-status') === 304 ? 'REVALIDATED' : 'EXPIRED';
    default:
      // miss, uri-miss, vary-miss, partial and unknown extensions all mean "not served from this cache".
      return 'MISS';
  }
}

/**
 * Structured Field List (RFC 8941) parsing, lenient where real CDNs are sloppy: an unquoted member name may
 * contain spaces (`Netlify Edge; hit`). Quoted strings may hold `,` `;` and `\"`.
 */
export function parseCacheStatusList(value: string): CacheStatusMember[] {
  const members: CacheStatusMember[] = [];
  let i = 0;
  const skipSpace = () => {
    while (value[i] === ' ' || value[i] === '\t') i++;
  };
  const readUntil = (stops: string) => {
    const start = i;
    while (i < value.length && !stops.includes(value[i]!)) i++;
    return value.slice(start, i).trim();
  };
  const readQuoted = () => {
    let out = '';
    for (i++; i < value.length; i++) {
      const c = value[i]!;
      if (c === '"') {
        i++;
        break;
      }
      out += c === '\\' ? (value[++i] ?? '') : c;
    }
    return out;
  };
  while (i < value.length) {
    skipSpace();
    const name = value[i] === '"' ? readQuoted() : readUntil(';,');
    const params = new Map<string, SfValue>();
    skipSpace();
    while (value[i] === ';') {
      i++;
      skipSpace();
      const key = readUntil('=;,').toLowerCase();
      let val: SfValue = true;
      if (value[i] === '=') {
        i++;
        skipSpace();
        val = value[i] === '"' ? readQuoted() : bareValue(readUntil(';,'));
      }
      if (key) params.set(key, val);
      skipSpace();
    }
    readUntil(','); // ignore anything malformed up to the next member
    i++;
    if (name || params.size > 0) members.push({ name, params });
  }
  return members;
}

function bareValue(raw: string): SfValue {
  if (raw === '?1') return true;
  if (raw === '?0') return false;
  return /^-?\d+$/.test(raw) ? Number(raw) : raw;
}
