// `bbb crawl <url>`: one crawl, start to finish, in this process: database (embedded unless DATABASE_URL),
// migrations, the job, workers and maintenance, progress on stderr, then the report on stdout or --output.
// Exit codes are documented in docs/cli.md; the short version is in exitCodeFor below.
import { constants } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../config.ts';
import { type Database, openDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { createJob } from '../jobs/job-service.ts';
import { log, setLogLevel } from '../log.ts';
import { cancelJob, type JobRow, skipRemainingTasks } from '../queue/jobs.ts';
import { brokenPages, formatReport, loadReport, type Report } from '../report/index.ts';
import { withDbRetry } from '../worker/db-retry.ts';
import { CrawlStopDeadlineMsDefault } from '../worker/defaults.ts';
import { runWorkerProcess, type WorkerProcess } from '../worker/index.ts';
import { cliOrganisationId } from './cli-organisation.ts';
import { type CrawlFlags, checkCrawlFlags, jobOptionsFromFlags } from './crawl-options.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, signalExitCode, UsageError } from './errors.ts';
import { createProgress } from './progress.ts';
import { listenForStop } from './signals.ts';
import { type WaitOutcome, waitForJob } from './wait-for-job.ts';
import { workerProcessOptions } from './worker-options.ts';

export async function crawlCommand(url: string, flags: CrawlFlags): Promise<void> {
  const config = loadConfig({ dataDir: flags.dataDir });
  setLogLevel(config.logLevel);
  checkCrawlFlags(url, flags);
  if (flags.output) await checkWritable(flags.output);
  const stop = listenForStop();

  let db: Database | undefined;
  try {
    db = await openDatabase(config, {
      applicationName: 'bbb crawl',
      onLog: (line) => log.debug(`postgres: ${line}`),
    });
    if (stop.received) {
      process.exitCode = signalExitCode(stop.received);
      return;
    }
    // A database that drops connections during start-up is waited out like the workers wait it out. Each step
    // is safe to run again: migrations and the organisation lookup are idempotent, and a repeated createJob
    // (its first commit lost with the connection) supersedes the first job, leaving exactly one.
    const { sql } = db;
    const setup = { signal: AbortSignal.any([stop.signal, AbortSignal.timeout(120_000)]) };
    const migrated = await withDbRetry(() => migrate(sql), setup);
    log.debug(`migrations: ${migrated.applied.length} applied, ${migrated.alreadyApplied} already present`);
    const organisationId = await withDbRetry(() => cliOrganisationId(sql), setup);
    const { job, superseded } = await withDbRetry(
      () => createJob(sql, { ...jobOptionsFromFlags(url, flags), organisationId }),
      setup,
    );
    for (const id of superseded) log.warn(`cancelled job ${id}: it was still crawling the same site`);
    log.info(`crawling ${job.root_url} (job ${job.id}, up to ${job.max_pages} pages)`);

    const workers = runWorkerProcess(
      workerProcessOptions({
        sql: db.sql,
        role: 'cli',
        concurrency: job.concurrency,
        // The operator crawls what they choose, their own staging or localhost included; servers never do this.
        crawl: { allowPrivateNetworks: true },
        // ...so these workers must take only this job, even from a database a server shares.
        jobIds: [job.id],
        deadlineMs: CrawlStopDeadlineMsDefault,
      }),
    );
    const outcome = await runUntilStopped(db, job, flags, stop.signal, workers);
    const report = await withDbRetry(() => loadReport(sql, job.id), { signal: AbortSignal.timeout(60_000) });
    await writeReport(formatReport(report, flags.format), flags.output);
    process.exitCode = exitCodeFor(outcome, report, flags);
  } finally {
    await db?.close();
  }
}

async function runUntilStopped(
  db: Database,
  job: JobRow,
  flags: CrawlFlags,
  stop: AbortSignal,
  workers: WorkerProcess,
): Promise<WaitOutcome> {
  const progress = createProgress({ stream: process.stderr });
  let outcome: WaitOutcome;
  try {
    outcome = await waitForJob(db.sql, job.id, {
      stop,
      timeoutMs: flags.timeout === undefined ? undefined : flags.timeout * 1000,
      onPoll: (row) => progress.update(row),
      onDbRetry: (err, waitMs) =>
        log.warn(`database unavailable while watching the job; retrying in ${waitMs} ms (${String(err)})`),
    });
    if (outcome.reason !== 'finished') {
      const why = outcome.reason === 'timeout' ? `--timeout ${flags.timeout} s reached` : outcome.signal;
      log.info(`${why}: stopping, in-flight pages get ${CrawlStopDeadlineMsDefault / 1000} s to finish`);
    }
  } finally {
    await workers.stop();
  }
  if (outcome.reason !== 'finished') {
    // Workers first, then the job: pages they handed back become skipped instead of pending forever. A cancel
    // skips a first batch at once and leaves the rest to maintenance, which has stopped with the workers, so
    // skip the rest here: the report then covers a settled job.
    await withDbRetry(() => cancelJob(db.sql, job.id), { signal: AbortSignal.timeout(30_000) });
    const final = (await withDbRetry(() => skipRemainingTasks(db.sql, job.id), {
      signal: AbortSignal.timeout(30_000),
    }))!;
    // The last in-flight pages may have completed the job while the workers stopped: then it did finish.
    outcome = final.status === 'cancelled' ? { ...outcome, job: final } : { reason: 'finished', job: final };
  }
  progress.finish(outcome.job);
  return outcome;
}

function exitCodeFor(outcome: WaitOutcome, report: Report, flags: CrawlFlags): number {
  const broken = brokenPages(report.pages).length;
  if (outcome.reason === 'signal') {
    log.warn(`${outcome.signal}: crawl cancelled; the report covers the pages done so far`);
    return signalExitCode(outcome.signal);
  }
  if (outcome.reason === 'timeout') {
    log.error(
      `the crawl did not finish within --timeout ${flags.timeout} s and was cancelled; the report covers the ` +
        'pages done so far. Raise --timeout, or lower --max-pages.',
    );
    return EXIT_USAGE;
  }
  const { job } = outcome;
  if (job.status === 'failed') {
    const reason = (job as JobRow & { error_message?: string | null }).error_message ?? 'no reason recorded';
    log.error(`the crawl failed: ${reason}`);
    return EXIT_FAILURE;
  }
  if (job.status === 'cancelled') {
    log.error(
      'the crawl was cancelled from outside this process (`bbb jobs cancel`, or a newer crawl of the same ' +
        'site, which supersedes it).',
    );
    return EXIT_FAILURE;
  }
  if (broken > 0) {
    log.warn(`${broken} broken link(s) found`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}

async function checkWritable(file: string): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new UsageError(`--output: cannot write to ${dir}; create the directory or choose another path.`);
  }
}

async function writeReport(text: string, output: string | undefined): Promise<void> {
  if (!output) {
    process.stdout.write(text);
    return;
  }
  await writeFile(output, text);
  log.info(`report written to ${output}`);
}
