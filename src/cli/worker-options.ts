// The worker pool and maintenance as the commands run them in-process (crawl, worker, serve): one
// runWorkerProcess with the command's role in the worker id (so an operator can tell whose tasks they are), its
// logging, and signals left to the command, which stops the workers as part of its own shutdown.
import { hostname } from 'node:os';
import type { CrawlOptions } from '../crawler/crawl-context.ts';
import type { Sql } from '../db/client.ts';
import type { WorkerProcessOptions } from '../worker/index.ts';
import { logMaintenanceEvent, logWorkerEvent } from './worker-log.ts';

export function workerProcessOptions(options: {
  sql: Sql;
  role: 'cli' | 'serve' | 'worker';
  concurrency: number;
  crawl: CrawlOptions;
  /** Work only on these jobs (bbb crawl, whose pool may reach private networks). */
  jobIds?: string[];
  deadlineMs?: number;
}): WorkerProcessOptions {
  return {
    sql: options.sql,
    pool: {
      workerId: `${options.role}-${hostname()}-${process.pid}`,
      concurrency: options.concurrency,
      crawl: options.crawl,
      ...(options.jobIds ? { jobIds: options.jobIds } : {}),
      onEvent: logWorkerEvent,
    },
    maintenance: { onEvent: logMaintenanceEvent },
    signals: [],
    ...(options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs }),
  };
}
