// Readiness follows the database: a worker pool that cannot reach PostgreSQL is not ready (and /health/ready
// says so for `bbb serve`), is ready again once it reconnects, and `bbb worker` exits with code 3 after
// BBB_WORKER_DB_DEADLINE_MS so an orchestrator restarts it instead of keeping a worker that does nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp } from '../../src/api/app.ts';
import { createTokenVerifier } from '../../src/auth/jwt.ts';
import { connect } from '../../src/db/client.ts';
import { startWorkerPool } from '../../src/worker/index.ts';
import { TEST_JWT_SECRET } from '../support/api.ts';
import { startPrivatePostgres } from '../support/private-postgres.ts';
import { waitFor } from '../support/wait.ts';
import { runBbb } from './bbb-process.ts';

test('a pool that loses its database is not ready, /health/ready answers 503, and both recover', async () => {
  const pg = await startPrivatePostgres();
  const sql = connect(pg.url, { max: 4 });
  const pool = startWorkerPool({ sql, pollMs: 50 });
  const app = createApp({
    sql,
    workers: pool,
    verifyToken: createTokenVerifier({ secret: TEST_JWT_SECRET }),
    jwtExpirySeconds: 3600,
    authServer: false,
    loginRateLimit: 100,
    bodyLimitBytes: 1024,
  });
  const ready = async () => (await app.request('/health/ready')).status;
  try {
    await waitFor('the pool to have reached the database', () => pool.readiness().lastDbOkAt !== null);
    assert.equal(pool.readiness().ready, true);
    assert.equal(await ready(), 200);
    await pg.stop();
    await waitFor('the pool to notice', () => !pool.readiness().ready);
    assert.equal(await ready(), 503);
    await pg.start();
    await waitFor('the pool to be ready again', () => pool.readiness().ready, { timeoutMs: 30_000 });
    assert.equal(await ready(), 200);
  } finally {
    await pool.stop({ deadlineMs: 1000 });
    await sql.end({ timeout: 1 });
  }
});

test('bbb worker exits with code 3 once the database has been unreachable past its deadline', async () => {
  const pg = await startPrivatePostgres();
  const run = runBbb(['worker'], { DATABASE_URL: pg.url, BBB_WORKER_DB_DEADLINE_MS: '5000' });
  await run.waitForStderr(/worker running against/);
  await pg.stop();
  const { code, stderr } = await run.done;
  assert.equal(code, 3);
  assert.match(
    stderr,
    /cannot reach the database for 5 s \(BBB_WORKER_DB_DEADLINE_MS\); exiting with code 3/,
  );
});
