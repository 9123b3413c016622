import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { asUser } from '../../src/db/as-user.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob } from '../support/jobs.ts';

const db = await testDatabase();

describe('asUser', () => {
  test('runs as the JWT role with its claims, transaction-locally', async () => {
    const sub = randomUUID();
    const row = await asUser(db.sql, { sub, role: 'authenticated', email: 'u@example.com' }, async (tx) => {
      const [r] =
        await tx`select current_user as role, auth.uid()::text as uid, auth.jwt() ->> 'email' as email`;
      return r;
    });
    assert.deepEqual({ ...row }, { role: 'authenticated', uid: sub, email: 'u@example.com' });
    // Nothing leaks to the next query on the pool.
    const [after] = await db.sql`select current_user as role, auth.uid() as uid`;
    assert.notEqual(after?.role, 'authenticated');
    assert.equal(after?.uid, null);
  });

  test('RLS is the boundary: with no policy an authenticated user sees no rows, the service role sees all', async () => {
    const job = await makeJob(db.sql, { host: 'rls.example' });
    await enqueueUrls(db.sql, job, ['https://rls.example/']);
    const asAuth = await asUser(db.sql, { sub: randomUUID(), role: 'authenticated' }, async (tx) => {
      const [j] = await tx`select count(*)::int as n from jobs`;
      const [t] = await tx`select count(*)::int as n from tasks`;
      return [j?.n, t?.n];
    });
    assert.deepEqual(asAuth, [0, 0]);
    const asService = await asUser(db.sql, { role: 'service_role' }, async (tx) => {
      const [j] = await tx`select count(*)::int as n from jobs where id = ${job}`;
      return j?.n;
    });
    assert.equal(asService, 1);
  });

  test('queue functions are not callable by API roles', async () => {
    const job = await makeJob(db.sql, { host: 'rpc.example' });
    for (const role of ['anon', 'authenticated'] as const) {
      await assert.rejects(
        asUser(db.sql, { role }, (tx) => tx`select * from claim_tasks('x', 1)`),
        /permission denied for function claim_tasks/,
      );
      await assert.rejects(
        asUser(
          db.sql,
          { role },
          (tx) => tx`select * from enqueue_urls(${job}::uuid, array['https://rpc.example/'])`,
        ),
        /permission denied for function enqueue_urls/,
      );
    }
  });

  test('an unknown role is refused before touching the database', async () => {
    await assert.rejects(
      asUser(db.sql, { role: 'postgres' as never }, async () => 1),
      /role must be anon, authenticated or service_role/,
    );
  });
});
