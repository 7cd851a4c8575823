// Records: every connection and every message in the store (SQLite here), payloads redacted, a fan-out once
// with its recipients, nothing lost when the database is locked away for a while, revocations kept across a restart.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { definePlug, MemoryStore, SqliteStore, z, type AuditEntry, type AuditRecord, type ServerOptions } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'sb-recorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const echo = definePlug({
  name: 'echo',
  pushes: { 'echo.all': z.object({ n: z.number() }) },
  messages: {
    'echo.say': { input: z.object({ n: z.number(), password: z.string().optional() }), handler: (data) => ({ n: data.n }) },
    'echo.all': {
      input: z.object({ n: z.number() }),
      handler(data, ctx) {
        ctx.server.broadcast('echo.all', { n: data.n });
        return {};
      },
    },
  },
});

const noLimits = { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0, connectionsPerSecond: 0 } };

function options(file: string, extra: Partial<ServerOptions> = {}): ServerOptions {
  return { plugs: [echo], limits: noLimits, node: 'test-node', store: new SqliteStore({ file, busyTimeoutMs: 20 }), audit: { flushMs: 20 }, ...extra };
}

async function audit(url: string, query = '', token?: string): Promise<AuditRecord[]> {
  const response = await fetch(`${url}/admin/audit?limit=10000${query}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  return ((await response.json()) as { records: AuditRecord[] }).records;
}

async function until(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('every message in and out is recorded with its connection, type, size and outcome; a request once with its reply, a fan-out once', async () => {
  const file = join(dir, `db-${++n}.db`);
  await using t = await startTestServer(options(file));
  await using a = await RawClient.connect(t.wsUrl);
  await using b = await RawClient.connect(t.wsUrl);
  const sent = 200;
  for (let i = 0; i < sent; i++) await a.request('echo.say', { n: i, password: 'hunter2' });
  await b.request('echo.all', { n: 1 });
  await a.request('nope.nothing', {});
  await until(async () => (await audit(t.url, '&type=message.in')).length >= sent + 2, 'the inbound records');
  const says = (await audit(t.url, '&type=message.in&messageType=echo.say'));
  assert.equal(says.length, sent, 'one record per message received, none lost');
  assert.deepEqual(says[0]!.data?.payload, { n: sent - 1, password: '[redacted]' });
  assert.equal(says[0]!.outcome, 'ok');
  assert.ok((says[0]!.size ?? 0) > 10);
  assert.equal(new Set(says.map((record) => record.connectionId)).size, 1, 'all from the one connection');
  // A request is recorded once, with its reply.
  assert.ok(says.every((record) => record.reply?.outcome === 'ok' && record.reply.at >= record.at && record.reply.size > 10), JSON.stringify(says[0]));
  assert.deepEqual(says[0]!.reply?.data, { payload: { n: sent - 1 } });
  assert.deepEqual(await audit(t.url, '&type=message.out&messageType=echo.say'), [], 'no reply is recorded apart from its request');
  const fanouts = await audit(t.url, '&type=message.fanout&messageType=echo.all');
  assert.equal(fanouts.length, 1, 'a broadcast is one record');
  assert.equal(fanouts[0]!.recipients, 2);
  const unknown = await audit(t.url, '&type=message.in&messageType=nope.nothing');
  assert.equal(unknown[0]!.outcome, 'unknown_type');
  assert.equal(unknown[0]!.reply?.outcome, 'unknown_type', 'the refusal is its reply');
  // Admin actions are audited too (writes and refused requests; successful reads are not actions).
  await fetch(`${t.url}/admin/resources/nothing`, { method: 'DELETE' });
  await until(async () => (await audit(t.url, '&type=admin.request')).length > 0, 'the admin action');
  const actions = await audit(t.url, '&type=admin.request');
  assert.deepEqual(actions.map((record) => [record.data?.method, record.data?.path]), [['DELETE', '/resources/nothing']]);
});

test('every admin request but a successful read is recorded: the token refused, a missing route, a bad body, and a write with its body redacted', async () => {
  const file = join(dir, `db-${++n}.db`);
  const token = 'an-admin-token-for-the-audit-test';
  await using t = await startTestServer(options(file, { adminToken: token }));
  const call = (path: string, init: RequestInit & { token?: string } = {}) =>
    fetch(`${t.url}/admin${path}`, { ...init, headers: { authorization: `Bearer ${init.token ?? token}`, 'content-type': 'application/json' } });
  assert.equal((await call('/connections', { token: 'a-wrong-token-of-the-same-length!' })).status, 401);
  assert.equal((await call('/nowhere')).status, 404);
  assert.equal((await call('/publish', { method: 'POST', body: '{"channel":' })).status, 400);
  assert.equal((await call('/publish', { method: 'POST', body: JSON.stringify({ channel: 'lobby', event: 'note', data: { text: 'hi', password: 'hunter2' } }) })).status, 200);
  assert.equal((await call('/connections')).status, 200, 'a successful read');
  const recorded = async () => (await audit(`${t.url}`, '&type=admin.request', token)).reverse();
  await until(async () => (await recorded()).length >= 4, 'the admin requests');
  const actions = await recorded();
  assert.deepEqual(
    actions.map((record) => [record.data?.method, record.data?.path, record.data?.status, record.data?.authorized]),
    [
      ['GET', '/connections', 401, false],
      ['GET', '/nowhere', 404, true],
      ['POST', '/publish', 400, true],
      ['POST', '/publish', 200, true],
    ],
  );
  // What the write sent, as its payload, redacted as a message's is; what was refused unread has none.
  assert.deepEqual(actions[3]!.data?.payload, { channel: 'lobby', event: 'note', data: { text: 'hi', password: '[redacted]' } });
  assert.ok(actions.slice(0, 3).every((record) => record.data?.payload === undefined), JSON.stringify(actions));
});

test('connections are recorded with how they ended and their traffic', async () => {
  const file = join(dir, `db-${++n}.db`);
  await using t = await startTestServer(options(file));
  const client = await RawClient.connect(t.wsUrl, { headers: { 'user-agent': 'recorder-test/1' } });
  await client.request('echo.say', { n: 1 });
  client.ws.close(1000, 'done');
  await client.waitClose();
  const history = async () => ((await (await fetch(`${t.url}/admin/connections/history`)).json()) as { connections: { userAgent: string; node: string; close?: { code: number; messagesIn: number; bytesOut: number } }[] }).connections;
  await until(async () => (await history())[0]?.close !== undefined, 'the close record');
  const [record] = await history();
  assert.equal(record!.userAgent, 'recorder-test/1');
  assert.equal(record!.node, 'test-node');
  assert.equal(record!.close!.code, 1000);
  assert.equal(record!.close!.messagesIn, 1);
  assert.ok(record!.close!.bytesOut > 0);
});

test('a locked database: records wait in the spool and are all written once it is free again', async () => {
  const file = join(dir, `db-${++n}.db`);
  const spool = join(dir, `spool-${n}.jsonl`);
  await using t = await startTestServer(options(file, { audit: { flushMs: 20, spool } }));
  await using client = await RawClient.connect(t.wsUrl);
  await client.request('echo.say', { n: 0 });
  await until(async () => (await audit(t.url, '&messageType=echo.say&type=message.in')).length === 1, 'the first record');
  // Another process holds the write lock: every write of the server fails (busy) until it lets go.
  const { DatabaseSync } = await import('node:sqlite');
  const blocker = new DatabaseSync(file);
  blocker.exec('PRAGMA busy_timeout = 0; BEGIN EXCLUSIVE');
  for (let i = 1; i <= 100; i++) await client.request('echo.say', { n: i });
  await until(async () => {
    const metrics = (await (await fetch(`${t.url}/admin/metrics`)).json()) as { audit: { storeAvailable: boolean; spoolBytes: number } };
    return !metrics.audit.storeAvailable && metrics.audit.spoolBytes > 0;
  }, 'the recorder to spool');
  // The spool's write stream opens its file asynchronously: it exists a moment after the first line is queued.
  await until(async () => existsSync(spool), 'the spool file');
  blocker.exec('ROLLBACK');
  blocker.close();
  await until(async () => (await audit(t.url, '&messageType=echo.say&type=message.in')).length === 101, 'the spooled records written', 15_000);
  const ns = (await audit(t.url, '&messageType=echo.say&type=message.in')).map((record) => (record.data?.payload as { n: number }).n).sort((x, y) => x - y);
  assert.deepEqual(ns, Array.from({ length: 101 }, (_, i) => i), 'every record once');
  const metrics = (await (await fetch(`${t.url}/admin/metrics`)).json()) as { audit: { storeAvailable: boolean; dropped: number } };
  assert.equal(metrics.audit.storeAvailable, true);
  assert.equal(metrics.audit.dropped, 0);
  // The same numbers in Prometheus.
  const exposition = await (await fetch(`${t.url}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(exposition)?.[1]);
  assert.equal(value('switchboard_store_available'), 1);
  assert.ok(value('switchboard_audit_written_total') >= 101);
  assert.ok(value('switchboard_store_failures_total') >= 1);
  assert.equal(value('switchboard_audit_spool_bytes'), 0);
});

test('a replay that fails with nothing spooled after it is tried again, not forgotten, once the store is back', async () => {
  const file = join(dir, `db-${++n}.db`);
  const spool = join(dir, `spool-${n}.jsonl`);
  await using t = await startTestServer(options(file, { audit: { flushMs: 20, spool } }));
  await using client = await RawClient.connect(t.wsUrl);
  await client.request('echo.say', { n: 0 });
  await until(async () => (await audit(t.url, '&messageType=echo.say&type=message.in')).length === 1, 'the first record');
  const { DatabaseSync } = await import('node:sqlite');
  const blocker = new DatabaseSync(file);
  blocker.exec('PRAGMA busy_timeout = 0; BEGIN EXCLUSIVE');
  for (let i = 1; i <= 20; i++) await client.request('echo.say', { n: i });
  // Then nothing more: the first retry moves the spool aside to replay it and fails, leaving no spool file.
  await until(async () => {
    const metrics = (await (await fetch(`${t.url}/admin/metrics`)).json()) as { audit: { failures: number } };
    return metrics.audit.failures >= 2 && existsSync(`${spool}.replaying`) && !existsSync(spool);
  }, 'a replay that failed', 15_000);
  blocker.exec('ROLLBACK');
  blocker.close();
  await until(async () => (await audit(t.url, '&messageType=echo.say&type=message.in')).length === 21, 'the records of the failed replay written', 15_000);
  const metrics = (await (await fetch(`${t.url}/admin/metrics`)).json()) as { audit: { storeAvailable: boolean; spoolBytes: number; dropped: number } };
  assert.deepEqual([metrics.audit.storeAvailable, metrics.audit.spoolBytes, metrics.audit.dropped], [true, 0, 0]);
  assert.ok(!existsSync(`${spool}.replaying`));
});

test('revocations and disabled users persist: a restart does not give access back', async () => {
  const file = join(dir, `db-${++n}.db`);
  const secret = 'a-test-secret-of-at-least-32-characters!!';
  let t = await startTestServer(options(file, { auth: { secret } }));
  try {
    t.server.revoke('ada', ['call:echo.*']);
    t.server.disableUser('mallory', 'fraud');
    await t.close();
    t = await startTestServer(options(file, { auth: { secret } }));
    assert.ok(!t.server.grantsOf('ada').includes('call:echo.*'), 'the revocation survived the restart');
    const { SignJWT } = await import('jose');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime('1h').sign(new TextEncoder().encode(secret));
    await assert.rejects(RawClient.connect(`${t.wsUrl}?token=${token}`), /HTTP 403/);
    assert.ok((await audit(t.url, '&type=grants.revoke&identityId=ada')).length === 1);
  } finally {
    await t.close();
  }
});

test('behind a trusted proxy, the client is the address the proxy names; an untrusted peer cannot claim one', async () => {
  const file = join(dir, `db-${++n}.db`);
  await using t = await startTestServer(options(file, { trustProxy: ['127.0.0.1'] }));
  const viaProxy = await RawClient.connect(t.wsUrl, { headers: { 'x-forwarded-for': '198.51.100.9, 203.0.113.7' } });
  assert.deepEqual([...t.server.connections()].map((connection) => connection.remoteAddress), ['203.0.113.7'], 'the rightmost hop the trusted proxy added');
  await viaProxy[Symbol.asyncDispose]();
  await using untrusted = await startTestServer(options(join(dir, `db-${++n}.db`)));
  await using spoofing = await RawClient.connect(untrusted.wsUrl, { headers: { 'x-forwarded-for': '203.0.113.7' } });
  void spoofing;
  assert.deepEqual([...untrusted.server.connections()].map((connection) => connection.remoteAddress), ['127.0.0.1'], 'the header is ignored without a trusted proxy');
});

test('records are written from a worker thread (audit.thread, on by default), or on the main thread when it is off', async () => {
  const { ThreadStampStore } = await import('./fixtures/thread-stamp-store.ts');
  for (const thread of [true, false]) {
    const file = join(dir, `db-${++n}.db`);
    await using t = await startTestServer({ ...options(file), store: new ThreadStampStore({ file }), audit: { flushMs: 20, thread } });
    await using client = await RawClient.connect(t.wsUrl);
    await client.request('echo.say', { n: 1 });
    await until(async () => (await audit(t.url, '&type=message.in&messageType=echo.say')).length === 1, 'the record');
    const [record] = await audit(t.url, '&type=message.in&messageType=echo.say');
    const writtenBy = record!.data?.writtenBy as number;
    if (thread) assert.notEqual(writtenBy, 0, 'a worker thread wrote it');
    else assert.equal(writtenBy, 0, 'the main thread wrote it');
    // On Linux the writer thread yields to the event loop: its nice value is 10 above the process's (a thread's
    // own there; elsewhere it would be the whole process's, and is left alone).
    const niceness = record!.data?.niceness as number;
    const expected = thread && process.platform === 'linux' ? Math.min(19, getPriority(0) + 10) : getPriority(0);
    assert.equal(niceness, expected, 'the writer thread runs at a lower priority than the event loop');
  }
});

test('payloads are read from the frames off the message path and redacted however a field is spelled; hidden types keep none', async () => {
  for (const thread of [true, false]) {
    const file = join(dir, `db-${++n}.db`);
    await using t = await startTestServer({ ...options(file), audit: { flushMs: 20, thread } });
    await using client = await RawClient.connect(t.wsUrl);
    // The same field three ways: plainly, with an escape in its name (JSON.parse reads "password"), and nested.
    client.sendRaw('{"type":"echo.say","id":"a","data":{"n":1,"password":"plain"}}');
    client.sendRaw('{"type":"echo.say","id":"b","data":{"n":2,"pass\\u0077ord":"escaped"}}');
    client.sendRaw('{"type":"echo.say","id":"c","data":{"n":3}}');
    client.sendRaw('{"type":"$auth","id":"d","data":{"token":"not.a.jwt"}}');
    await until(async () => (await audit(t.url, '&type=message.in')).length >= 4, 'the requests');
    const inbound = (await audit(t.url, '&type=message.in')).reverse();
    const says = inbound.filter((record) => record.messageType === 'echo.say').map((record) => record.data);
    assert.deepEqual(says, [
      { payload: { n: 1, password: '[redacted]' }, id: 'a' },
      { payload: { n: 2, password: '[redacted]' }, id: 'b' },
      { payload: { n: 3 }, id: 'c' },
    ], `thread ${thread}`);
    const auth = inbound.find((record) => record.messageType === '$auth');
    assert.ok(auth !== undefined && auth.data === undefined, `$auth keeps no payload: ${JSON.stringify(auth)}`);
    const replies = inbound.filter((record) => record.messageType === 'echo.say').map((record) => record.reply?.data);
    assert.deepEqual(replies, [{ payload: { n: 1 } }, { payload: { n: 2 } }, { payload: { n: 3 } }]);
    assert.equal(auth.reply?.data, undefined, "$auth's reply keeps no payload either");
    const stored = (await audit(t.url)).map((record) => JSON.stringify(record)).join('\n');
    assert.ok(!stored.includes('plain') && !stored.includes('escaped') && !stored.includes('not.a.jwt'), 'no secret reached the store');
  }
});

/** A plug whose `slow.wait` answers once `release` is called, and whose `slow.never` never answers. */
function gatedPlug() {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const slow = definePlug({
    name: 'slow',
    messages: {
      'slow.wait': {
        input: z.object({ n: z.number() }),
        async handler(data) {
          await gate;
          return { n: data.n };
        },
      },
      'slow.never': { input: z.object({ n: z.number() }), handler: () => new Promise<never>(() => {}) },
    },
  });
  return { slow, release };
}

test('a request whose reply never goes out is recorded when its connection closes; one that reuses a waiting id is recorded at once', async () => {
  const file = join(dir, `db-${++n}.db`);
  const { slow, release } = gatedPlug();
  await using t = await startTestServer({ ...options(file), plugs: [echo, slow] });
  const client = await RawClient.connect(t.wsUrl);
  client.sendRaw('{"type":"slow.wait","id":1,"data":{"n":1}}');
  client.sendRaw('{"type":"slow.wait","id":1,"data":{"n":2}}');
  await until(async () => (await audit(t.url, '&messageType=slow.wait')).length === 1, 'the first request, its id reused');
  const [first] = await audit(t.url, '&messageType=slow.wait');
  assert.deepEqual([first!.data?.payload, first!.reply], [{ n: 1 }, undefined]);
  // The connection dies before the reply: the request waiting for it is recorded, without one.
  client.ws.terminate();
  await until(async () => (await audit(t.url, '&messageType=slow.wait')).length === 2, 'the request left waiting');
  const records = (await audit(t.url, '&messageType=slow.wait')).map((record) => [(record.data?.payload as { n: number }).n, record.reply]);
  assert.deepEqual(records.sort(), [[1, undefined], [2, undefined]]);
  release();
});

test('requests outstanding together each get their own reply, answered in any order; a close records the unanswered ones', async () => {
  const file = join(dir, `db-${++n}.db`);
  const { slow, release } = gatedPlug();
  await using t = await startTestServer({ ...options(file), plugs: [echo, slow] });
  const client = await RawClient.connect(t.wsUrl);
  // Three wait at the gate; a fourth, sent after them, is answered first; then the gate opens.
  const waiting = [1, 2, 3].map((id) => client.request('slow.wait', { n: id * 10 }));
  assert.equal((await client.request('echo.say', { n: 4 })).error, undefined);
  release();
  await Promise.all(waiting);
  // Two are never answered; one more is, after them; then the connection dies.
  client.sendRaw('{"type":"slow.never","id":"a","data":{"n":1}}');
  client.sendRaw('{"type":"slow.never","id":"b","data":{"n":2}}');
  assert.equal((await client.request('echo.say', { n: 5 })).error, undefined);
  client.ws.terminate();
  await until(async () => (await audit(t.url, '&messageType=slow.never')).length === 2, 'the unanswered requests, at the close');
  const answered = (await audit(t.url, '&messageType=slow.wait')).map((record) => [(record.data?.payload as { n: number }).n, record.reply?.data]);
  assert.deepEqual(answered.sort(), [[10, { payload: { n: 10 } }], [20, { payload: { n: 20 } }], [30, { payload: { n: 30 } }]]);
  const echoes = (await audit(t.url, '&messageType=echo.say')).map((record) => (record.reply?.data as { payload: { n: number } }).payload.n);
  assert.deepEqual(echoes.sort(), [4, 5]);
  const unanswered = (await audit(t.url, '&messageType=slow.never')).map((record) => [(record.data?.payload as { n: number }).n, record.reply]);
  assert.deepEqual(unanswered.sort(), [[1, undefined], [2, undefined]]);
});

test('steady traffic is written in full batches, not in what arrived during the last write; a lone record waits for flushMs', async () => {
  // A database that takes 10 ms per write, and says how many records each one held.
  const writes: number[] = [];
  class SlowStore extends MemoryStore {
    override async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
      if (entries.length > 0) writes.push(entries.length);
      await new Promise((resolve) => setTimeout(resolve, 10));
      return super.appendAudit(entries);
    }
  }
  const store = new SlowStore();
  const t = await startTestServer({ plugs: [echo], limits: noLimits, node: 'test-node', store, audit: { batchSize: 50, flushMs: 60_000, thread: false } });
  try {
    await using client = await RawClient.connect(t.wsUrl);
    // 400 round trips, 10 every 10 ms: fewer than a batch arrive while each write is in progress.
    for (let i = 0; i < 40; i++) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => client.request('echo.say', { n: i * 10 + k })));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // 402 records: the connection's, its $welcome, each request with its reply. 8 full batches; what is left
    // waits for flushMs.
    await until(async () => writes.reduce((sum, count) => sum + count, 0) === 399, `eight full batches (${writes.length} writes so far)`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(writes.reduce((sum, count) => sum + count, 0), 399, 'the records short of a batch wait for flushMs');
  } finally {
    // Closing writes what is left.
    await t.close();
  }
  // The first batch is $welcome's record, the connection's (written on its own), then 48 audit records.
  assert.deepEqual(writes, [1, 48, 50, 50, 50, 50, 50, 50, 50, 2]);
});
