// Shapes shared by the crawler modules. The worker stores these on the task row.

export const CACHE_STATUSES = [
  'HIT',
  'MISS',
  'EXPIRED',
  'STALE',
  'BYPASS',
  'DYNAMIC',
  'REVALIDATED',
  'UNKNOWN',
] as const;
export type CacheStatus = (typeof CACHE_STATUSES)[number];

/** Milliseconds for each phase of one request; a reused keep-alive socket has dns/connect/tls of 0. */
export interface Timing {
  dns: number;
  connect: number;
  tls: number;
  ttfb: number;
  transfer: number;
  total: number;
}

export interface RedirectHop {
  url: string;
  statusCode: number;
  location: string;
}

export interface FetchOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** Reject loopback/private/link-local targets unless this is true (the CLI sets it; the server does not). */
  allowPrivateNetworks?: boolean;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  totalTimeoutMs?: number;
  /** Cap on the decompressed body; past it the fetch fails with `too_large`. */
  maxBodyBytes?: number;
  maxRedirects?: number;
  /** false: return the 3xx response itself instead of following it. */
  followRedirects?: boolean;
  /** false: skip reading the body (it is drained and discarded up to the cap). */
  readBody?: boolean;
  signal?: AbortSignal;
  /** Defaults to DEFAULT_USER_AGENT from fetch.ts. */
  userAgent?: string;
  /** Addresses or CIDR ranges allowed even when allowPrivateNetworks is false (e.g. one staging host). */
  allowAddresses?: string[];
  /** Resolves hostnames at connect time (default: the system resolver); tests inject one to simulate DNS. */
  resolver?: (hostname: string) => Promise<Array<{ address: string; family: number }>>;
}

export interface FetchResult {
  /** The URL asked for. */
  url: string;
  /** The URL of the response after redirects. */
  finalUrl: string;
  statusCode: number;
  headers: Record<string, string>;
  /** Every redirect followed, in order. */
  redirects: RedirectHop[];
  /** Decompressed body (empty when readBody was false or for HEAD). */
  body: Buffer;
  contentType: string | undefined;
  /** Decompressed length in bytes. */
  contentLength: number;
  timing: Timing;
}
