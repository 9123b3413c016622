// All configuration in one table. Precedence, highest first:
//   1. command-line flags (passed to loadConfig as `overrides`)
//   2. environment variables
//   3. the defaults below
// Each entry names its env var so docs/configuration.md can be read straight off this file.
import { z } from 'zod';

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
  workerConcurrency: int(1, 1000).default(16),
  /** BBB_LOG_LEVEL */
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
});

export type Config = z.infer<typeof configSchema>;

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
  logLevel: 'BBB_LOG_LEVEL',
};

export class ConfigError extends Error {
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
  return parsed.data;
}

export const configEnvNames = envNames;
