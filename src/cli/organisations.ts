// `bbb organisations set-plan <org-id> <plan>`: the operator's way to change a plan (until billing does it).
// Tenants cannot: the API refuses a plan_id and the database grants them no write to organisations.plan_id,
// so this runs as the connection's own role against the configured database.
import type { Queryable } from '../db/client.ts';
import { isUuid } from '../db/uuid.ts';
import { withDatabase } from './database.ts';
import { UsageError } from './errors.ts';

export interface PlanChange {
  id: string;
  name: string;
  from: string;
  to: string;
}

/** Sets the plan; any plan in the plans table, unlisted ones (the operator's) included. */
export async function setOrganisationPlan(
  sql: Queryable,
  orgId: string,
  planId: string,
): Promise<PlanChange> {
  if (!isUuid(orgId)) {
    throw new UsageError(
      `"${orgId}" is not an organisation id: give its UUID (GET /v1/organisations shows it).`,
    );
  }
  const plans = (await sql<{ id: string }[]>`select id from plans order by daily_page_quota, id`).map(
    (p) => p.id,
  );
  if (!plans.includes(planId)) {
    throw new UsageError(`No plan "${planId}": choose one of ${plans.join(', ')}.`);
  }
  // The old plan is read in the same statement that changes it, so the message says what really changed.
  const [row] = await sql<PlanChange[]>`
    update organisations o set plan_id = ${planId}
    from organisations before
    where o.id = ${orgId} and before.id = o.id
    returning o.id, o.name, before.plan_id as from, o.plan_id as to`;
  if (!row) throw new UsageError(`No organisation has id ${orgId}.`);
  return row;
}

export async function organisationsSetPlanCommand(
  orgId: string,
  planId: string,
  flags: { dataDir?: string },
): Promise<void> {
  const change = await withDatabase(flags.dataDir, 'bbb organisations', (db) =>
    setOrganisationPlan(db.sql, orgId, planId),
  );
  const what =
    change.from === change.to ? `was already on plan ${change.to}` : `plan ${change.from} → ${change.to}`;
  process.stdout.write(`organisation ${change.id} (${change.name}): ${what}\n`);
}
