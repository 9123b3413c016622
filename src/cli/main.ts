// The `bbb` command line. Each command loads configuration once (flags > env > defaults, see src/config.ts)
// and turns setup errors into a message and exit code 2.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.ts';
import { DbSetupError, MigrationError } from '../db/errors.ts';
import { log } from '../log.ts';
import { migrateCommand } from './migrate.ts';
import { serveCommand } from './serve.ts';

export const EXIT_USAGE = 2;

const program = new Command()
  .name('bbb')
  .description(
    "Blue Banded Bee: warm a freshly published site's CDN cache and report broken links and slow pages.",
  )
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('serve')
  .description(
    'Run everything in one process: the database (embedded unless DATABASE_URL is set) and migrations.',
  )
  .option('--data-dir <dir>', 'state directory for the embedded database (env BBB_DATA_DIR)')
  .action(async (opts: { dataDir?: string }) => serveCommand({ dataDir: opts.dataDir }));

program
  .command('migrate')
  .description('Apply pending database migrations and exit.')
  .option('--data-dir <dir>', 'state directory for the embedded database (env BBB_DATA_DIR)')
  .action(async (opts: { dataDir?: string }) => migrateCommand({ dataDir: opts.dataDir }));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof ConfigError || err instanceof DbSetupError || err instanceof MigrationError) {
    log.error(err.message);
    process.exitCode = EXIT_USAGE;
  } else {
    log.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  }
}
