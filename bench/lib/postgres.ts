// A throwaway PostgreSQL for scenario 7, the one the tests start (scripts/throwaway-servers.ts): initdb into a
// temporary folder, started on 127.0.0.1 and a free port, trust authentication, stopped and deleted afterwards.
// Unlike the tests' server it keeps PostgreSQL's default durability (fsync, synchronous_commit on): the audit is
// measured against a database that commits the way a deployed one does.
import { startThrowawayPostgres } from '../../scripts/throwaway-servers.ts';

/** A running throwaway PostgreSQL. */
export interface BenchPostgres {
  /** The database URL, as the superuser `postgres`. */
  url: string;
  version: string;
  /** The postmaster and its children (backends, checkpointer, WAL writer): their CPU is the bench's, not someone else's. */
  pids(): number[];
  close(): Promise<void>;
}

/** Starts a throwaway PostgreSQL, or returns why there is none (no binaries, no way to run them). */
export async function startPostgres(): Promise<BenchPostgres | string> {
  const pg = await startThrowawayPostgres({ prefix: 'sb-bench-pg-', durable: true, maxConnections: 50, shutdown: 'fast', hint: 'apt-get install postgresql, or set PG_BIN' });
  if (typeof pg === 'string') return pg;
  return { url: pg.url(), version: await pg.version(), pids: pg.pids, close: pg.close };
}
