// Auth and channels through the SDK: tokens on (re)connect, subscribe/publish, presence, grants, broadcasts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { connect, type AuthEvent, type ChannelMessage, type ClientOptions } from '@switchboard/client';
import { CloseCode, definePlug, ErrorCode, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { nextEvent, nextValue } from './helpers.ts';

const SECRET = 'client-suite-hs256-secret-with-more-than-32-characters';

const whoami = definePlug({
  name: 'whoami',
  messages: {
    'whoami.get': {
      input: z.object({}),
      handler: (_data, ctx) => ({ id: ctx.connection.identity?.id ?? null }),
    },
  },
});

// A variable, not a literal: these tests are written against the auth options the server is gaining.
const serverOptions = {
  auth: { secret: SECRET, defaultGrants: ['call:*'], expiryWarningMs: 4_500 },
  plugs: [whoami],
};

/** An HS256 token for `sub` with the given grants and public info. */
function token(sub: string, grants: string[] = [], info: Record<string, unknown> = {}, expiresIn: string | number = '1h'): Promise<string> {
  return new SignJWT({ grants, info })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(SECRET));
}

const fast: ClientOptions['reconnect'] = { initialDelayMs: 20, jitter: 0 };

test('the token is sent right after every (re)connect, before queued requests', async () => {
  await using t = await startTestServer(serverOptions);
  let calls = 0;
  const authEvents: AuthEvent[] = [];
  const sent: { type: string }[][] = [];
  // Records every frame per socket, to check what goes out first on each connection.
  class Recording extends WebSocket {
    readonly frames: { type: string }[] = [];
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      sent.push(this.frames);
    }
    override send(data: string): void {
      this.frames.push(JSON.parse(data) as { type: string });
      super.send(data);
    }
  }
  using client = connect(t.wsUrl, {
    WebSocket: Recording,
    reconnect: fast,
    token: () => {
      calls++;
      return token('ada', [], { name: 'Ada' });
    },
  });
  client.events.on('auth', (event) => authEvents.push(event));
  // Made before the connection is open: it must run as ada, so after `$auth`.
  assert.deepEqual(await client.request('whoami.get', {}), { id: 'ada' });
  await client.ready;
  assert.equal(calls, 1);
  const first = authEvents[0];
  assert.equal(first?.kind, 'authenticated');
  assert.deepEqual(first.kind === 'authenticated' ? first.identity : undefined, { id: 'ada', info: { name: 'Ada' } });

  t.dropConnections();
  await nextEvent(client.events, 'close');
  assert.deepEqual(await client.request('whoami.get', {}), { id: 'ada' });
  assert.equal(calls, 2);
  assert.deepEqual(sent.map((frames) => frames[0]?.type), ['$auth', '$auth']);
});

test('authenticate() sends $auth now and resolves with identity, grants and expiry', async () => {
  await using t = await startTestServer(serverOptions);
  using client = connect(t.wsUrl);
  await client.ready;
  assert.deepEqual(await client.request('whoami.get', {}), { id: null });
  const grantsChanged = nextEvent(client.events, 'grants');
  const result = await client.authenticate(await token('bob', ['subscribe:orders'], { name: 'Bob' }));
  assert.deepEqual(result.identity, { id: 'bob', info: { name: 'Bob' } });
  assert.ok(result.grants.includes('subscribe:orders'));
  assert.ok(typeof result.expiresAt === 'number' && result.expiresAt > Date.now());
  assert.ok((await grantsChanged).added.includes('subscribe:orders'));
  assert.deepEqual(await client.request('whoami.get', {}), { id: 'bob' });

  await assert.rejects(client.authenticate('not-a-jwt'), { code: ErrorCode.tokenMalformed });
  // The refused token is not kept: after a reconnect the client signs in again with the accepted one.
  const reopened = nextEvent(client.events, 'auth', (event) => event.kind === 'authenticated');
  t.dropConnections();
  await reopened;
  assert.deepEqual(await client.request('whoami.get', {}), { id: 'bob' });
  assert.equal(client.state, 'open');
});

test('a token the server refuses rejects ready and closes the client for good', async () => {
  await using t = await startTestServer(serverOptions);
  const client = connect(t.wsUrl, { token: 'not-a-jwt', reconnect: fast });
  const failed = nextEvent(client.events, 'auth', (event) => event.kind === 'failed');
  await assert.rejects(client.ready, { code: ErrorCode.tokenMalformed });
  await failed;
  assert.equal(client.state, 'closed');
});

test('$auth.expiring makes a token function run again and re-authenticates', async () => {
  await using t = await startTestServer(serverOptions);
  let calls = 0;
  using client = connect(t.wsUrl, {
    // The first token expires within the warning window (4.5 s), so the warning comes at once.
    token: () => token('ada', [], {}, calls++ === 0 ? '5s' : '1h'),
  });
  // The warning may follow the first `$auth` reply at once, so listen before connecting finishes.
  const expiring = nextEvent(client.events, 'auth', (event) => event.kind === 'expiring');
  const refreshed = nextEvent(client.events, 'auth', (event) => event.kind === 'authenticated' && event.expiresAt! > Date.now() + 60_000);
  await client.ready;
  const warning = await expiring;
  assert.ok(warning.kind === 'expiring' && warning.inMs <= 5_000);
  await refreshed;
  assert.equal(calls, 2);
});

test('subscribe and publish: events carry their channel, name and publisher; exceptSelf skips the sender', async () => {
  await using t = await startTestServer(serverOptions);
  using alice = connect(t.wsUrl, { token: await token('alice', ['subscribe:orders', 'publish:orders']) });
  using bob = connect(t.wsUrl, { token: await token('bob', ['subscribe:orders']) });
  const seenByAlice: unknown[] = [];
  const aliceSub = alice.subscribe('orders', (data) => seenByAlice.push(data));
  const bobSub = bob.subscribe<{ id: number }>('orders');
  await Promise.all([aliceSub.ready, bobSub.ready]);

  const received = nextValue<[unknown, unknown]>((callback) => bobSub.on('message', (data, meta) => callback([data, meta])));
  await alice.publish('orders', 'created', { id: 1 });
  assert.deepEqual(await received, [{ id: 1 }, { event: 'created', channel: 'orders', from: 'alice' }]);

  const second = nextValue((callback) => bobSub.on('message', callback));
  await alice.publish('orders', 'updated', { id: 1 }, { exceptSelf: true });
  assert.deepEqual(await second, { id: 1 });
  // A round trip on alice's connection: a copy of the second event sent to her would have arrived by now.
  await alice.request('$ping');
  assert.deepEqual(seenByAlice, [{ id: 1 }]);

  await assert.rejects(bob.publish('orders', 'created', {}), (error: { code: string; details: { grant?: string } }) => {
    assert.equal(error.code, ErrorCode.forbidden);
    assert.equal(error.details.grant, 'publish:orders');
    return true;
  });

  await bobSub.unsubscribe();
  assert.equal(bobSub.active, false);
  const third = nextValue((callback) => aliceSub.on('message', callback));
  let bobGotMore = false;
  bob.on('$message', () => (bobGotMore = true));
  await alice.publish('orders', 'deleted', { id: 1 });
  await third;
  await bob.request('whoami.get', {});
  assert.equal(bobGotMore, false);
});

test('subscribing without the grant rejects ready with forbidden and the missing grant', async () => {
  await using t = await startTestServer(serverOptions);
  using client = connect(t.wsUrl, { token: await token('eve') });
  const sub = client.subscribe('private-team');
  await assert.rejects(sub.ready, (error: { code: string; details: { grant?: string } }) => {
    assert.equal(error.code, ErrorCode.forbidden);
    assert.equal(error.details.grant, 'subscribe:private-team');
    return true;
  });
  assert.equal(sub.active, false);
  await assert.rejects(client.subscribe('bad channel name').ready, { code: ErrorCode.badChannel });
});

test('presence: members come with the subscribe reply, then join and leave', async () => {
  await using t = await startTestServer(serverOptions);
  const grants = ['subscribe:presence-lobby'];
  using alice = connect(t.wsUrl, { token: await token('alice', grants, { name: 'Alice' }) });
  const aliceLobby = alice.subscribe('presence-lobby');
  await aliceLobby.ready;
  assert.deepEqual(aliceLobby.members.get('alice'), { name: 'Alice' });

  const joined = nextValue((callback) => aliceLobby.on('join', callback));
  const bob = connect(t.wsUrl, { token: await token('bob', grants, { name: 'Bob' }) });
  const bobLobby = bob.subscribe('presence-lobby');
  await bobLobby.ready;
  assert.deepEqual(bobLobby.members.get('alice'), { name: 'Alice' });
  assert.deepEqual(await joined, { id: 'bob', info: { name: 'Bob' } });
  assert.deepEqual(aliceLobby.members.get('bob'), { name: 'Bob' });

  const left = nextValue((callback) => aliceLobby.on('leave', callback));
  bob.close();
  assert.deepEqual(await left, { id: 'bob', info: { name: 'Bob' } });
  assert.equal(aliceLobby.members.has('bob'), false);
});

test('subscriptions are renewed after a reconnect, presence members reset from the new reply', async () => {
  await using t = await startTestServer(serverOptions);
  const grants = ['subscribe:orders', 'publish:orders', 'subscribe:presence-lobby'];
  using alice = connect(t.wsUrl, { token: () => token('alice', grants, { name: 'Alice' }), reconnect: fast });
  using bob = connect(t.wsUrl, { token: await token('bob', grants, { name: 'Bob' }), reconnect: false });
  const orders = alice.subscribe('orders');
  const lobby = alice.subscribe('presence-lobby');
  await Promise.all([orders.ready, lobby.ready, bob.ready]);

  // Drop only alice: bob's client does not reconnect, so dropping everyone would end it.
  const renewed = Promise.all([
    nextValue((callback) => orders.on('subscribed', callback)),
    nextValue((callback) => lobby.on('subscribed', callback)),
  ]);
  t.dropConnections((connection) => connection.id === alice.connectionId);
  assert.deepEqual(await renewed, [{ resubscribed: true }, { resubscribed: true }]);
  assert.deepEqual([...lobby.members.keys()], ['alice']);

  const message = nextValue((callback) => orders.on('message', callback));
  await bob.publish('orders', 'created', { id: 2 });
  assert.deepEqual(await message, { id: 2 });
});

test('a revoked grant ends the subscription with $unsubscribed and reports the new grants', async () => {
  await using t = await startTestServer(serverOptions);
  using client = connect(t.wsUrl, { token: await token('alice', ['subscribe:private-team']) });
  const sub = client.subscribe('private-team');
  await sub.ready;
  const ended = nextValue((callback) => sub.on('unsubscribed', callback));
  const grants = nextEvent(client.events, 'grants');
  t.server.revoke('alice', ['subscribe:private-team']);
  assert.deepEqual(await ended, { reason: 'grant_revoked', grant: 'subscribe:private-team' });
  assert.deepEqual((await grants).removed, ['subscribe:private-team']);
  assert.equal(sub.active, false);
});

test('broadcast reaches every other connection as a $message with channel null', async () => {
  await using t = await startTestServer(serverOptions);
  using alice = connect(t.wsUrl, { token: await token('alice', ['broadcast']) });
  using bob = connect(t.wsUrl);
  await Promise.all([alice.ready, bob.ready]);
  let aliceGotOwn = false;
  alice.on('$message', () => (aliceGotOwn = true));
  const got = nextValue<ChannelMessage>((callback) => bob.on<ChannelMessage>('$message', callback));
  await alice.broadcast('announce', { text: 'hi' }, { exceptSelf: true });
  assert.deepEqual(await got, { channel: null, event: 'announce', data: { text: 'hi' }, from: 'alice' });
  // A round trip on alice's connection: a copy sent to her before it would have arrived by now.
  await alice.request('$ping');
  assert.equal(aliceGotOwn, false);
  await assert.rejects(bob.broadcast('announce', {}), { code: ErrorCode.forbidden });
});

test('a disabled user is closed with 4004 and the client does not come back', async () => {
  await using t = await startTestServer(serverOptions);
  using client = connect(t.wsUrl, { token: await token('mallory'), reconnect: fast });
  await client.ready;
  const closed = nextEvent(client.events, 'close');
  t.server.disableUser('mallory', 'abuse');
  assert.deepEqual(await closed, { code: CloseCode.kicked, reason: 'abuse', willReconnect: false });
  assert.equal(client.state, 'closed');
});
