// Request defaults and the per-call settings derived from FetchOptions: headers, limits, and the pooled,
// SSRF-guarded Agent the request goes out on.
import { readFileSync } from 'node:fs';
import type { Agent } from 'undici';
import { agentFor } from './fetch-pool.ts';
import { SsrfPolicy, systemResolver } from './ssrf.ts';
import type { FetchOptions } from './types.ts';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? '0.0.0';
}

/** The product token robots.txt groups are matched against. */
export const USER_AGENT_PRODUCT = 'BlueBandedBee';
export const DEFAULT_USER_AGENT = `${USER_AGENT_PRODUCT}/${packageVersion()} (+https://bluebandedbee.co/bot)`;
export const DEFAULT_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
// Browser-like so CDNs cache (and we warm) the same compressed variant real visitors get.
export const DEFAULT_ACCEPT_ENCODING = 'gzip, deflate, br';

export const FETCH_DEFAULTS = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 15_000,
  bodyTimeoutMs: 30_000,
  totalTimeoutMs: 60_000,
  maxBodyBytes: 10 * 1024 * 1024,
  maxRedirects: 10,
} as const;

export const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// A redirect's own body is read (to keep the socket reusable) only while it is small.
export const REDIRECT_BODY_LIMIT = 64 * 1024;
export const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export type BodyMode = 'read' | 'drain' | 'skip';

export interface Settings {
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  agent: Agent;
  policy: SsrfPolicy;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  maxBodyBytes: number;
  maxRedirects: number;
  followRedirects: boolean;
  bodyMode: BodyMode;
}

export function settingsFrom(options: FetchOptions, bodyMode: BodyMode): Settings {
  const policy = new SsrfPolicy(options);
  const headers: Record<string, string> = {
    'user-agent': options.userAgent ?? DEFAULT_USER_AGENT,
    accept: DEFAULT_ACCEPT,
    'accept-encoding': DEFAULT_ACCEPT_ENCODING,
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  const connectTimeoutMs = options.connectTimeoutMs ?? FETCH_DEFAULTS.connectTimeoutMs;
  return {
    method: options.method ?? 'GET',
    headers,
    agent: agentFor(policy, options.resolver ?? systemResolver, connectTimeoutMs),
    policy,
    headersTimeoutMs: options.headersTimeoutMs ?? FETCH_DEFAULTS.headersTimeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs ?? FETCH_DEFAULTS.bodyTimeoutMs,
    maxBodyBytes: options.maxBodyBytes ?? FETCH_DEFAULTS.maxBodyBytes,
    maxRedirects: options.maxRedirects ?? FETCH_DEFAULTS.maxRedirects,
    followRedirects: options.followRedirects ?? true,
    bodyMode: options.method === 'HEAD' ? 'skip' : bodyMode,
  };
}

/** Settings for a streamed GET (see fetch-stream.ts); same defaults, pool and SSRF policy as fetchUrl. */
export function streamSettings(options: FetchOptions): Settings {
  return settingsFrom({ ...options, method: 'GET' }, 'read');
}
