// The `bbb` command line. Each command loads configuration once (flags > env > defaults, see src/config.ts)
// and turns setup errors into a message and exit code 2. Commands and exit codes: docs/cli.md.
import { Command, CommanderError, Option } from 'commander';
import { ExpectedError } from '../errors.ts';
import { log } from '../log.ts';
import { JobOptionDefaults } from '../queue/job-options.ts';
import { REPORT_FORMATS } from '../report/index.ts';
import { ConcurrencyDefault } from '../worker/defaults.ts';
import { crawlCommand } from './crawl.ts';
import { type CrawlFlags, integerArg } from './crawl-options.ts';
import { EXIT_FAILURE, EXIT_USAGE } from './errors.ts';
import { jobsCancelCommand, jobsListCommand, jobsShowCommand } from './jobs.ts';
import { keysCommand } from './keys.ts';
import { migrateCommand } from './migrate.ts';
import { organisationsSetPlanCommand } from './organisations.ts';
import { serveCommand } from './serve.ts';
import { workerCommand } from './worker.ts';

export { EXIT_USAGE };

const program = new Command()
  .name('bbb')
  .description(
    "Blue Banded Bee: warm a freshly published site's CDN cache and report broken links and slow pages.",
  )
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

const dataDirOption = () =>
  new Option('--data-dir <dir>', 'state directory for the embedded database (env BBB_DATA_DIR)');
const workerConcurrencyOption = () =>
  new Option(
    '--concurrency <n>',
    `tasks crawled at once by this process (env BBB_WORKER_CONCURRENCY, default ${ConcurrencyDefault})`,
  ).argParser(integerArg);

program
  .command('crawl')
  .description(
    'Crawl a site once, in this process, and print a report. Exit 0: no broken links; 1: broken links found.',
  )
  .argument('<url>', 'the site to crawl, e.g. https://example.com/ (crawling starts at its home page)')
  .option(
    '--max-pages <n>',
    `stop adding pages after this many (default ${JobOptionDefaults.maxPages})`,
    integerArg,
  )
  .option(
    '--concurrency <n>',
    `pages fetched at once (default ${JobOptionDefaults.concurrency}; politeness still caps each host)`,
    integerArg,
  )
  .option('--no-sitemap', "don't read robots.txt sitemaps or /sitemap.xml")
  .option('--no-links', "don't follow links found on pages (sitemap and home page only)")
  .option('--include <pattern...>', 'only crawl URLs matching one of these patterns (docs/url-filters.md)')
  .option('--exclude <pattern...>', 'never crawl URLs matching any of these patterns')
  .addOption(new Option('--format <format>', 'report format').choices(REPORT_FORMATS).default('table'))
  .option('--output <file>', 'write the report to this file instead of stdout')
  .option(
    '--timeout <seconds>',
    'cancel the crawl after this long and report what was done (exit 2)',
    integerArg,
  )
  .addOption(dataDirOption())
  .action(async (url: string, opts: CrawlFlags) => crawlCommand(url, opts));

program
  .command('worker')
  .description('Run workers and maintenance against DATABASE_URL until SIGINT/SIGTERM (scale-out).')
  .addOption(workerConcurrencyOption())
  .action(async (opts: { concurrency?: number }) => workerCommand(opts));

program
  .command('serve')
  .description(
    'Run everything in one process: the database (embedded unless DATABASE_URL is set), migrations, workers.',
  )
  .addOption(dataDirOption())
  .addOption(workerConcurrencyOption())
  .action(async (opts: { dataDir?: string; concurrency?: number }) => serveCommand(opts));

program
  .command('migrate')
  .description('Apply pending database migrations and exit.')
  .addOption(dataDirOption())
  .action(async (opts: { dataDir?: string }) => migrateCommand({ dataDir: opts.dataDir }));

program
  .command('keys')
  .description(
    'Print the anon and service-role API keys for the built-in auth server (made from the JWT secret).',
  )
  .option('--json', 'print {anon_key, service_role_key} as JSON')
  .addOption(dataDirOption())
  .action(async (opts: { json?: boolean; dataDir?: string }) => keysCommand(opts));

const jobs = program
  .command('jobs')
  .description('List, inspect and cancel crawl jobs in the configured database.');
jobs
  .command('list')
  .description('Recent jobs, newest first, with status and progress.')
  .option('--limit <n>', 'how many jobs to show', integerArg, 20)
  .addOption(dataDirOption())
  .action(async (opts: { limit: number; dataDir?: string }) => jobsListCommand(opts));
jobs
  .command('show')
  .description("A job's report: status, stats, broken links, slowest pages.")
  .argument('<id>', 'job id (from `bbb jobs list`)')
  .addOption(new Option('--format <format>', 'report format').choices(REPORT_FORMATS).default('table'))
  .addOption(dataDirOption())
  .action(async (id: string, opts: { format: 'table' | 'json' | 'csv'; dataDir?: string }) =>
    jobsShowCommand(id, opts),
  );
jobs
  .command('cancel')
  .description('Cancel a pending or running job; its unstarted pages are skipped.')
  .argument('<id>', 'job id (from `bbb jobs list`)')
  .addOption(dataDirOption())
  .action(async (id: string, opts: { dataDir?: string }) => jobsCancelCommand(id, opts));

const organisations = program
  .command('organisations')
  .description("Operator actions on tenants' organisations in the configured database.");
organisations
  .command('set-plan')
  .description("Change an organisation's plan (tenants cannot; billing or the operator does).")
  .argument('<org-id>', 'organisation id (a UUID)')
  .argument('<plan>', 'plan id, e.g. free, pro, business (any row of the plans table)')
  .addOption(dataDirOption())
  .action(async (orgId: string, plan: string, opts: { dataDir?: string }) =>
    organisationsSetPlanCommand(orgId, plan, opts),
  );

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (err instanceof ExpectedError) {
    log.error(err.message);
    process.exitCode = err.exitCode;
  } else {
    log.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = EXIT_FAILURE;
  }
}
