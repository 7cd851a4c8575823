// Reconnects: backoff after unexpected closes, what happens to requests meanwhile, and when the client stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type CloseInfo } from '@switchboard/client';
import { CloseCode, definePlug, ErrorCode, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { deferred, nextEvent, nextValue } from './helpers.ts';

const fast = { initialDelayMs: 20, factor: 2, jitter: 0, maxDelayMs: 1000 };

function plugWith(stall: Promise<void>, started: () => void) {
  return definePlug({
    name: 'work',
    messages: {
      'work.add': {
        input: z.object({ a: z.number(), b: z.number() }),
        handler: (data) => ({ sum: data.a + data.b }),
      },
      'work.stall': {
        input: z.object({}),
        handler: async () => {
          started();
          await stall;
          return { done: true };
        },
      },
      'work.echo': {
        input: z.object({ text: z.string() }),
        handler(data, ctx) {
          ctx.send('work.echoed', data);
        },
      },
    },
  });
}

test('a dropped link fails in-flight requests at once; requests and sends made meanwhile wait for the reconnect', async () => {
  const stall = deferred();
  const started = deferred();
  await using t = await startTestServer({ plugs: [plugWith(stall.promise, started.resolve)] });
  using client = connect(t.wsUrl, { reconnect: fast });
  await client.ready;
  const firstId = client.connectionId;

  const inFlight = client.request('work.stall', {});
  await started.promise;
  const closed = nextEvent(client.events, 'close');
  t.dropConnections();
  try {
    await assert.rejects(inFlight, { code: ErrorCode.disconnected });
  } finally {
    stall.resolve();
  }
  const info = await closed;
  // No close frame: the link failed as it would on a network error.
  assert.equal(info.code, 1006);
  assert.equal(info.willReconnect, true);
  assert.equal(info.attempt, 1);
  assert.equal(info.delayMs, 20);
  assert.equal(client.state, 'reconnecting');

  const echoed = nextValue((callback) => client.on('work.echoed', callback));
  client.send('work.echo', { text: 'queued' });
  assert.deepEqual(await client.request('work.add', { a: 1, b: 2 }), { sum: 3 });
  assert.deepEqual(await echoed, { text: 'queued' });
  assert.equal(client.state, 'open');
  assert.notEqual(client.connectionId, firstId);
});

test('backoff grows while the server is down, and the client is back after a restart', async () => {
  await using t = await startTestServer({ plugs: [plugWith(Promise.resolve(), () => undefined)] });
  using client = connect(t.wsUrl, { reconnect: fast });
  await client.ready;

  const closes: CloseInfo[] = [];
  const threeFailures = new Promise<void>((resolve) => {
    client.events.on('close', (info) => {
      closes.push(info);
      if (closes.length === 3) resolve();
    });
  });
  await t.close();
  await threeFailures;
  const reopened = nextEvent(client.events, 'state', (change) => change.state === 'open');
  await t.restart();
  await reopened;

  assert.deepEqual(closes.slice(0, 3).map((info) => info.delayMs), [20, 40, 80]);
  assert.deepEqual(closes.slice(0, 3).map((info) => info.attempt), [1, 2, 3]);
  for (let i = 1; i < closes.length; i++) assert.ok(closes[i]!.delayMs! >= closes[i - 1]!.delayMs!);
  assert.ok(closes.every((info) => info.willReconnect));
  assert.deepEqual(await client.request('work.add', { a: 2, b: 2 }), { sum: 4 });

  // A successful connection resets the backoff.
  const next = nextEvent(client.events, 'close');
  t.dropConnections();
  const dropped = await next;
  assert.equal(dropped.code, 1006);
  assert.equal(dropped.delayMs, 20);
});

test('after 1008 (rate limit) the client waits longer before its first retry', async () => {
  await using t = await startTestServer({
    plugs: [plugWith(Promise.resolve(), () => undefined)],
    limits: { rateLimit: { messagesPerSecond: 1, burst: 1, closeAfter: 2, windowMs: 10_000 } },
  });
  using client = connect(t.wsUrl, { reconnect: fast });
  await client.ready;
  const closed = nextEvent(client.events, 'close');
  for (let i = 0; i < 5; i++) client.send('work.echo', { text: String(i) });
  const info = await closed;
  assert.equal(info.code, CloseCode.policyViolation);
  assert.equal(info.willReconnect, true);
  // 20 ms · 2^4 instead of 20 ms: the first retry waits as long as the fifth would.
  assert.equal(info.delayMs, 320);
});

test('no reconnect after a close code that forbids it (4004)', async () => {
  await using t = await startTestServer({ plugs: [plugWith(Promise.resolve(), () => undefined)] });
  using client = connect(t.wsUrl, { reconnect: fast });
  await client.ready;
  const closed = nextEvent(client.events, 'close');
  const stateClosed = nextEvent(client.events, 'state', (change) => change.state === 'closed');
  t.server.connection(client.connectionId!)?.close(CloseCode.kicked, 'removed by an admin');
  const info = await closed;
  assert.equal(info.code, CloseCode.kicked);
  assert.equal(info.willReconnect, false);
  await stateClosed;
  assert.equal(client.state, 'closed');
  await assert.rejects(client.request('work.add', { a: 1, b: 1 }), { code: ErrorCode.disconnected });
  assert.throws(() => client.send('work.echo', { text: 'x' }), { code: ErrorCode.disconnected });
});

test('close() fails pending requests, closes the socket and never reconnects', async () => {
  const stall = deferred();
  const started = deferred();
  await using t = await startTestServer({ plugs: [plugWith(stall.promise, started.resolve)] });
  const client = connect(t.wsUrl, { reconnect: fast });
  await client.ready;
  const pending = client.request('work.stall', {});
  await started.promise;
  const serverSaw = new Promise<number>((resolve) => t.server.events.once('close', (_connection, code) => resolve(code)));
  const closed = nextEvent(client.events, 'close');
  client.close();
  try {
    await assert.rejects(pending, { code: ErrorCode.disconnected });
  } finally {
    stall.resolve();
  }
  assert.deepEqual(await closed, { code: CloseCode.normal, reason: 'client closed', willReconnect: false });
  assert.equal(client.state, 'closed');
  assert.equal(await serverSaw, CloseCode.normal);
  client.close();
  await assert.rejects(client.request('work.add', { a: 1, b: 1 }), { code: ErrorCode.disconnected });
});

test('ready rejects when the client closes before it was ever open', async () => {
  await using t = await startTestServer({ plugs: [] });
  const client = connect(t.wsUrl);
  client.close();
  await assert.rejects(client.ready, { code: ErrorCode.disconnected });

  // Nothing listens there any more: two failed attempts, then the client gives up.
  const url = t.wsUrl;
  await t.close();
  const doomed = connect(url, { reconnect: { ...fast, maxAttempts: 2 } });
  const closes: CloseInfo[] = [];
  doomed.events.on('close', (info) => closes.push(info));
  await assert.rejects(doomed.ready, { code: ErrorCode.disconnected });
  assert.equal(doomed.state, 'closed');
  assert.deepEqual(closes.map((info) => info.willReconnect), [true, true, false]);
});

test('a link that stops answering $ping is dropped and replaced', async () => {
  await using t = await startTestServer({
    plugs: [plugWith(Promise.resolve(), () => undefined)],
    // Swallow $ping replies: to the client the link looks dead.
    hooks: { beforeSend: (envelope) => (envelope.type === '$ping' ? false : undefined) },
  });
  using client = connect(t.wsUrl, { reconnect: fast, heartbeatMs: 50, requestTimeoutMs: 100 });
  await client.ready;
  const firstId = client.connectionId;
  const info = await nextEvent(client.events, 'close');
  assert.equal(info.code, 1006);
  assert.equal(info.willReconnect, true);
  await nextEvent(client.events, 'state', (change) => change.state === 'open');
  assert.notEqual(client.connectionId, firstId);
});
