// The Redis bus against a real, throwaway Redis: the bus contract (two nodes, a key prefix per pair), two
// nodes publishing to each other, and a Redis restart (down, up, delivery resumes).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus, BusMessage, ClusterMessage } from '@switchboard/server';
import { busContract } from '@switchboard/server/testing';
import { RedisBus } from '@switchboard/redis';
import { startTestRedis } from './redis.ts';

const redis = await startTestRedis();

async function eventually(check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * One node's handle for the contract: publishes once the other nodes' subscriptions made so far are in
 * Redis. A subscription on another node is asynchronous (the contract's in-process bus has none of that);
 * in order, since each publication waits behind the previous one.
 */
function node(self: RedisBus, others: RedisBus[]): Bus {
  let chain = Promise.resolve();
  return {
    publish(message: ClusterMessage) {
      const barrier = Promise.all(others.map((other) => other.settled()));
      chain = chain.then(() => barrier).then(() => self.publish(message));
    },
    subscribe: self.subscribe.bind(self) as Bus['subscribe'],
    unsubscribe: self.unsubscribe.bind(self) as Bus['unsubscribe'],
    close: () => self.close(),
  };
}

if (typeof redis === 'string') {
  test('RedisBus (contract, two nodes, restart)', { skip: `REDIS TESTS SKIPPED: ${redis}` }, () => {});
} else {
  after(() => redis.close());
  let pairs = 0;

  busContract('RedisBus', async () => {
    const prefix = `sb-test-${++pairs}:`;
    const a = new RedisBus({ url: redis.url, prefix });
    const b = new RedisBus({ url: redis.url, prefix });
    await Promise.all([a.ready(), b.ready()]);
    return { a: node(a, [b]), b: node(b, [a]), close: async () => void (await Promise.all([a.close(), b.close()])) };
  });

  test('RedisBus: two nodes deliver each other’s publications, in order, and their own', async () => {
    const a = new RedisBus({ url: redis.url, prefix: 'two-nodes:' });
    const b = new RedisBus({ url: redis.url, prefix: 'two-nodes:' });
    const other = new RedisBus({ url: redis.url, prefix: 'elsewhere:' });
    try {
      const onA: number[] = [];
      const onB: number[] = [];
      const onOther: unknown[] = [];
      a.subscribe('channel:room', (message: BusMessage) => onA.push(message.envelope.data as number));
      b.subscribe('channel:room', (message: BusMessage) => onB.push(message.envelope.data as number));
      other.subscribe('channel:room', (message: BusMessage) => onOther.push(message.envelope.data));
      await Promise.all([a.settled(), b.settled(), other.settled()]);
      for (let i = 0; i < 200; i++) (i % 2 === 0 ? a : b).publish({ topic: 'channel:room', envelope: { type: 't', data: i } });
      await eventually(() => onA.length === 200 && onB.length === 200);
      // Each node's own publications keep their order; both nodes see the one order Redis delivered in.
      assert.deepEqual(onA, onB);
      assert.deepEqual(onA.filter((n) => n % 2 === 0), Array.from({ length: 100 }, (_, i) => 2 * i));
      assert.deepEqual(onA.filter((n) => n % 2 === 1), Array.from({ length: 100 }, (_, i) => 2 * i + 1));
      assert.deepEqual(onOther, [], 'another prefix is another bus');
      // Subscribe then publish on one node: the bus holds the publication until the subscription is in Redis.
      const own: unknown[] = [];
      a.subscribe('channel:fresh', (message: BusMessage) => own.push(message.envelope.data));
      a.publish({ topic: 'channel:fresh', envelope: { type: 't', data: 'mine' } });
      await eventually(() => own.length === 1);
      assert.deepEqual(own, ['mine']);
    } finally {
      await Promise.all([a.close(), b.close(), other.close()]);
    }
  });

  test('RedisBus: a Redis restart takes it down and up again; delivery resumes, subscriptions survive', async () => {
    const server = await startTestRedis();
    assert.ok(typeof server !== 'string');
    // Reconnect quickly, so the test does not wait for ioredis's default back-off.
    const options = { url: server.url, prefix: 'restart:', redis: { retryStrategy: () => 50 } };
    const a = new RedisBus(options);
    const b = new RedisBus(options);
    try {
      const events: string[] = [];
      b.on('down', () => events.push('down'));
      b.on('up', () => events.push('up'));
      await Promise.all([a.ready(), b.ready()]);
      assert.deepEqual(events.splice(0), ['up']);
      assert.equal(b.connected, true);
      const got: unknown[] = [];
      b.subscribe('grants', (message: ClusterMessage) => got.push(message.kind === 'grants' ? message.identityId : message));
      await b.settled();
      a.publish({ kind: 'grants', topic: 'grants', node: 'a', identityId: 'before', change: { op: 'enable' } });
      await eventually(() => got.length === 1);

      await server.stop();
      await eventually(() => !a.connected && !b.connected);
      assert.deepEqual(events, ['down']);
      const dropped = a.dropped;
      a.publish({ kind: 'grants', topic: 'grants', node: 'a', identityId: 'while-down', change: { op: 'enable' } });
      assert.equal(a.dropped, dropped + 1, 'a publication while Redis is away is dropped, not queued');

      await server.start();
      await eventually(() => a.connected && b.connected);
      assert.deepEqual(events, ['down', 'up']);
      // Resubscribed by itself: `up` comes once the subscriptions are back in Redis.
      a.publish({ kind: 'grants', topic: 'grants', node: 'a', identityId: 'after', change: { op: 'enable' } });
      await eventually(() => got.length === 2);
      assert.deepEqual(got, ['before', 'after']);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await server.close();
    }
  });
}
