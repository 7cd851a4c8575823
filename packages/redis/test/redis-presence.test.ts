// Redis presence against a real, throwaway Redis: the presence contract (a key prefix per store), two nodes
// sharing channels, concurrent adds across nodes, liveness and sweeps across nodes, and a Redis restart.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { PresenceMember } from '@switchboard/server';
import { presenceContract } from '@switchboard/server/testing';
import { RedisPresence } from '@switchboard/redis';
import { startTestRedis } from './redis.ts';

const redis = await startTestRedis();

function member(connectionId: string, identityId: string, node: string, info: Record<string, unknown> = {}): PresenceMember {
  return { connectionId, node, identityId, info };
}

if (typeof redis === 'string') {
  test('RedisPresence (contract, nodes, liveness, restart)', { skip: `REDIS TESTS SKIPPED: ${redis}` }, () => {});
} else {
  after(() => redis.close());
  const url = redis.url;
  let stores = 0;
  const prefix = () => `sb-test-${++stores}:`;

  presenceContract('RedisPresence', (options) => new RedisPresence({ url: redis.url, prefix: prefix(), now: options.now }));

  /** Two nodes' stores on one Redis and one prefix (and, when given, one fake clock). */
  async function twoNodes(body: (a: RedisPresence, b: RedisPresence) => Promise<void>, now?: () => number): Promise<void> {
    const shared = prefix();
    const a = new RedisPresence({ url, prefix: shared, now });
    const b = new RedisPresence({ url, prefix: shared, now });
    try {
      await body(a, b);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }

  test('RedisPresence: two nodes share channels: an identity joins once across them and leaves with its last connection anywhere', () =>
    twoNodes(async (a, b) => {
      assert.deepEqual(await a.add('lobby', member('a1', 'ada', 'na', { name: 'Ada', on: 'na' })), [
        { channel: 'lobby', action: 'join', member: { id: 'ada', info: { name: 'Ada', on: 'na' } } },
      ]);
      assert.deepEqual(await b.add('lobby', member('b1', 'ada', 'nb', { on: 'nb' })), []);
      assert.deepEqual(await b.add('lobby', member('b2', 'bob', 'nb')), [{ channel: 'lobby', action: 'join', member: { id: 'bob', info: {} } }]);
      for (const store of [a, b]) {
        assert.deepEqual(
          (await store.list('lobby')).sort((x, y) => x.id.localeCompare(y.id)),
          [
            { id: 'ada', info: { name: 'Ada', on: 'nb' } },
            { id: 'bob', info: {} },
          ],
        );
        assert.deepEqual(await store.channels(), ['lobby']);
      }
      assert.deepEqual(await a.remove('lobby', 'a1'), []);
      assert.deepEqual(await a.list('lobby'), [
        { id: 'ada', info: { on: 'nb' } },
        { id: 'bob', info: {} },
      ]);
      // A node removes a connection another node added: the store is one, whoever asks.
      assert.deepEqual(await a.remove('lobby', 'b1'), [{ channel: 'lobby', action: 'leave', member: { id: 'ada', info: { on: 'nb' } } }]);
      assert.deepEqual(await a.removeNode('nb'), [{ channel: 'lobby', action: 'leave', member: { id: 'bob', info: {} } }]);
      assert.deepEqual(await b.channels(), []);
    }));

  test('RedisPresence: concurrent adds of one identity from two nodes give exactly one join, concurrent removes one leave', () =>
    twoNodes(async (a, b) => {
      for (let round = 0; round < 10; round++) {
        const ids = Array.from({ length: 20 }, (_, i) => `r${round}-c${i}`);
        const joins = (await Promise.all(ids.map((id, i) => (i % 2 ? a : b).add('room', member(id, 'ada', i % 2 ? 'na' : 'nb'))))).flat();
        assert.deepEqual(joins, [{ channel: 'room', action: 'join', member: { id: 'ada', info: {} } }]);
        const leaves = (await Promise.all(ids.map((id, i) => (i % 2 ? b : a).remove('room', id)))).flat();
        assert.deepEqual(leaves, [{ channel: 'room', action: 'leave', member: { id: 'ada', info: {} } }]);
      }
      assert.deepEqual(await a.channels(), []);
    }));

  test('RedisPresence: a dead node is swept once although both nodes sweep at once; a node that keeps calling alive never is', async () => {
    const clock = { time: 5_000_000 };
    await twoNodes(async (a, b) => {
      await a.alive('na', 3000);
      await b.alive('nb', 3000);
      for (let i = 0; i < 50; i++) {
        await a.add('room', member(`a${i}`, `u${i}`, 'na', { on: 'na' }));
        await b.add(i % 2 ? 'room' : 'other', member(`b${i}`, `u${i}`, 'nb', { on: 'nb' }));
      }
      // na dies (stops calling alive); nb goes on, each second, and both sweep each second.
      for (let second = 1; second < 3; second++) {
        clock.time += 1000;
        await b.alive('nb', 3000);
        assert.deepEqual([...(await a.sweep()), ...(await b.sweep())], []);
      }
      clock.time += 1000;
      await b.alive('nb', 3000);
      const sweeps = await Promise.all([a.sweep(), b.sweep(), a.sweep(), b.sweep()]);
      const leaves = sweeps.flat();
      assert.equal(sweeps.filter((s) => s.length > 0).length, 1, 'one sweep claims the dead node');
      // u0, u2, … had na's connection only in room: those leave; u1, u3, … still have nb's connection there.
      assert.deepEqual(
        leaves.map((l) => `${l.channel}/${l.member.id}/${l.action}/${String(l.member.info.on)}`).sort(),
        Array.from({ length: 25 }, (_, i) => `room/u${2 * i}/leave/na`).sort(),
      );
      for (let second = 0; second < 10; second++) {
        clock.time += 1000;
        await b.alive('nb', 3000);
        assert.deepEqual((await Promise.all([a.sweep(), b.sweep()])).flat(), []);
      }
      assert.equal((await a.list('room')).length, 25);
      assert.equal((await a.list('other')).length, 25);
      assert.ok((await b.list('room')).every((m) => m.info.on === 'nb'));
    }, () => clock.time);
  });

  test('RedisPresence: by default liveness runs on Redis’s clock', () =>
    twoNodes(async (a, b) => {
      await a.alive('na', 150);
      await b.alive('nb', 60_000);
      await a.add('room', member('a1', 'ada', 'na'));
      await b.add('room', member('b1', 'bob', 'nb'));
      assert.deepEqual(await b.sweep(), []);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const [first, second] = await Promise.all([b.sweep(), a.sweep()]);
      assert.deepEqual([...first!, ...second!], [{ channel: 'room', action: 'leave', member: { id: 'ada', info: {} } }]);
      assert.deepEqual(await a.list('room'), [{ id: 'bob', info: {} }]);
    }));

  test('RedisPresence: alive rejects a ttl that is not a positive number', async () => {
    const presence = new RedisPresence({ url: redis.url, prefix: prefix() });
    try {
      for (const ttl of [0, -1, Number.NaN, Infinity]) await assert.rejects(presence.alive('n1', ttl), RangeError);
    } finally {
      await presence.close();
    }
  });

  test('RedisPresence: keys live under the prefix and one hash tag, and an empty store leaves only its epoch', async () => {
    const client = new Redis(redis.url);
    const presence = new RedisPresence({ client, prefix: 'keys:' });
    try {
      await presence.alive('n1', 60_000);
      await presence.add('presence-lobby', member('c1', 'ada', 'n1', { name: 'Ada' }));
      await presence.add('presence-lobby', member('c2', 'ada', 'n2'));
      assert.deepEqual((await client.keys('*')).filter((k) => k.startsWith('keys:')).sort(), [
        'keys:{presence}:alive',
        'keys:{presence}:c:presence-lobby',
        'keys:{presence}:channels',
        'keys:{presence}:epoch',
        'keys:{presence}:h:n1',
        'keys:{presence}:h:n2',
        'keys:{presence}:n:presence-lobby',
        'keys:{presence}:o:presence-lobby',
      ]);
      assert.equal(await client.pttl('keys:{presence}:c:presence-lobby'), -1);
      await presence.remove('presence-lobby', 'c1');
      await presence.removeNode('n2');
      await presence.removeNode('n1');
      assert.deepEqual((await client.keys('keys:*')).sort(), ['keys:{presence}:epoch']);
    } finally {
      await presence.close();
      // `close()` left the given connection open.
      assert.equal(await client.ping(), 'PONG');
      client.disconnect();
    }
  });

  test('RedisPresence: channel, node and identity names with separators and unicode', async () => {
    const presence = new RedisPresence({ url: redis.url, prefix: prefix() });
    try {
      const channel = 'presence:a:b{c}';
      const node = '12:n:ö';
      await presence.add(channel, member('3:x', 'id:1 ✓', node, { emoji: '🙂', nested: { list: [1, 'two', null], big: 2 ** 53 } }));
      await presence.add('x', member(':3:x', 'id:1 ✓', node));
      assert.deepEqual(await presence.list(channel), [{ id: 'id:1 ✓', info: { emoji: '🙂', nested: { list: [1, 'two', null], big: 2 ** 53 } } }]);
      assert.deepEqual((await presence.channels()).sort(), [channel, 'x'].sort());
      assert.deepEqual(
        (await presence.removeNode(node)).map((c) => c.channel).sort(),
        [channel, 'x'].sort(),
      );
      assert.deepEqual(await presence.channels(), []);
    } finally {
      await presence.close();
    }
  });

  test('RedisPresence: after a Redis restart without persistence, presence starts empty, calls work and `reset` is emitted', async () => {
    const server = await startTestRedis();
    assert.ok(typeof server !== 'string');
    const a = new RedisPresence({ url: server.url, redis: { retryStrategy: () => 50 } });
    const b = new RedisPresence({ url: server.url, redis: { retryStrategy: () => 50 } });
    let resets = 0;
    a.on('reset', () => resets++);
    try {
      await a.alive('na', 100_000);
      await a.add('room', member('c1', 'ada', 'na'));
      await b.add('room', member('c2', 'bob', 'nb'));
      await server.stop();
      await server.start();
      // The scripts are gone from Redis's cache too: EVALSHA fails with NOSCRIPT and ioredis sends EVAL.
      assert.deepEqual(await a.list('room'), []);
      assert.deepEqual(await a.channels(), []);
      assert.equal(resets, 0, 'reads do not notice');
      // Another node writes first; `a` still notices the data it saw is gone.
      assert.deepEqual(await b.remove('room', 'c2'), []);
      assert.deepEqual(await a.remove('room', 'c1'), []);
      assert.equal(resets, 1);
      assert.deepEqual(await a.add('room', member('c1', 'ada', 'na')), [{ channel: 'room', action: 'join', member: { id: 'ada', info: {} } }]);
      assert.equal(resets, 1, 'once per loss');
      // Liveness was lost with the rest: `na` is tracked again from its next alive.
      assert.deepEqual(await a.sweep(), []);
      await a.alive('na', 100);
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.deepEqual(await b.sweep(), [{ channel: 'room', action: 'leave', member: { id: 'ada', info: {} } }]);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await server.close();
    }
  });
}
