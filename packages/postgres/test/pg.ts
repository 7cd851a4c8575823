// A throwaway PostgreSQL for a test file (scripts/throwaway-servers.ts): initdb into a temporary folder, started on
// 127.0.0.1 and a free port, trust authentication, no durability (fsync off), stopped and deleted after the file; as
// root, run as the `postgres` user (or `nobody`, or PG_TEST_USER). Without binaries, a banner and a skip.
import postgres from 'postgres';
import { skipBanner, startThrowawayPostgres, type ThrowawayPostgres } from '../../../scripts/throwaway-servers.ts';

/** A running throwaway PostgreSQL. */
export interface TestPostgres extends ThrowawayPostgres {
  /** Creates a new empty database (`sb_test_<n>`) and returns its URL. */
  createDatabase(): Promise<string>;
}

/**
 * Starts a throwaway PostgreSQL, or returns the reason there is none (after printing it in a banner to
 * stderr) when the machine has no PostgreSQL binaries. A server that exists but fails to start throws.
 *
 * @example
 * const pg = await startTestPostgres();
 * if (typeof pg === 'string') test('PostgresStore', { skip: pg }, () => {});
 * else after(() => pg.close());
 */
export async function startTestPostgres(): Promise<TestPostgres | string> {
  const pg = await startThrowawayPostgres({ prefix: 'sb-pg-', user: process.env.PG_TEST_USER });
  if (typeof pg === 'string') {
    skipBanner('POSTGRESQL TESTS', pg, 'Install PostgreSQL with "apt-get install -y postgresql" (or set PG_BIN to its bin folder) to run them');
    return pg;
  }
  // No per-connection type query, as in PostgresStore: this connection outlives the outage tests' restarts.
  const admin = postgres(pg.url(), { max: 1, onnotice: () => {}, fetch_types: false });
  let databases = 0;
  return {
    ...pg,
    async createDatabase() {
      const name = `sb_test_${++databases}`;
      await admin`CREATE DATABASE ${admin(name)}`;
      return pg.url(name);
    },
    async close() {
      await admin.end({ timeout: 1 });
      await pg.close();
    },
  };
}
