// What the commands that run workers in-process (crawl, worker, serve) log of them. The pool and maintenance
// survive these on their own; without a log line an operator would never learn they happened.
import { errorMessage } from '../errors.ts';
import { log } from '../log.ts';
import type { MaintenanceEvent, WorkerEvent } from '../worker/index.ts';

export function logWorkerEvent(event: WorkerEvent): void {
  if (event.type === 'db_error') {
    log.warn(
      `database unavailable during ${event.during}; retrying in ${event.retryInMs} ms (${errorMessage(event.error)})`,
    );
  } else if (event.type === 'error') {
    log.error(`worker error during ${event.during}: ${errorMessage(event.error)}`);
  } else if (event.type === 'discovery') {
    // A site without a sitemap is normal, so its 404s are not worth a warning.
    for (const warning of event.warnings) log.info(`sitemap: ${warning}`);
    if (event.error) log.warn(`sitemap discovery failed: ${errorMessage(event.error)}`);
    else log.debug(`sitemap discovery: ${event.urls} URL(s) queued`);
  }
}

export function logMaintenanceEvent(event: MaintenanceEvent): void {
  if (event.type === 'error')
    log.warn(`maintenance${event.pass ? ` (${event.pass})` : ''}: ${errorMessage(event.error)}`);
}
