// All configuration in one table. Precedence, highest first:
//   1. command-line flags (passed to loadConfig as `overrides`)
//   2. environment variables
//   3. the defaults below
// Each entry names its env var so docs/configuration.md can be read straight off this file.
import { z } from 'zod';
import { DEFAULT_SESSION_MAX_AGE_SECONDS } from './auth/gotrue/sessions.ts';
import { ExpectedError } from './errors.ts';
import { ConcurrencyDefault } from './worker/defaults.ts';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'use true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const configSchema = z.object({
  /** DATABASE_URL: use this PostgreSQL (15+, Supabase included) instead of the embedded one. */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must start with postgres:// or postgresql://')
    .optional(),
  /** BBB_DATA_DIR: where local state lives: the embedded cluster in <dir>/pg and its secrets. */
  dataDir: z.string().min(1).default('.bbb'),
  /** BBB_PG_PORT: port for the embedded PostgreSQL; unset means 54329, or a free port if that is taken. */
  pgPort: int(1, 65535).optional(),
  /** BBB_PG_START_TIMEOUT_MS: give up starting the embedded PostgreSQL after this long. */
  pgStartTimeoutMs: int(1000, 600_000).default(30_000),
  /** BBB_PG_FSYNC: fsync for the embedded cluster; tests turn it off for speed. */
  pgFsync: bool.default(true),
  /** BBB_DB_POOL_MAX: connections per process. */
  dbPoolMax: int(1, 200).default(10),
  /** BBB_HOST / PORT: where `bbb serve` listens. */
  host: z.string().default('127.0.0.1'),
  port: int(0, 65535).default(8080),
  /** BBB_WORKER_CONCURRENCY: tasks a `bbb worker` or `bbb serve` process crawls at once, across all jobs. */
  workerConcurrency: int(1, 1000).default(ConcurrencyDefault),
  /**
   * BBB_WORKER_DB_DEADLINE_MS: `bbb worker` exits (code 3) once it has not reached the database for this long,
   * so an orchestrator restarts it instead of keeping a worker that looks alive and does nothing.
   */
  workerDbDeadlineMs: int(5_000, 86_400_000).default(120_000),
  /** BBB_JWT_SECRET: HS256 secret for access tokens (Supabase's legacy JWT secret); unset: created in dataDir. */
  jwtSecret: z
    .string()
    .min(
      32,
      'BBB_JWT_SECRET must be at least 32 characters; use the project JWT secret or `openssl rand -hex 32`',
    )
    .optional(),
  /** BBB_JWKS_URL: also accept asymmetric tokens signed by these keys (<project>/auth/v1/.well-known/jwks.json). */
  jwksUrl: z
    .url({
      message: 'BBB_JWKS_URL must be a URL such as https://<ref>.supabase.co/auth/v1/.well-known/jwks.json',
    })
    .optional(),
  /** BBB_JWT_ISSUER: when set, tokens must carry this `iss` (and the built-in auth server issues it). */
  jwtIssuer: z.string().min(1).optional(),
  /** BBB_JWT_EXPIRY: lifetime of access tokens issued by the built-in auth server, in seconds. */
  jwtExpirySeconds: int(60, 604_800).default(3600),
  /**
   * BBB_SESSION_MAX_AGE: a session's absolute lifetime from sign-in, in seconds; refresh refuses past it and
   * /v1 stops accepting its access tokens (also for Supabase Auth's sessions).
   */
  sessionMaxAgeSeconds: int(300, 315_360_000).default(DEFAULT_SESSION_MAX_AGE_SECONDS),
  /**
   * BBB_AUTH_SERVER: serve the GoTrue-compatible /auth/v1 endpoints (standalone). Unset: on, unless
   * BBB_JWKS_URL is set, since then Supabase Auth owns auth.users and an open sign-up here would add to it.
   */
  authServer: bool.optional(),
  /** BBB_LOGIN_RATE_LIMIT: password and refresh attempts allowed per client address per 5 minutes. */
  loginRateLimit: int(1, 100_000).default(30),
  /** BBB_TRUST_PROXY: how many reverse proxies in front of bbb append to X-Forwarded-For (0: use the socket). */
  trustProxyHops: int(0, 10).default(0),
  /** BBB_BODY_LIMIT: largest request body the API accepts, in bytes. */
  bodyLimitBytes: int(1024, 100 * 1024 * 1024).default(1024 * 1024),
  /**
   * BBB_REALTIME: `bbb serve` streams database changes to websocket clients at /realtime/v1/websocket. Off when
   * Supabase's own Realtime serves the clients.
   */
  realtime: bool.default(true),
  /** BBB_LOG_LEVEL */
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
});

// authServer's default depends on jwksUrl, so loadConfig settles it after parsing.
export type Config = Omit<z.infer<typeof configSchema>, 'authServer'> & { authServer: boolean };

const envNames: Record<keyof Config, string> = {
  databaseUrl: 'DATABASE_URL',
  dataDir: 'BBB_DATA_DIR',
  pgPort: 'BBB_PG_PORT',
  pgStartTimeoutMs: 'BBB_PG_START_TIMEOUT_MS',
  pgFsync: 'BBB_PG_FSYNC',
  dbPoolMax: 'BBB_DB_POOL_MAX',
  host: 'BBB_HOST',
  port: 'PORT',
  workerConcurrency: 'BBB_WORKER_CONCURRENCY',
  workerDbDeadlineMs: 'BBB_WORKER_DB_DEADLINE_MS',
  jwtSecret: 'BBB_JWT_SECRET',
  jwksUrl: 'BBB_JWKS_URL',
  jwtIssuer: 'BBB_JWT_ISSUER',
  jwtExpirySeconds: 'BBB_JWT_EXPIRY',
  sessionMaxAgeSeconds: 'BBB_SESSION_MAX_AGE',
  authServer: 'BBB_AUTH_SERVER',
  loginRateLimit: 'BBB_LOGIN_RATE_LIMIT',
  trustProxyHops: 'BBB_TRUST_PROXY',
  bodyLimitBytes: 'BBB_BODY_LIMIT',
  realtime: 'BBB_REALTIME',
  logLevel: 'BBB_LOG_LEVEL',
};

export class ConfigError extends ExpectedError {
  override name = 'ConfigError';
}

export function loadConfig(
  overrides: Partial<Record<keyof Config, unknown>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) raw[key] = value;
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]) as keyof Config;
      return `  ${envNames[key] ?? key}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return { ...parsed.data, authServer: parsed.data.authServer ?? parsed.data.jwksUrl === undefined };
}

export const configEnvNames = envNames;
