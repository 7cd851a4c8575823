// The Redis history against a real, throwaway Redis: the history contract (a key prefix per history), two
// nodes sharing streams, keys that expire when a stream is idle, and a Redis restart (a new epoch: old positions reset).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { StreamPage } from '@switchboard/server';
import { historyContract } from '@switchboard/server/testing';
import { RedisHistory } from '@switchboard/redis';
import { startTestRedis } from './redis.ts';

const redis = await startTestRedis();

if (typeof redis === 'string') {
  test('RedisHistory (contract, expiry, restart)', { skip: `REDIS TESTS SKIPPED: ${redis}` }, () => {});
} else {
  after(() => redis.close());
  let histories = 0;

  historyContract('RedisHistory', (options) => new RedisHistory({ ...options, url: redis.url, prefix: `sb-test-${++histories}:` }));

  test('RedisHistory: two nodes share streams; one epoch, offsets interleave without repeating', async () => {
    const a = new RedisHistory({ url: redis.url, prefix: 'shared:' });
    const b = new RedisHistory({ url: redis.url, prefix: 'shared:' });
    try {
      const start = await b.position('channel:x');
      const positions = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append('channel:x', i)));
      assert.deepEqual(positions.map((p) => p.offset).sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i + 1));
      assert.deepEqual(new Set(positions.map((p) => p.epoch)), new Set([start.epoch]));
      const page = (await a.since('channel:x', start)) as StreamPage;
      assert.equal(page.reset, false);
      assert.equal(page.publications.length, 40);
      assert.deepEqual(await b.position('channel:x'), { epoch: start.epoch, offset: 40 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('RedisHistory: an idle stream’s keys expire after maxAgeMs; with Infinity they stay', async () => {
    const client = new Redis(redis.url);
    const short = new RedisHistory({ client, prefix: 'ttl:', maxAgeMs: 200 });
    const forever = new RedisHistory({ client, prefix: 'ttl-forever:', maxAgeMs: Infinity });
    try {
      const first = await short.append('s', 1);
      await forever.append('s', 1);
      assert.deepEqual((await client.keys('ttl:*')).sort(), ['ttl:history:{s}', 'ttl:history:{s}:log']);
      const ttl = await client.pttl('ttl:history:{s}:log');
      assert.ok(ttl > 0 && ttl <= 200, `pttl ${ttl}`);
      assert.equal(await client.pttl('ttl-forever:history:{s}'), -1);
      // Real time this once: Redis drops the keys, and the stream starts again under a new epoch.
      const deadline = Date.now() + 15_000;
      while ((await client.exists('ttl:history:{s}', 'ttl:history:{s}:log')) > 0) {
        assert.ok(Date.now() < deadline, 'keys did not expire');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const again = await short.append('s', 2);
      assert.equal(again.offset, 1);
      assert.notEqual(again.epoch, first.epoch);
      assert.equal((await short.since('s', first)).reset, true);
      assert.equal((await forever.position('s')).offset, 1);
    } finally {
      await Promise.all([short.close(), forever.close()]);
      client.disconnect();
    }
  });

  test('RedisHistory: after a Redis restart without persistence, streams have a new epoch and old positions reset', async () => {
    const server = await startTestRedis();
    assert.ok(typeof server !== 'string');
    const history = new RedisHistory({ url: server.url, redis: { retryStrategy: () => 50 } });
    try {
      await history.append('channel:orders', 'one');
      const before = await history.append('channel:orders', 'two');
      await server.stop();
      await server.start();
      // The scripts are gone from Redis's cache too: EVALSHA fails with NOSCRIPT and ioredis sends EVAL.
      const page = await history.since('channel:orders', before);
      assert.equal(page.reset, true);
      assert.notEqual(page.position.epoch, before.epoch);
      assert.equal(page.position.offset, 0);
      assert.deepEqual(await history.append('channel:orders', 'three'), { epoch: page.position.epoch, offset: 1 });
      assert.deepEqual((await history.since('channel:orders', page.position)).reset, false);
    } finally {
      await history.close();
      await server.close();
    }
  });
}
