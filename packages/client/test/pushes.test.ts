// Server pushes reach `client.on` listeners by message type, with their envelope, until unsubscribed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Envelope } from '@switchboard/client';
import { definePlug, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { nextValue } from './helpers.ts';

const news = definePlug({
  name: 'news',
  messages: {
    'news.ask': {
      input: z.object({ count: z.number().int().min(1).max(10) }),
      handler(data, ctx) {
        for (let n = 1; n <= data.count; n++) ctx.send('news.item', { n });
        return { sent: data.count };
      },
    },
    'news.flash': {
      input: z.object({ text: z.string() }),
      handler(data, ctx) {
        ctx.server.broadcast('news.flash', data);
      },
    },
  },
});

test('on delivers pushes of its type with their envelope', async () => {
  await using t = await startTestServer({ plugs: [news] });
  using client = connect(t.wsUrl);
  const items: { data: unknown; envelope: Envelope }[] = [];
  client.on('news.item', (data, envelope) => items.push({ data, envelope }));
  // Pushes sent before the reply arrive before it: one connection keeps its order.
  assert.deepEqual(await client.request('news.ask', { count: 3 }), { sent: 3 });
  assert.deepEqual(items.map((item) => item.data), [{ n: 1 }, { n: 2 }, { n: 3 }]);
  assert.deepEqual(items[0]?.envelope, { type: 'news.item', data: { n: 1 } });
});

test('a broadcast reaches every client, and off() stops delivery', async () => {
  await using t = await startTestServer({ plugs: [news] });
  using alice = connect(t.wsUrl);
  using bob = connect(t.wsUrl);
  await Promise.all([alice.ready, bob.ready]);
  const seenByBob = nextValue((callback) => bob.on('news.flash', callback));
  const seen: unknown[] = [];
  const off = alice.on('news.flash', (data) => seen.push(data));
  await alice.request('news.flash', { text: 'one' });
  assert.deepEqual(await seenByBob, { text: 'one' });
  assert.deepEqual(seen, [{ text: 'one' }]);

  off();
  const again = nextValue((callback) => bob.on('news.flash', callback));
  await alice.request('news.flash', { text: 'two' });
  assert.deepEqual(await again, { text: 'two' });
  // A round trip on alice's connection: her own copy had arrived by then, and her listener was gone.
  await alice.request('$ping');
  assert.deepEqual(seen, [{ text: 'one' }]);
});
