// What the commands that run workers in-process (crawl, worker, serve) log of them. The pool and maintenance
// survive these on their own; without a log line an operator would never learn they happened.
import { log } from '../log.ts';
import type { MaintenanceEvent, WorkerEvent } from '../worker/index.ts';

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function logWorkerEvent(event: WorkerEvent): void {
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

export function logMaintenanceEvent(event: MaintenanceEvent): void {
  if (event.type === 'error')
    log.warn(`maintenance${event.pass ? ` (${event.pass})` : ''}: ${describe(event.error)}`);
}
