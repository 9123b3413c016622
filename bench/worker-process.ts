// One worker process for `npm run bench:crawl`: the real pool against DATABASE_URL, politeness off for the
// local site, allowed to reach loopback. On SIGTERM it stops and prints its CPU time and peak RSS as JSON.
import { connect } from '../src/db/client.ts';
import { runWorkerProcess } from '../src/worker/index.ts';

const sql = connect(process.env.DATABASE_URL!, {
  max: 6,
  applicationName: 'bench worker',
  // As production workers: commits wait for the WAL flush unless BENCH_SYNC_COMMIT=off.
  synchronousCommit: process.env.BENCH_SYNC_COMMIT !== 'off',
});
const worker = runWorkerProcess({
  sql,
  pool: {
    concurrency: Number(process.env.BENCH_WORKER_CONCURRENCY ?? 64),
    batchSize: 100,
    crawl: { allowPrivateNetworks: true, politeness: { disabled: true } },
  },
  maintenance: { intervalMs: 1000 },
  signals: ['SIGTERM'],
});
process.stderr.write('ready\n');
await worker.done;
const usage = process.resourceUsage();
process.stdout.write(
  `${JSON.stringify({ cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, maxRssMb: usage.maxRSS / 1024 })}\n`,
);
await sql.end({ timeout: 5 });
