// Presence channels: member lists, join and leave to the others, one member per identity, leaves on revocation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { SignJWT } from 'jose';
import { ErrorCode, type Envelope } from '@switchboard/protocol';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';
const CHANNEL = 'presence-support';

async function connectAs(url: string, sub: string, name: string, grants = ['subscribe:presence-*']): Promise<RawClient> {
  const token = await new SignJWT({ grants, info: { name } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
  return RawClient.connect(url, { headers: { authorization: `Bearer ${token}` } });
}

const isPresence = (action: string, id: string) => (e: Envelope) =>
  e.type === '$presence' && (e.data as { action: string; member: { id: string } }).action === action && (e.data as { member: { id: string } }).member.id === id;

/** Waits until every frame the server sent before now has arrived. */
async function settle(client: RawClient): Promise<void> {
  await client.request('$ping');
}

test('members, and join/leave sent to the other members only', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  await using ada = await connectAs(t.wsUrl, 'ada', 'Ada');
  await using bob = await connectAs(t.wsUrl, 'bob', 'Bob');

  assert.deepEqual((await ada.request('$subscribe', { channel: CHANNEL })).data, { channel: CHANNEL, members: [{ id: 'ada', info: { name: 'Ada' } }] });
  const joined = await bob.request('$subscribe', { channel: CHANNEL });
  assert.deepEqual(joined.data, {
    channel: CHANNEL,
    members: [
      { id: 'ada', info: { name: 'Ada' } },
      { id: 'bob', info: { name: 'Bob' } },
    ],
  });
  assert.deepEqual((await ada.next(isPresence('join', 'bob'))).data, { channel: CHANNEL, action: 'join', member: { id: 'bob', info: { name: 'Bob' } } });
  await settle(bob);
  assert.equal(bob.received.filter((e) => e.type === '$presence').length, 0, 'no join event for oneself');
  assert.deepEqual((await t.server.members(CHANNEL)).map((m) => m.id), ['ada', 'bob']);
  assert.deepEqual(t.server.channels(), [{ name: CHANNEL, kind: 'presence', subscribers: 2, members: 2 }]);

  assert.deepEqual((await bob.request('$unsubscribe', { channel: CHANNEL })).data, { channel: CHANNEL });
  assert.deepEqual((await ada.next(isPresence('leave', 'bob'))).data, { channel: CHANNEL, action: 'leave', member: { id: 'bob', info: { name: 'Bob' } } });
});

test('a user with several connections is one member: joins with the first, leaves with the last', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  await using ada = await connectAs(t.wsUrl, 'ada', 'Ada');
  await using bobPhone = await connectAs(t.wsUrl, 'bob', 'Bob');
  await using bobLaptop = await connectAs(t.wsUrl, 'bob', 'Bob');
  await ada.request('$subscribe', { channel: CHANNEL });
  await bobPhone.request('$subscribe', { channel: CHANNEL });
  await ada.next(isPresence('join', 'bob'));
  const second = await bobLaptop.request('$subscribe', { channel: CHANNEL });
  assert.deepEqual((second.data as { members: { id: string }[] }).members.map((m) => m.id), ['ada', 'bob']);

  // The phone leaves: bob is still there through the laptop.
  await bobPhone.request('$unsubscribe', { channel: CHANNEL });
  await settle(ada);
  assert.equal(ada.received.filter((e) => e.type === '$presence').length, 0, 'no second join, no early leave');
  assert.deepEqual(t.server.channels(), [{ name: CHANNEL, kind: 'presence', subscribers: 2, members: 2 }]);

  // The laptop disconnects: now bob leaves.
  const closed = once(t.server.events, 'close');
  bobLaptop.ws.close();
  await closed;
  await ada.next(isPresence('leave', 'bob'));
  assert.deepEqual((await t.server.members(CHANNEL)).map((m) => m.id), ['ada']);
});

test('presence needs an identity and a grant; a revocation makes the member leave', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  await using anonymous = await RawClient.connect(t.wsUrl);
  assert.equal((await anonymous.request('$subscribe', { channel: CHANNEL })).error?.code, ErrorCode.unauthenticated);
  await using outsider = await connectAs(t.wsUrl, 'eve', 'Eve', []);
  const refused = await outsider.request('$subscribe', { channel: CHANNEL });
  assert.equal(refused.error?.code, ErrorCode.forbidden);
  assert.equal(refused.error?.grant, `subscribe:${CHANNEL}`);

  await using ada = await connectAs(t.wsUrl, 'ada', 'Ada');
  await using bob = await connectAs(t.wsUrl, 'bob', 'Bob');
  await ada.request('$subscribe', { channel: CHANNEL });
  await bob.request('$subscribe', { channel: CHANNEL });
  await ada.next(isPresence('join', 'bob'));
  t.server.revoke('bob', ['subscribe:presence-*']);
  await bob.next((e) => e.type === '$unsubscribed');
  await ada.next(isPresence('leave', 'bob'));
  assert.deepEqual((await t.server.members(CHANNEL)).map((m) => m.id), ['ada']);
});

test('leaving every presence channel on disconnect leaves nothing behind', async () => {
  await using t = await startTestServer({ auth: { secret: SECRET } });
  const clients = await Promise.all(['a', 'b', 'c'].map((id) => connectAs(t.wsUrl, id, id.toUpperCase())));
  for (const client of clients) {
    for (const room of ['presence-1', 'presence-2', 'public-room']) await client.request('$subscribe', { channel: room });
  }
  assert.equal(t.server.channels().length, 3);
  for (const client of clients) {
    const closed = once(t.server.events, 'close');
    client.ws.close();
    await closed;
  }
  assert.deepEqual(t.server.channels(), []);
  assert.deepEqual(await t.server.members('presence-1'), []);
});
