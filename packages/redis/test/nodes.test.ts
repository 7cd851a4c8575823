// Two Switchboard nodes linked by a real, throwaway Redis (RedisBus + RedisHistory): channel messages, direct
// sends and grant changes cross from one node to the other; a client that moves to the other node recovers
// what it missed; a Redis restart makes both health checks say so, and delivery resumes after it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { CloseCode, type Envelope, type SubscribeReply } from '@switchboard/protocol';
import type { ServerOptions } from '@switchboard/server';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import { RedisBus, RedisHistory, RedisPresence } from '@switchboard/redis';
import { RawClient } from '../../server/test/helpers.ts';
import { startTestRedis, type TestRedis } from './redis.ts';

const redis = await startTestRedis();
const SECRET = 'test-secret-that-is-at-least-32-characters-long';
let prefixes = 0;

function token(sub: string, grants: string[]): Promise<string> {
  return new SignJWT({ grants }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

async function connectAs(server: TestServer, sub: string, grants: string[] = []): Promise<RawClient> {
  return RawClient.connect(server.wsUrl, { headers: { authorization: `Bearer ${await token(sub, grants)}` } });
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Two nodes on one Redis, under a key prefix of their own; the channels `news*` keep history. */
async function twoNodes(server: TestRedis, extra: ServerOptions = {}): Promise<[TestServer, TestServer, string]> {
  const prefix = `nodes${++prefixes}:`;
  const node = async (name: string): Promise<TestServer> => {
    const bus = new RedisBus({ url: server.url, prefix, redis: { retryStrategy: () => 50 } });
    await bus.ready();
    return startTestServer({
      node: name,
      bus,
      history: new RedisHistory({ url: server.url, prefix, redis: { retryStrategy: () => 50 } }),
      presence: new RedisPresence({ url: server.url, prefix, redis: { retryStrategy: () => 50 } }),
      cluster: { heartbeatMs: 50, nodeTtlMs: 300 },
      auth: { secret: SECRET },
      channels: { history: { channels: ['news*'] } },
      limits: { rateLimit: { messagesPerSecond: 0 } },
      ...extra,
    });
  };
  return [await node('node-a'), await node('node-b'), prefix];
}

/** Subscribes, and waits until the other nodes will deliver to this one (the bus subscribed in Redis). */
async function subscribe(client: RawClient, server: TestServer, channel: string, extra: Record<string, unknown> = {}): Promise<SubscribeReply> {
  const reply = await client.request('$subscribe', { channel, ...extra });
  assert.equal(reply.error, undefined, JSON.stringify(reply.error));
  await (server.server.options.bus as RedisBus).settled();
  return reply.data as SubscribeReply;
}

const messagesOf = (client: RawClient, channel: string): Envelope[] =>
  client.received.filter((e) => e.type === '$message' && (e.data as { channel: string }).channel === channel);

if (typeof redis === 'string') {
  test('two nodes over Redis', { skip: `REDIS TESTS SKIPPED: ${redis}` }, () => {});
} else {
  after(() => redis.close());

  test('two nodes over Redis: a publish on one reaches the other in order; a direct send finds its connection', async () => {
    const [a, b] = await twoNodes(redis);
    await using _a = a;
    await using _b = b;
    await using reader = await connectAs(a, 'ada');
    await subscribe(reader, a, 'news');
    for (let i = 0; i < 200; i++) b.server.publish('news', 'item', { i });
    await eventually(() => messagesOf(reader, 'news').length === 200, '200 messages across');
    const items = messagesOf(reader, 'news').map((e) => (e.data as { data: { i: number }; offset: number }).data.i);
    assert.deepEqual(items, Array.from({ length: 200 }, (_, i) => i), 'in order, none twice');

    // A direct send from node b to a connection that node a holds.
    const id = [...a.server.connections()][0]!.id;
    assert.equal(b.server.send(id, 'note', { text: 'hello from b' }), true, 'handed to the cluster');
    const note = await reader.next((e) => e.type === 'note');
    assert.deepEqual(note.data, { text: 'hello from b' });
    // The health checks say both are up and name the node.
    const health = (await (await fetch(`${b.url}/healthz`)).json()) as Record<string, unknown>;
    assert.equal(health.status, 'ok');
    assert.equal(health.node, 'node-b');
    assert.equal(health.bus, 'up');
  });

  test('two nodes over Redis: a publisher faster than Redis answers is refused past channels.history.maxPending; what was accepted all arrives', async () => {
    const [a, b] = await twoNodes(redis, { channels: { history: { channels: ['news*'], maxPending: 50 } } });
    await using _a = a;
    await using _b = b;
    await using reader = await connectAs(a, 'ada');
    await subscribe(reader, a, 'news');
    // One synchronous loop: no Redis answer can arrive before it ends, so exactly 50 wait and the rest are refused.
    let refused = 0;
    for (let i = 0; i < 200; i++) {
      try {
        b.server.publish('news', 'item', { i });
      } catch (error) {
        assert.equal((error as { code?: string }).code, 'rate_limited');
        refused++;
      }
    }
    assert.equal(refused, 150);
    await eventually(() => messagesOf(reader, 'news').length === 50, '50 messages across');
    const items = messagesOf(reader, 'news').map((e) => (e.data as { data: { i: number }; offset: number }).data.i);
    assert.deepEqual(items, Array.from({ length: 50 }, (_, i) => i), 'the accepted ones, in order');
    // Once Redis has answered, the node takes publishes again.
    await eventually(() => {
      try {
        b.server.publish('news', 'item', { i: 'after' });
        return true;
      } catch {
        return false;
      }
    }, 'a publish accepted again');
    await eventually(() => messagesOf(reader, 'news').length === 51, 'the later one across');
  });

  test('two nodes over Redis: a grant revoked on one node takes effect at once on the other', async () => {
    const [a, b] = await twoNodes(redis);
    await using _a = a;
    await using _b = b;
    await using member = await connectAs(a, 'bob', ['subscribe:private-team']);
    await subscribe(member, a, 'private-team');
    b.server.revoke('bob', ['subscribe:private-team'], { reason: 'left the team' });
    const unsubscribed = await member.next((e) => e.type === '$unsubscribed');
    assert.deepEqual(unsubscribed.data, { channel: 'private-team', reason: 'grant_revoked', grant: 'subscribe:private-team' });
    const grants = await member.next((e) => e.type === '$grants');
    assert.equal((grants.data as { reason: string }).reason, 'left the team');
    assert.ok(!a.server.grantsOf('bob').includes('subscribe:private-team'), 'node a applied it');
    // Disabling a user on node b closes its connections on node a.
    const closed = member.waitClose();
    b.server.disableUser('bob', 'abuse');
    assert.equal(await closed, CloseCode.kicked);
  });

  test('two nodes over Redis: a client whose socket dropped on one node recovers on the other what it missed', async () => {
    const [a, b] = await twoNodes(redis);
    await using _a = a;
    await using _b = b;
    const first = await connectAs(a, 'cy');
    const reply = await subscribe(first, a, 'news-eu');
    a.server.publish('news-eu', 'item', { i: 0 });
    const seen = await first.next((e) => e.type === '$message');
    const at = { epoch: (seen.data as { epoch: string }).epoch, offset: (seen.data as { offset: number }).offset };
    assert.equal(at.epoch, reply.position?.epoch);
    first.ws.terminate(); // destroyed, not closed
    for (let i = 1; i <= 5; i++) a.server.publish('news-eu', 'item', { i });
    await using second = await connectAs(b, 'cy');
    const recovered = await subscribe(second, b, 'news-eu', { since: at });
    assert.equal(recovered.recovered, true);
    assert.deepEqual(
      recovered.publications?.map((message) => (message.data as { i: number }).i),
      [1, 2, 3, 4, 5],
    );
  });

  test('two nodes over Redis: while Redis is down both health checks answer 503 bus_down; delivery resumes after', async () => {
    const [a, b] = await twoNodes(redis, { channels: { history: { channels: [] } } });
    await using _a = a;
    await using _b = b;
    await using reader = await connectAs(a, 'dee');
    await subscribe(reader, a, 'alerts');
    b.server.publish('alerts', 'test', { n: 1 });
    await reader.next((e) => e.type === '$message');
    await redis.stop();
    try {
      for (const node of [a, b]) {
        await eventually(async () => (await fetch(`${node.url}/healthz`)).status === 503, `${node.server.options.node} unhealthy`);
        const body = (await (await fetch(`${node.url}/healthz`)).json()) as Record<string, unknown>;
        assert.equal(body.status, 'bus_down');
        assert.equal(body.bus, 'down');
      }
      // Local delivery goes on meanwhile.
      a.server.publish('alerts', 'local', { n: 2 });
      await reader.next((e) => e.type === '$message' && (e.data as { event: string }).event === 'local');
    } finally {
      await redis.start();
    }
    for (const node of [a, b]) await eventually(async () => (await fetch(`${node.url}/healthz`)).status === 200, 'healthy again');
    await (a.server.options.bus as RedisBus).settled();
    b.server.publish('alerts', 'again', { n: 3 });
    const again = await reader.next((e) => e.type === '$message' && (e.data as { event: string }).event === 'again');
    assert.deepEqual((again.data as { data: unknown }).data, { n: 3 });
    // The scrape says so too.
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    assert.match(metrics, /^switchboard_bus_connected 1$/m);
  });
}

if (typeof redis !== 'string') {
  test('two nodes over Redis: presence is one list across nodes; a node that dies leaves no ghost', async () => {
    const [a, b, prefix] = await twoNodes(redis);
    await using _a = a;
    await using _b = b;
    await using ada = await connectAs(a, 'ada', ['subscribe:presence-*']);
    const first = await subscribe(ada, a, 'presence-lobby');
    assert.deepEqual(first.members?.map((member) => member.id), ['ada']);
    await using bob = await connectAs(b, 'bob', ['subscribe:presence-*']);
    const second = await subscribe(bob, b, 'presence-lobby');
    assert.deepEqual(second.members?.map((member) => member.id).sort(), ['ada', 'bob'], 'bob sees ada, who is on the other node');
    const joined = await ada.next((e) => e.type === '$presence');
    assert.deepEqual(joined.data, { channel: 'presence-lobby', action: 'join', member: { id: 'bob', info: {} } });
    assert.deepEqual((await a.server.members('presence-lobby')).map((member) => member.id).sort(), ['ada', 'bob']);

    // A node that died without a word: it had a member here and said it was alive, then nothing.
    const dead = new RedisPresence({ url: redis.url, prefix });
    await dead.add('presence-lobby', { connectionId: 'ghost-1', node: 'node-dead', identityId: 'cy', info: {} });
    await dead.alive('node-dead', 100);
    await dead.close();
    const ghost = await ada.next((e) => e.type === '$presence' && (e.data as { member: { id: string } }).member.id === 'cy' && (e.data as { action: string }).action === 'leave');
    assert.equal((ghost.data as { action: string }).action, 'leave');
    await bob.next((e) => e.type === '$presence' && (e.data as { member: { id: string } }).member.id === 'cy');
    assert.deepEqual((await b.server.members('presence-lobby')).map((member) => member.id).sort(), ['ada', 'bob'], 'no ghost');

    // A member whose socket is destroyed leaves for everyone, on both nodes.
    bob.ws.terminate();
    const left = await ada.next((e) => e.type === '$presence' && (e.data as { action: string }).action === 'leave' && (e.data as { member: { id: string } }).member.id === 'bob');
    assert.ok(left);
    await eventually(async () => (await a.server.members('presence-lobby')).length === 1, 'bob gone from the list');
  });
}
