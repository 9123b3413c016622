// `bbb crawl` runs without users or logins: its jobs belong to one local organisation named "cli", created on
// first use. Two crawls starting at once against a shared database must not create it twice, hence the lock.
import type { Sql } from '../db/client.ts';

export const CLI_ORGANISATION = 'cli';
// Any constant works; it only has to differ from the other advisory locks the app takes.
const LOCK_KEY = 727_000_002;

export async function cliOrganisationId(sql: Sql): Promise<string> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
    const [found] = await tx<{ id: string }[]>`
      select id from organisations where name = ${CLI_ORGANISATION} order by created_at limit 1`;
    if (found) return found.id;
    // The operator runs the CLI on their own database; plan limits exist for tenants of a hosted service, so
    // the CLI's organisation is on the unlisted 'operator' plan, which no quota stops.
    const [created] = await tx<{ id: string }[]>`
      insert into organisations (name, plan_id) values (${CLI_ORGANISATION}, 'operator') returning id`;
    return created!.id;
  }) as Promise<string>;
}
