// Channels: public and private subscriptions, publishing from plugs, clients and broadcasts, limits, order, cleanup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { SignJWT } from 'jose';
import { ErrorCode, type Envelope } from '@switchboard/protocol';
import { definePlug, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';

function token(sub: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

async function connectAs(url: string, sub: string, grants: string[] = []): Promise<RawClient> {
  return RawClient.connect(url, { headers: { authorization: `Bearer ${await token(sub, { grants })}` } });
}

const isMessage = (event: string) => (e: Envelope) => e.type === '$message' && (e.data as { event: string }).event === event;

/** Waits until every frame the server sent before now has arrived. */
async function settle(client: RawClient): Promise<void> {
  await client.request('$ping');
}

const orders = definePlug({
  name: 'orders',
  messages: {
    'orders.create': {
      input: z.object({ item: z.string() }),
      handler(data, ctx) {
        ctx.server.publish('orders', 'created', { item: data.item });
        return { ok: true };
      },
    },
  },
});

test('public channels: subscribe, and receive what a plug publishes, as $message', async () => {
  await using t = await startTestServer({ plugs: [orders] });
  await using backOffice = await RawClient.connect(t.wsUrl);
  await using frontEnd = await RawClient.connect(t.wsUrl);
  assert.deepEqual(await backOffice.request('$subscribe', { channel: 'orders' }), { type: '$subscribe', id: 1, data: { channel: 'orders' } });
  assert.deepEqual((await backOffice.request('$subscribe', { channel: 'orders' })).data, { channel: 'orders' }, 'subscribing twice is fine');
  assert.deepEqual((await frontEnd.request('orders.create', { item: 'tea' })).data, { ok: true });
  const message = await backOffice.next(isMessage('created'));
  assert.deepEqual(message, { type: '$message', data: { channel: 'orders', event: 'created', data: { item: 'tea' } } });
  await settle(frontEnd);
  assert.equal(frontEnd.received.filter(isMessage('created')).length, 0, 'not subscribed, not delivered');

  assert.deepEqual((await backOffice.request('$unsubscribe', { channel: 'orders' })).data, { channel: 'orders' });
  assert.equal((await backOffice.request('$unsubscribe', { channel: 'orders' })).error?.code, ErrorCode.notSubscribed);
  t.server.publish('orders', 'created', { item: 'cake' });
  await settle(backOffice);
  assert.equal(backOffice.received.filter(isMessage('created')).length, 0);
  assert.deepEqual(t.server.channels(), []);
});

test('client events: $publish needs publish:<channel>; from names the publisher; exceptSelf skips the sender', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  await using analytics = await connectAs(t.wsUrl, 'analytics', ['publish:metrics.*']);
  await using dashboard = await connectAs(t.wsUrl, 'dashboard');
  await using anonymous = await RawClient.connect(t.wsUrl);
  for (const client of [analytics, dashboard]) await client.request('$subscribe', { channel: 'metrics.live' });

  assert.deepEqual((await analytics.request('$publish', { channel: 'metrics.live', event: 'tick', data: { n: 1 } })).data, {});
  for (const client of [analytics, dashboard]) {
    assert.deepEqual((await client.next(isMessage('tick'))).data, { channel: 'metrics.live', event: 'tick', data: { n: 1 }, from: 'analytics' });
  }
  assert.equal((await analytics.request('$publish', { channel: 'metrics.live', event: 'tock', data: 2, exceptSelf: true })).error, undefined);
  assert.equal(((await dashboard.next(isMessage('tock'))).data as { data: number }).data, 2);
  await settle(analytics);
  assert.equal(analytics.received.filter(isMessage('tock')).length, 0);

  for (const client of [dashboard, anonymous]) {
    const refused = await client.request('$publish', { channel: 'metrics.live', event: 'fake', data: {} });
    assert.equal(refused.error?.code, ErrorCode.forbidden);
    assert.equal(refused.error?.grant, 'publish:metrics.live');
  }
  assert.equal((await analytics.request('$publish', { channel: 'orders', event: 'x' })).error?.grant, 'publish:orders');
  assert.equal((await analytics.request('$publish', { channel: 'metrics.live', event: '' })).error?.code, ErrorCode.invalidPayload);
});

test('broadcast to everyone, and to all but the sender, needs the broadcast grant', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  await using ops = await connectAs(t.wsUrl, 'ops', ['broadcast']);
  await using a = await connectAs(t.wsUrl, 'a');
  await using b = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await ops.request('$broadcast', { event: 'maintenance', data: { at: '22:00' }, exceptSelf: true })).data, {});
  for (const client of [a, b]) {
    assert.deepEqual((await client.next(isMessage('maintenance'))).data, { channel: null, event: 'maintenance', data: { at: '22:00' }, from: 'ops' });
  }
  await settle(ops);
  assert.equal(ops.received.filter(isMessage('maintenance')).length, 0);
  const refused = await a.request('$broadcast', { event: 'spam', data: {} });
  assert.equal(refused.error?.code, ErrorCode.forbidden);
  assert.equal(refused.error?.grant, 'broadcast');

  // The server API's broadcast (plug message types) is unchanged and skips a connection too.
  const skipped = [...t.server.connections()].find((c) => c.identity?.id === 'a')!;
  t.server.broadcast('notice', { text: 'hi' }, { except: skipped });
  assert.deepEqual((await b.next((e) => e.type === 'notice')).data, { text: 'hi' });
  await settle(a);
  assert.equal(a.received.filter((e) => e.type === 'notice').length, 0);
});

test('private channels need a subscribe grant or the authorize hook', async () => {
  await using t = await startTestServer({
    auth: {
      secret: SECRET,
      authorize: (identity, { action, target }) => action === 'subscribe' && target === `private-user-${identity.id}`,
    },
  });
  await using ada = await connectAs(t.wsUrl, 'ada', ['subscribe:private-team-*']);
  await using anonymous = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await ada.request('$subscribe', { channel: 'private-team-red' })).data, { channel: 'private-team-red' });
  assert.deepEqual((await ada.request('$subscribe', { channel: 'private-user-ada' })).data, { channel: 'private-user-ada' });
  const refused = await ada.request('$subscribe', { channel: 'private-user-bob' });
  assert.equal(refused.error?.code, ErrorCode.forbidden);
  assert.equal(refused.error?.grant, 'subscribe:private-user-bob');
  assert.equal((await anonymous.request('$subscribe', { channel: 'private-team-red' })).error?.grant, 'subscribe:private-team-red');

  // A subscription the hook allowed survives grant changes; a grant-based one does not.
  t.server.revoke('ada', ['subscribe:private-team-*']);
  assert.equal(((await ada.next((e) => e.type === '$unsubscribed')).data as { channel: string }).channel, 'private-team-red');
  t.server.publish('private-user-ada', 'note', 'for ada');
  assert.equal(((await ada.next(isMessage('note'))).data as { data: string }).data, 'for ada');
});

test('bad names, oversized data and full channels get their codes', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET }, channels: { maxSubscribers: 2, maxMessageBytes: 100 } });
  await using a = await connectAs(t.wsUrl, 'a', ['publish:*']);
  await using b = await RawClient.connect(t.wsUrl);
  await using c = await RawClient.connect(t.wsUrl);
  for (const channel of ['', 'has space', 'star*', 'x'.repeat(201)]) {
    assert.equal((await a.request('$subscribe', { channel })).error?.code, ErrorCode.badChannel, String(channel));
  }
  // A payload that is not { channel: string } fails the route's schema, like any message.
  for (const payload of [{ channel: 42 }, {}, 'not an object', { channel: 'room', extra: 1 }]) {
    assert.equal((await a.request('$subscribe', payload)).error?.code, ErrorCode.invalidPayload, JSON.stringify(payload));
  }
  assert.equal((await a.request('$publish', { channel: 'a b', event: 'x' })).error?.code, ErrorCode.badChannel);
  const tooBig = await a.request('$publish', { channel: 'room', event: 'x', data: 'y'.repeat(200) });
  assert.equal(tooBig.error?.code, ErrorCode.limitExceeded);
  assert.equal(tooBig.error?.limit, 'maxMessageBytes');
  assert.equal((await a.request('$subscribe', { channel: 'room' })).error, undefined);
  assert.equal((await b.request('$subscribe', { channel: 'room' })).error, undefined);
  const full = await c.request('$subscribe', { channel: 'room' });
  assert.equal(full.error?.code, ErrorCode.limitExceeded);
  assert.equal(full.error?.limit, 'maxSubscribers');
  assert.equal((await b.request('$unsubscribe', { channel: 'room' })).error, undefined);
  assert.equal((await c.request('$subscribe', { channel: 'room' })).error, undefined);
  assert.throws(() => t.server.publish('bad name', 'x', {}), /SB_BAD_ARGUMENT/);
});

test('per-channel order: 1000 messages reach every subscriber in the order published', async () => {
  await using t = await startTestServer();
  await using one = await RawClient.connect(t.wsUrl);
  await using two = await RawClient.connect(t.wsUrl);
  for (const client of [one, two]) await client.request('$subscribe', { channel: 'ticks' });
  const count = 1000;
  for (let n = 0; n < count; n++) t.server.publish('ticks', 'tick', n);
  for (const client of [one, two]) {
    await client.next((e) => isMessage('tick')(e) && (e.data as { data: number }).data === count - 1);
    await settle(client);
  }
  // `next` removed the last one from `received`; the rest are there, in order.
  for (const client of [one, two]) {
    const seen = client.received.filter(isMessage('tick')).map((e) => (e.data as { data: number }).data);
    assert.deepEqual(seen, Array.from({ length: count - 1 }, (_, n) => n));
  }
});

test('a flood of subscribe requests hits the limits; the server stays healthy and nothing leaks', async () => {
  await using t = await startTestServer({
    channels: { maxPerConnection: 50 },
    limits: { rateLimit: { messagesPerSecond: 100, burst: 150, closeAfter: 10_000 } },
  });
  await using flooder = await RawClient.connect(t.wsUrl);
  await using bystander = await RawClient.connect(t.wsUrl);
  await bystander.request('$subscribe', { channel: 'calm' });
  const total = 400;
  const replies = await Promise.all(Array.from({ length: total }, (_, n) => flooder.request('$subscribe', { channel: `flood-${n}` })));
  const codes = new Map<string, number>();
  for (const reply of replies) {
    const code = reply.error?.code ?? 'ok';
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  assert.equal(codes.get('ok'), 50);
  assert.ok((codes.get(ErrorCode.limitExceeded) ?? 0) > 0, 'maxPerConnection was hit');
  assert.ok((codes.get(ErrorCode.rateLimited) ?? 0) > 0, 'the rate limit was hit');
  assert.equal([...codes.keys()].filter((code) => !['ok', ErrorCode.limitExceeded, ErrorCode.rateLimited].includes(code)).length, 0);
  assert.equal(t.server.channels().length, 51);

  // Healthy: the other connection is served and still receives.
  assert.deepEqual((await bystander.request('$ping')).data, {});
  t.server.publish('calm', 'still', true);
  await bystander.next(isMessage('still'));

  // No leaks: closing the connections empties every channel.
  for (const client of [flooder, bystander]) {
    const closed = once(t.server.events, 'close');
    client.ws.close();
    await closed;
  }
  assert.deepEqual(t.server.channels(), []);
  assert.equal(t.server.connectionCount, 0);
});

test('server events: subscribe once per channel joined, unsubscribe when it leaves, unsubscribing before close', async () => {
  await using t = await startTestServer({ plugs: [orders] });
  const seen: string[] = [];
  t.server.events.on('subscribe', (connection, channel) => seen.push(`+${channel} ${connection.id}`));
  t.server.events.on('unsubscribe', (connection, channel) => seen.push(`-${channel} ${connection.id}`));
  t.server.events.on('close', (connection) => seen.push(`closed ${connection.id}`));
  await using client = await RawClient.connect(t.wsUrl);
  const id = [...t.server.connections()][0]!.id;
  await client.request('$subscribe', { channel: 'orders' });
  await client.request('$subscribe', { channel: 'orders' });
  await client.request('$subscribe', { channel: 'news' });
  await client.request('$unsubscribe', { channel: 'orders' });
  assert.deepEqual(seen, [`+orders ${id}`, `+news ${id}`, `-orders ${id}`]);
  const closed = once(t.server.events, 'close');
  client.ws.terminate(); // the socket is destroyed, not closed politely
  await closed;
  assert.deepEqual(seen.slice(3), [`-news ${id}`, `closed ${id}`]);
});
