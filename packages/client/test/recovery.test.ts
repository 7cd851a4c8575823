// Channel recovery through the SDK: after a destroyed socket, a subscription gets every message it missed,
// exactly once and in order, and is told whether it could; after a restart it is told it could not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientOptions } from '@switchboard/client';
import { startTestServer } from '@switchboard/server/testing';
import { nextEvent, nextValue } from './helpers.ts';

const fast: ClientOptions['reconnect'] = { initialDelayMs: 10, maxDelayMs: 50, jitter: 0 };
const options = {
  auth: { defaultGrants: ['call:*', 'subscribe:*', 'publish:*'] },
  channels: { history: { channels: ['feed.*'], maxPublications: 10_000, maxRecover: 10_000 } },
  limits: { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0, connectionsPerSecond: 0 } },
};

test('random socket drops while the server publishes: every message arrives once, in order, and recovered is true', async () => {
  await using t = await startTestServer(options);
  using reader = connect(t.wsUrl, { reconnect: fast });
  const got: number[] = [];
  const recoveries: (boolean | undefined)[] = [];
  const feed = reader.subscribe<number>('feed.1', (n) => got.push(n));
  feed.on('subscribed', ({ resubscribed, recovered }) => resubscribed && recoveries.push(recovered));
  await feed.ready;
  const total = 3000;
  let drops = 0;
  // Bounded: 3,000 publications in batches of 250; after a random half of the batches the socket is
  // destroyed, and the next batch is published while the reader is away.
  for (let n = 1; n <= total; n++) {
    t.server.publish('feed.1', 'n', n);
    if (n % 250 === 0 && n < total && (n === 500 || Math.random() < 0.5)) {
      const back = nextValue<{ recovered?: boolean }>((callback) => feed.on('subscribed', callback), 10_000);
      t.dropConnections();
      drops++;
      for (let m = n + 1; m <= n + 250; m++) t.server.publish('feed.1', 'n', m);
      n += 250;
      await back;
    }
  }
  const deadline = Date.now() + 15_000;
  while (got.length < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(got.length, total, `got ${got.length} of ${total} after ${drops} drops`);
  assert.deepEqual(got, Array.from({ length: total }, (_, i) => i + 1));
  assert.equal(recoveries.length, drops, 'one recovery per destroyed socket');
  assert.ok(recoveries.every((recovered) => recovered === true), `recoveries: ${recoveries.join(', ')}`);
  assert.equal(feed.position?.offset, total);
});

test('a gap or a restart: recovered is false when the history cannot cover it, and delivery goes on', async () => {
  await using t = await startTestServer({ ...options, channels: { history: { channels: ['feed.*'], maxPublications: 3 } } });
  using reader = connect(t.wsUrl, { reconnect: fast });
  const got: number[] = [];
  const feed = reader.subscribe<number>('feed.2', (n) => got.push(n));
  await feed.ready;
  t.server.publish('feed.2', 'n', 1);
  await nextValue<number>((callback) => feed.on('message', callback));
  // Down while 5 are published: only the last 3 are held, so the 2 before them are lost.
  const closed = nextEvent(reader.events, 'close');
  t.dropConnections();
  await closed;
  for (let n = 2; n <= 6; n++) t.server.publish('feed.2', 'n', n);
  const resubscribed = await nextValue<{ resubscribed: boolean; recovered?: boolean }>((callback) => feed.on('subscribed', callback));
  assert.deepEqual(resubscribed, { resubscribed: true, recovered: false });
  assert.deepEqual(got, [1], 'nothing half-recovered is delivered');
  t.server.publish('feed.2', 'n', 7);
  await nextValue<number>((callback) => feed.on('message', callback));
  assert.deepEqual(got, [1, 7]);

  // A restart: a new epoch, so the old position cannot be recovered either.
  const epoch = feed.position?.epoch;
  const again = nextValue<{ resubscribed: boolean; recovered?: boolean }>((callback) => feed.on('subscribed', callback), 10_000);
  await t.restart();
  assert.deepEqual(await again, { resubscribed: true, recovered: false });
  t.server.publish('feed.2', 'n', 8);
  await nextValue<number>((callback) => feed.on('message', callback));
  assert.deepEqual(got, [1, 7, 8]);
  assert.notEqual(feed.position?.epoch, epoch);
  assert.equal(feed.position?.offset, 1);
});

test('a late joiner gets the newest messages first with subscribe(..., { last })', async () => {
  await using t = await startTestServer(options);
  for (let n = 1; n <= 5; n++) t.server.publish('feed.3', 'n', n);
  using reader = connect(t.wsUrl, { reconnect: fast });
  const got: number[] = [];
  const feed = reader.subscribe<number>('feed.3', (n) => got.push(n), { last: 3 });
  await feed.ready;
  t.server.publish('feed.3', 'n', 6);
  await nextValue<number>((callback) => feed.on('message', (n) => n === 6 && callback(n)));
  assert.deepEqual(got, [3, 4, 5, 6]);
});
