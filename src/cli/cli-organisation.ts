// `bbb crawl` runs without users or logins: its jobs belong to one local organisation, created on first use.
// It is the row flagged is_cli, a column no tenant can set or change; its name means nothing, because any
// tenant can rename their own organisation to anything, "cli" included. The flag's unique index lets two
// crawls starting at once against a shared database create it only once.
import type { Sql } from '../db/client.ts';

export async function cliOrganisationId(sql: Sql): Promise<string> {
  // The operator runs the CLI on their own database; plan limits exist for tenants of a hosted service, so
  // the CLI's organisation is on the unlisted 'operator' plan, which no quota stops.
  await sql`
    insert into organisations (name, plan_id, is_cli) values ('cli', 'operator', true)
    on conflict (is_cli) where is_cli do nothing`;
  const [found] = await sql<{ id: string }[]>`select id from organisations where is_cli`;
  return found!.id;
}
