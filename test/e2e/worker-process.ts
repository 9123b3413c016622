// A worker as its own OS process, for the scale-out and crash tests: the real pool and maintenance against
// DATABASE_URL, allowed to reach the loopback fixture site, with short leases so a kill -9 is recovered fast.
import { connect } from '../../src/db/client.ts';
import { runWorkerProcess } from '../../src/worker/index.ts';

const sql = connect(process.env.DATABASE_URL!, { max: 4, applicationName: 'test worker' });
const worker = runWorkerProcess({
  sql,
  pool: {
    workerId: process.env.WORKER_ID!,
    concurrency: 4,
    leaseSeconds: Number(process.env.LEASE_SECONDS ?? 30),
    pollMs: 100,
    crawl: { allowPrivateNetworks: true, politeness: { disabled: true }, warmBaseDelayMs: 20 },
  },
  maintenance: { intervalMs: 300 },
  deadlineMs: 5_000,
});
process.stderr.write(`worker ${worker.pool.workerId} ready\n`);
await worker.done;
await sql.end({ timeout: 5 });
