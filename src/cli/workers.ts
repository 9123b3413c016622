// The worker pool and maintenance loop as one unit, for the commands that run them in-process (crawl, worker,
// serve). Stopping releases claimed tasks back to the queue, so another process picks them up at once.
import { hostname } from 'node:os';
import type { CrawlOptions } from '../crawler/crawl-context.ts';
import type { Sql } from '../db/client.ts';
import { log } from '../log.ts';
import { startMaintenance, startWorkerPool, type WorkerEvent } from '../worker/index.ts';

export interface RunningWorkers {
  stop(options?: { deadlineMs?: number }): Promise<void>;
}

export function startWorkers(options: {
  sql: Sql;
  concurrency: number;
  crawl: CrawlOptions;
  /** Names the process in claimed tasks' locked_by, so an operator can tell whose tasks they are. */
  role: string;
  /** Work only on these jobs (bbb crawl, whose pool may reach private networks). */
  jobIds?: string[];
}): RunningWorkers {
  const workerId = `${options.role}-${hostname()}-${process.pid}`;
  const pool = startWorkerPool({
    sql: options.sql,
    workerId,
    concurrency: options.concurrency,
    crawl: options.crawl,
    ...(options.jobIds ? { jobIds: options.jobIds } : {}),
    onEvent: logWorkerEvent,
  });
  const maintenance = startMaintenance({
    sql: options.sql,
    onEvent: (event) => {
      if (event.type === 'error') log.warn(`maintenance: ${describe(event.error)}`);
    },
  });
  log.debug(`worker ${workerId}: ${options.concurrency} concurrent tasks`);
  let stopping: Promise<void> | undefined;
  return {
    stop(stopOptions = {}) {
      stopping ??= Promise.all([
        pool.stop(stopOptions.deadlineMs === undefined ? {} : { deadlineMs: stopOptions.deadlineMs }),
        maintenance.stop(),
      ]).then(() => {});
      return stopping;
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// The pool survives these on its own; without a log line an operator would never learn they happened.
function logWorkerEvent(event: WorkerEvent): void {
  if (event.type === 'db_error') {
    log.warn(
      `database unavailable during ${event.during}; retrying in ${event.retryInMs} ms (${describe(event.error)})`,
    );
  } else if (event.type === 'error') {
    log.error(`worker error during ${event.during}: ${describe(event.error)}`);
  } else if (event.type === 'discovery') {
    // A site without a sitemap is normal, so its 404s are not worth a warning.
    for (const warning of event.warnings) log.info(`sitemap: ${warning}`);
    if (event.error) log.warn(`sitemap discovery failed: ${describe(event.error)}`);
    else log.debug(`sitemap discovery: ${event.urls} URL(s) queued`);
  }
}
