// `bbb keys`: the anon and service-role API keys for the standalone auth server, derived from the project JWT
// secret (BBB_JWT_SECRET, or the one `bbb serve` created in the data directory; made here if neither exists).
// Printed to stdout only, in the form a .env file or `export` takes.
import { apiKeys } from '../auth/jwt.ts';
import { loadOrCreateJwtSecret } from '../auth/secret.ts';
import { loadConfig } from '../config.ts';
import { errorMessage } from '../errors.ts';
import { log, setLogLevel } from '../log.ts';
import { UsageError } from './errors.ts';

export async function keysCommand(flags: { dataDir?: string | undefined; json?: boolean }): Promise<void> {
  const config = loadConfig({ dataDir: flags.dataDir });
  setLogLevel(config.logLevel);
  // An unreadable or too-short secret file is a setup problem to fix, not a crash (exit 2 with the message).
  const { secret, created } = await loadOrCreateJwtSecret(config.dataDir, config.jwtSecret).catch((err) => {
    throw new UsageError(`cannot read the JWT secret: ${errorMessage(err)}`);
  });
  if (created) log.info(`created a JWT secret in ${config.dataDir}/jwt-secret (keep it private)`);
  const keys = await apiKeys(secret, config.jwtIssuer);
  process.stdout.write(
    flags.json
      ? `${JSON.stringify({ anon_key: keys.anon, service_role_key: keys.serviceRole }, null, 2)}\n`
      : `SUPABASE_ANON_KEY=${keys.anon}\nSUPABASE_SERVICE_ROLE_KEY=${keys.serviceRole}\n`,
  );
}
