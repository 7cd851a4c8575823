// The PostgreSQL store against a real, throwaway PostgreSQL: the store contract (one database per store),
// migrations (two nodes at once, the advisory lock, a schema from a newer Switchboard), what PostgreSQL text
// cannot hold, batches larger than one INSERT, values that look like SQL.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import postgres from 'postgres';
import type { AuditEntry, Store } from '@switchboard/server';
import { storeContract } from '@switchboard/server/testing';
import { PostgresStore, POSTGRES_MIGRATION_LOCK, POSTGRES_SCHEMA_VERSION } from '@switchboard/postgres';
import { unsupportedServer } from '../src/postgres-store.ts';
import { startTestPostgres } from './pg.ts';

// The version check needs no server: only PostgreSQL 15 is at hand to run one.
test('PostgresStore: a server older than PostgreSQL 10 is refused (migrate() checks first), its version in the message', () => {
  assert.equal(
    unsupportedServer(90_624, '9.6.24'),
    'runs PostgreSQL 9.6.24; Switchboard needs PostgreSQL 10 or newer (its tables use identity columns): upgrade the server',
  );
  assert.equal(unsupportedServer(100_000, '10.0'), undefined);
  assert.equal(unsupportedServer(150_018, '15.18'), undefined);
});

const pg = await startTestPostgres();

if (typeof pg === 'string') {
  test('PostgresStore (contract, migrations)', { skip: `POSTGRESQL TESTS SKIPPED: ${pg}` }, () => {});
} else {
  after(() => pg.close());
  /** The database URL of each store the tests made, for `reopen` and for looking at the tables directly. */
  const urls = new WeakMap<Store, string>();
  const storeOn = (url: string, options: { poolSize?: number } = {}): PostgresStore => {
    const store = new PostgresStore({ url, ...options });
    urls.set(store, url);
    return store;
  };
  /** A direct connection to a database, closed by `await using`. */
  const direct = (url: string) => {
    const sql = postgres(url, { max: 2, onnotice: () => {} });
    return Object.assign(sql, { [Symbol.asyncDispose]: () => sql.end({ timeout: 1 }) });
  };
  const entry = (type: string, at: number, fields: Partial<AuditEntry> = {}): AuditEntry => ({ at, type, node: 'n1', ...fields });

  storeContract(
    'PostgresStore',
    async () => storeOn(await pg.createDatabase()),
    async (store) => {
      await store.close();
      const again = storeOn(urls.get(store)!);
      await again.migrate();
      return again;
    },
  );

  test('PostgresStore: nodes migrating at once wait for each other; each version is applied once', async () => {
    for (let round = 0; round < 3; round++) {
      const url: string = await pg.createDatabase();
      const stores: PostgresStore[] = [storeOn(url), storeOn(url), storeOn(url)];
      try {
        await Promise.all(stores.map((store) => store.migrate()));
        await using sql = direct(url);
        assert.deepEqual(
          (await sql<{ version: number }[]>`SELECT version FROM switchboard_migrations ORDER BY version`).map((row) => row.version),
          Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
        );
        await Promise.all(stores.map((store, i) => store.appendAudit([entry(`from.${i}`, i)])));
        assert.deepEqual((await stores[0]!.audit()).map((record) => record.type), ['from.2', 'from.1', 'from.0']);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    }
  });

  test('PostgresStore: migrate() holds the advisory lock: it waits while another session has it', async () => {
    const url = await pg.createDatabase();
    await using sql = direct(url);
    const holder = await sql.reserve();
    await holder`SELECT pg_advisory_lock(${POSTGRES_MIGRATION_LOCK})`;
    const store = storeOn(url);
    try {
      let settled = false;
      const migrating = store.migrate().finally(() => (settled = true));
      // Wait until the store's session is seen waiting on that lock (not a sleep: PostgreSQL says so).
      for (let attempt = 0; ; attempt++) {
        const waiting = await sql`
          SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = 'switchboard'`;
        if (waiting.length > 0) break;
        assert.ok(attempt < 200, 'migrate() never waited on the lock');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.equal(settled, false);
      assert.equal((await sql`SELECT to_regclass('switchboard_audit') AS t`)[0]!.t, null, 'nothing created while waiting');
      await holder`SELECT pg_advisory_unlock(${POSTGRES_MIGRATION_LOCK})`;
      await migrating;
      assert.notEqual((await sql`SELECT to_regclass('switchboard_audit') AS t`)[0]!.t, null);
    } finally {
      holder.release();
      await store.close();
    }
  });

  test('PostgresStore: a database with a newer schema is refused with a message that says so, and left as it was', async () => {
    const url = await pg.createDatabase();
    const store = storeOn(url);
    await store.migrate();
    await store.appendAudit([entry('kept', 1)]);
    await store.close();
    {
      await using sql = direct(url);
      await sql`INSERT INTO switchboard_migrations (version) VALUES (99)`;
    }
    const newer = storeOn(url);
    try {
      await assert.rejects(
        newer.migrate(),
        new RegExp(`PostgreSQL database 127\\.0\\.0\\.1:\\d+/sb_test_\\d+ has schema version 99, newer than this Switchboard \\(${POSTGRES_SCHEMA_VERSION}\\); upgrade Switchboard`),
      );
      await using sql = direct(url);
      assert.equal((await sql`SELECT count(*)::int AS n FROM switchboard_audit`)[0]!.n, 1);
    } finally {
      await newer.close();
    }
  });

  test('PostgresStore: U+0000 and lone surrogates in text become U+FFFD; audit details keep them, and any JSON string, as written', async () => {
    const store = storeOn(await pg.createDatabase());
    try {
      await store.migrate();
      await store.connectionOpened({ id: 'c\0', node: 'n1', pid: 1, remoteAddress: '::1', userAgent: 'a\0b', protocol: 'p', codec: 'json', connectedAt: 1 });
      await store.connectionClosed('c\0', { code: 1000, reason: 'bye\0', bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, closedAt: 2 });
      const connection = (await store.connection('c\0'))!;
      assert.deepEqual([connection.id, connection.userAgent, connection.close!.reason], ['c\uFFFD', 'a\uFFFDb', 'bye\uFFFD']);
      const data = { nul: 'a\0b', lone: '\ud800', emoji: '😀', quote: `"'\\`, nested: [{ '\0key': null }] };
      await store.appendAudit([entry('t\0', 1, { data, channel: 'x\0', room: 'r\ud800' })]);
      const [record] = await store.audit({ type: 't\0' });
      assert.deepEqual(record!.data, data);
      assert.equal(record!.channel, 'x\uFFFD');
      assert.equal(record!.room, 'r\uFFFD', 'a lone surrogate is replaced, not refused');
    } finally {
      await store.close();
    }
  });

  test('PostgresStore: values that look like SQL are only values', async () => {
    const store = storeOn(await pg.createDatabase());
    try {
      await store.migrate();
      const evil = `x'); DROP TABLE switchboard_audit; --`;
      await store.appendAudit([entry(evil, 1, { identityId: evil, data: { evil } })]);
      await store.saveGrants({ identityId: evil, set: [evil, '{a,b}', 'NULL', ''], added: ['"quoted"', 'back\\slash'], removed: [], updatedAt: 1 });
      assert.equal((await store.audit({ identityId: evil }))[0]!.type, evil);
      assert.deepEqual((await store.loadGrants()).grants, [{ identityId: evil, set: [evil, '{a,b}', 'NULL', ''], added: ['"quoted"', 'back\\slash'], removed: [], updatedAt: 1 }]);
    } finally {
      await store.close();
    }
  });

  test('PostgresStore: a large batch is one statement: kept in its order, refused whole when the database refuses a row', async () => {
    const store = storeOn(await pg.createDatabase(), { poolSize: 2 });
    try {
      await store.migrate();
      const bad = Array.from({ length: 2_500 }, (_, i) => entry('t', i, { size: i === 2_400 ? 1.5 : i }));
      await assert.rejects(store.appendAudit(bad), /bigint/);
      assert.deepEqual(await store.audit(), [], 'nothing of the refused batch is stored');
      await store.appendAudit(Array.from({ length: 2_500 }, (_, i) => entry('t', 7, { size: i, at: 1_000.25 + (i % 2) })));
      const records = await store.audit({ limit: 5_000 });
      assert.equal(records.length, 2_500);
      // Newest first, ties by append order: the odd sizes (at 1001.25), then the even ones, each latest first.
      assert.deepEqual(records.slice(0, 2).map((r) => [r.at, r.size]), [[1_001.25, 2_499], [1_001.25, 2_497]]);
      assert.deepEqual(records.slice(-2).map((r) => [r.at, r.size]), [[1_000.25, 2], [1_000.25, 0]]);
      const ids = records.map((r) => r.id);
      const bySize = [...records].sort((a, b) => a.size! - b.size!).map((r) => r.id);
      assert.ok(bySize.every((id, i) => i === 0 || id > bySize[i - 1]!), 'ids follow the batch order');
      assert.equal(new Set(ids).size, 2_500);
    } finally {
      await store.close();
    }
  });

  test('PostgresStore: a pool of one serves concurrent calls; the pool size must be a positive integer', async () => {
    assert.throws(() => new PostgresStore({ url: pg.url(), poolSize: 0 }), RangeError);
    assert.throws(() => new PostgresStore({ url: pg.url(), poolSize: 1.5 }), RangeError);
    const store = storeOn(await pg.createDatabase(), { poolSize: 1 });
    try {
      await store.migrate();
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.connectionOpened({ id: `c${i}`, node: 'n', pid: 1, remoteAddress: 'r', userAgent: 'u', protocol: 'p', codec: 'c', connectedAt: i })));
      assert.equal((await store.connections({ node: 'n' })).length, 20);
      assert.equal(await store.closeNode('n', { code: 1006, reason: '', bytesIn: 2 ** 53 - 1, bytesOut: 0, messagesIn: 0, messagesOut: 0, closedAt: 30 }), 20);
      assert.equal((await store.connection('c3'))!.close!.bytesIn, Number.MAX_SAFE_INTEGER);
    } finally {
      await store.close();
    }
  });

  test('PostgresStore: close() lets the calls running finish, then refuses new ones', async () => {
    const url = await pg.createDatabase();
    const store = storeOn(url, { poolSize: 2 });
    await store.migrate();
    // Batches large enough to be still running when close() is called.
    const batch = Array.from({ length: 5_000 }, (_, i) => entry('big', i));
    const running = [store.appendAudit(batch), store.appendAudit(batch), store.connections()];
    await store.close();
    await Promise.all(running);
    await assert.rejects(store.audit(), /the store is closed/);
    await store.close();
    const again = storeOn(url);
    try {
      assert.equal((await again.audit({ type: 'big', limit: 100_000 })).length, 10_000);
    } finally {
      await again.close();
    }
  });
}
