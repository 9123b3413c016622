// The tenants of `npm run bench:realtime`: organisations (operator plan, so quotas never stop a claim) of
// members who are real auth.users rows with live auth.sessions, their access tokens signed with the server's
// secret as test/support/api.ts signs them, and one running job per organisation whose pending tasks the
// bench tops up before each client count.
import { randomUUID } from 'node:crypto';
import { signHs256 } from '../src/auth/jwt.ts';
import type { Sql } from '../src/db/client.ts';
import { insertJob, startJob } from '../src/queue/jobs.ts';
import { SITEMAP_PRIORITY_BASE } from '../src/queue/priorities.ts';
import { enqueueUrls } from '../src/queue/tasks.ts';

/** URLs per enqueue_urls call, as sitemap discovery enqueues them. */
const ENQUEUE_BATCH = 500;
/** Each job's concurrency, as bench:queue's jobs: a claim of more than this spans several jobs. */
const JOB_CONCURRENCY = 20;
/** Long enough for the whole run: a token expiring mid-run would end its channel. */
const TOKEN_SECONDS = 4 * 3600;

export interface BenchOrg {
  id: string;
  index: number;
  jobId: string;
  root: string;
  /** Member tokens, owner first. */
  tokens: string[];
  /** URLs enqueued so far, for the next URL's name. */
  enqueued: number;
}

export async function createTenants(
  sql: Sql,
  secret: string,
  orgCount: number,
  usersPerOrg: number,
): Promise<BenchOrg[]> {
  const orgs: BenchOrg[] = [];
  for (let index = 0; index < orgCount; index++) {
    const users = Array.from({ length: usersPerOrg }, (_, u) => ({
      id: randomUUID(),
      session: randomUUID(),
      email: `u${u}.o${index}@bench.test`,
    }));
    const [org] = await sql<{ id: string }[]>`
      insert into organisations (name, plan_id) values (${`Bench ${index}`}, 'operator') returning id`;
    await sql`
      insert into auth.users (id, aud, role, email, email_confirmed_at, created_at, updated_at)
      select id, 'authenticated', 'authenticated', email, now(), now(), now()
      from unnest(${users.map((u) => u.id)}::uuid[], ${users.map((u) => u.email)}::text[]) as x(id, email)`;
    await sql`
      insert into auth.sessions (id, user_id, created_at, updated_at)
      select s, u, now(), now() from unnest(${users.map((u) => u.session)}::uuid[], ${users.map((u) => u.id)}::uuid[]) as x(s, u)`;
    await sql`
      insert into organisation_members (organisation_id, user_id, role)
      select ${org!.id}, u, case when ord = 1 then 'owner' else 'member' end
      from unnest(${users.map((u) => u.id)}::uuid[]) with ordinality as x(u, ord)`;
    const root = `https://site-${index}.bench.test/`;
    const job = await insertJob(sql, {
      organisationId: org!.id,
      rootUrl: root,
      maxPages: 1_000_000,
      concurrency: JOB_CONCURRENCY,
    });
    const tokens = await Promise.all(
      users.map((u) =>
        signHs256(
          secret,
          { sub: u.id, role: 'authenticated', aud: 'authenticated', email: u.email, session_id: u.session },
          TOKEN_SECONDS,
        ),
      ),
    );
    orgs.push({ id: org!.id, index, jobId: job.id, root, tokens, enqueued: 0 });
  }
  return orgs;
}

/** Enqueues until every job has at least `perJob` pending tasks, and starts the jobs not yet running. */
export async function topUp(sql: Sql, orgs: BenchOrg[], perJob: number): Promise<number> {
  let added = 0;
  for (const org of orgs) {
    const [job] = await sql<{ pending: number; status: string }[]>`
      select pending_tasks as pending, status from jobs where id = ${org.jobId}`;
    if (job!.status !== 'pending' && job!.status !== 'running') {
      throw new Error(`job ${org.jobId} is ${job!.status}: it ran out of tasks; raise the top-up margin`);
    }
    for (let missing = perJob - job!.pending; missing > 0; missing -= ENQUEUE_BATCH) {
      const urls = Array.from(
        { length: Math.min(missing, ENQUEUE_BATCH) },
        () => `${org.root}p/${org.enqueued++}`,
      );
      const { inserted } = await enqueueUrls(sql, org.jobId, urls, {
        source: 'sitemap',
        priorities: urls.map(() => SITEMAP_PRIORITY_BASE),
      });
      added += inserted.length;
    }
    if (job!.status === 'pending') await startJob(sql, org.jobId);
  }
  return added;
}
