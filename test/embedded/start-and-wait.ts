// Helper process for the crash test: start the cluster, report the port, then wait to be killed.
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

const pg = await startEmbeddedPostgres({ dataDir: process.argv[2]!, fsync: false });
process.stdout.write(`ready ${pg.port}\n`);
setInterval(() => {}, 1 << 30);
