// A server recording into PostgreSQL while PostgreSQL dies mid-run (`pg_ctl -m immediate stop`, as a crash)
// and comes back: the server keeps serving, its records wait in the spool (the metrics say so), and once the
// database is back every record is written, once. Under load from several connections at once, so that the
// count of rows is checked against the count of messages sent and received. Its own PostgreSQL: it stops it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlug, z, type AuditRecord } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { PostgresStore } from '@switchboard/postgres';
import { RawClient } from '../../server/test/helpers.ts';
import { startTestPostgres } from './pg.ts';

const pg = await startTestPostgres();
const dir = mkdtempSync(join(tmpdir(), 'sb-pg-outage-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const echo = definePlug({
  name: 'echo',
  pushes: { 'echo.all': z.object({ n: z.number() }) },
  messages: {
    'echo.say': { input: z.object({ n: z.number() }), handler: (data) => ({ n: data.n }) },
    'echo.all': {
      input: z.object({ n: z.number() }),
      handler(data, ctx) {
        ctx.server.broadcast('echo.all', { n: data.n });
        return {};
      },
    },
  },
});

const noLimits = { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0, connectionsPerSecond: 0 }, maxInFlight: 1000 };

async function until(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `n` requests of `type` from one client, all in flight at once (one socket write each, no waiting between). */
async function burst(client: RawClient, type: string, from: number, n: number): Promise<void> {
  const replies = await Promise.all(Array.from({ length: n }, (_, i) => client.request(type, { n: from + i }, 20_000)));
  for (const reply of replies) assert.equal(reply.error, undefined, JSON.stringify(reply.error));
}

if (typeof pg === 'string') {
  test('a server recording into PostgreSQL', { skip: `POSTGRESQL TESTS SKIPPED: ${pg}` }, () => {});
} else {
  after(() => pg.close());

  test('PostgreSQL dies mid-run: the server keeps serving, spools, and writes every record once it is back; rows match messages', async () => {
    const store = new PostgresStore({ url: await pg.createDatabase(), connectTimeoutMs: 2_000 });
    await using t = await startTestServer({ plugs: [echo], limits: noLimits, node: 'pg-node', store, audit: { flushMs: 20, spool: join(dir, 'spool.jsonl') } });
    const metrics = async () =>
      ((await (await fetch(`${t.url}/admin/metrics`)).json()) as { audit: { storeAvailable: boolean; spoolBytes: number; dropped: number; written: number } }).audit;
    const clients = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(t.wsUrl)));
    try {
      // Before the outage: 8 clients × 100 requests at once, and 10 broadcasts.
      await Promise.all(clients.map((client, c) => burst(client, 'echo.say', c * 1000, 100)));
      await burst(clients[0]!, 'echo.all', 0, 10);
      // 800 requests with their replies, 10 broadcasts with theirs, 10 fan-outs.
      await until(async () => (await metrics()).written >= 820, 'the first records written');

      await pg.stop();
      // During it: the same again. Every request is answered: the database is not on the message path.
      await Promise.all(clients.map((client, c) => burst(client, 'echo.say', c * 1000 + 100, 100)));
      await burst(clients[1]!, 'echo.all', 10, 10);
      await until(async () => {
        const audit = await metrics();
        return !audit.storeAvailable && audit.spoolBytes > 0;
      }, 'the recorder to notice and spool');

      await pg.start();
      // The recorder retries with a backoff of up to 30 s: within a minute of the database's return, then.
      await until(async () => {
        const audit = await metrics();
        return audit.storeAvailable && audit.spoolBytes === 0;
      }, 'the spool written to PostgreSQL', 60_000);
      assert.equal((await metrics()).dropped, 0, 'nothing dropped');

      // Count the rows: one per message received (with its reply), one per broadcast (with its recipients).
      const audit = async (query: string): Promise<AuditRecord[]> => {
        const response = await fetch(`${t.url}/admin/audit?limit=10000${query}`);
        assert.equal(response.status, 200);
        return ((await response.json()) as { records: AuditRecord[] }).records;
      };
      await until(async () => (await audit('&type=message.in&messageType=echo.say')).length >= 1600, 'every inbound row');
      const inbound = await audit('&type=message.in&messageType=echo.say');
      const ns = inbound.map((record) => (record.data?.payload as { n: number }).n).sort((a, b) => a - b);
      const expected = clients.flatMap((_, c) => Array.from({ length: 200 }, (_, i) => c * 1000 + i)).sort((a, b) => a - b);
      assert.deepEqual(ns, expected, 'every message received is one row, none lost, none twice');
      assert.equal(inbound.filter((record) => record.reply?.outcome === 'ok').length, 1600, 'every reply is in its request\'s row');
      assert.equal((await audit('&type=message.out&messageType=echo.say')).length, 0, 'and in no row of its own');
      const fanouts = await audit('&type=message.fanout&messageType=echo.all');
      assert.equal(fanouts.length, 20, 'each broadcast is one row');
      assert.ok(fanouts.every((record) => record.recipients === clients.length), 'with its recipient count');
    } finally {
      for (const client of clients) client.ws.terminate();
    }
  });
}
