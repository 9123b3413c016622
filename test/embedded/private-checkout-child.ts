// Runs from a copy of the checkout inside a private directory (private-checkout.test.ts), so that its
// node_modules are the private ones: starts the embedded PostgreSQL on <dataDir> twice, then the test suite's
// throwaway server, and prints what each server says about itself as one line of JSON.
import { realpathSync } from 'node:fs';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { freePort } from '../../src/db/port.ts';
import { openScratchServer } from '../support/scratch-server.ts';

const dataDir = process.argv[2]!;
// Not the preferred port, which concurrent test files contend for when the suite's server could not take it.
const port = await freePort();

/** The server's own view: its data directory, and the binary its backend runs (Linux only). */
async function describeServer(url: string, run: (sql: postgres.Sql) => Promise<unknown> = async () => {}) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await run(sql);
    const [row] = await sql<{ dir: string; pid: number }[]>`
      select current_setting('data_directory') as dir, pg_backend_pid() as pid`;
    const binary = process.platform === 'linux' ? realpathSync(`/proc/${row!.pid}/exe`) : undefined;
    return { dataDirectory: row!.dir, binary };
  } finally {
    await sql.end();
  }
}

const first = await startEmbeddedPostgres({ dataDir, port, fsync: false });
const firstRun = {
  cluster: first.dataDir,
  ...(await describeServer(first.url, async (sql) => {
    await sql`create table marker (v text)`;
    await sql`insert into marker values ('kept')`;
  })),
};
await first.stop();

const second = await startEmbeddedPostgres({ dataDir, port, fsync: false });
let kept: string | undefined;
const secondRun = {
  cluster: second.dataDir,
  ...(await describeServer(second.url, async (sql) => {
    kept = (await sql<{ v: string }[]>`select v from marker`)[0]?.v;
  })),
};
await second.stop();

const scratch = await openScratchServer({ fsync: false, port });
const scratchRun = await describeServer(scratch.adminUrl);
await scratch.close();

process.stdout.write(`${JSON.stringify({ firstRun, secondRun, kept, scratchRun })}\n`);
