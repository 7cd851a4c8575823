// The contract every bus must honour; each bus implementation's test runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DIRECT_TOPIC, GRANTS_TOPIC, PLUGS_TOPIC, isPublication, nodeTopic, presenceTopic } from '../index.ts';
import type { Bus, BusMessage, ClusterMessage } from '../index.ts';

/** Waits until `check` passes, polling without fixed sleeps beyond a short yield; gives up after `ms`. */
async function eventually(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Registers the bus contract tests. `create` makes two handles on one shared bus (two nodes); for a
 * single-process bus both may be the same object.
 */
export function busContract(name: string, create: () => Promise<{ a: Bus; b: Bus; close(): Promise<void> }>): void {
  test(`${name}: a subscriber receives what is published to its topic, from any node`, async () => {
    const { a, b, close } = await create();
    try {
      const got: BusMessage[] = [];
      b.subscribe('channel:x', (message) => got.push(message));
      a.publish({ topic: 'channel:x', envelope: { type: 't', data: 1 }, except: 'c1' });
      a.publish({ topic: 'channel:y', envelope: { type: 't', data: 2 } });
      await eventually(() => got.length === 1);
      assert.deepEqual(got[0], { topic: 'channel:x', envelope: { type: 't', data: 1 }, except: 'c1' });
    } finally {
      await close();
    }
  });

  test(`${name}: per-topic order is kept`, async () => {
    const { a, b, close } = await create();
    try {
      const got: number[] = [];
      b.subscribe('all', (message) => got.push(message.envelope.data as number));
      for (let i = 0; i < 1000; i++) a.publish({ topic: 'all', envelope: { type: 't', data: i } });
      await eventually(() => got.length === 1000);
      assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => i));
    } finally {
      await close();
    }
  });

  test(`${name}: unsubscribing stops delivery; subscribing twice delivers once`, async () => {
    const { a, b, close } = await create();
    try {
      const got: unknown[] = [];
      const listener = (message: BusMessage) => got.push(message.envelope.data);
      b.subscribe('channel:z', listener);
      b.subscribe('channel:z', listener);
      a.publish({ topic: 'channel:z', envelope: { type: 't', data: 'first' } });
      await eventually(() => got.length >= 1);
      b.unsubscribe('channel:z', listener);
      a.publish({ topic: 'channel:z', envelope: { type: 't', data: 'second' } });
      // A marker on another topic proves later messages were processed.
      const marker: unknown[] = [];
      b.subscribe('channel:marker', (message) => marker.push(message.envelope.data));
      a.publish({ topic: 'channel:marker', envelope: { type: 't', data: 'done' } });
      await eventually(() => marker.length === 1);
      assert.deepEqual(got, ['first']);
    } finally {
      await close();
    }
  });

  // One message of every kind (and both spellings of a publication), each on the topic it belongs to.
  const kinds: ClusterMessage[] = [
    { topic: 'channel:k', envelope: { type: '$message', data: { channel: 'k', event: 'e', data: [1, 'two', null] } } },
    { kind: 'publication', topic: 'channel:k', envelope: { type: 't' }, except: 'c9' },
    { kind: 'direct', topic: nodeTopic('node-b'), connectionId: 'c1', envelope: { type: 'note', id: 7, data: { text: 'hi' } } },
    { kind: 'direct', topic: DIRECT_TOPIC, connectionId: 'c2', envelope: { type: 'note', error: { code: 'x', message: 'y' } } },
    { kind: 'grants', topic: GRANTS_TOPIC, node: 'node-a', identityId: 'user-42', change: { op: 'revoke', grants: ['subscribe:private-a', 'broadcast'] }, reason: 'left' },
    { kind: 'grants', topic: GRANTS_TOPIC, node: 'node-a', identityId: 'user-42', change: { op: 'set', grants: [] } },
    { kind: 'grants', topic: GRANTS_TOPIC, node: 'node-a', identityId: 'user-43', change: { op: 'reset' } },
    { kind: 'grants', topic: GRANTS_TOPIC, node: 'node-a', identityId: 'user-44', change: { op: 'disable', reason: 'abuse' } },
    {
      kind: 'presence',
      topic: presenceTopic('presence-lobby'),
      channel: 'presence-lobby',
      node: 'node-a',
      action: 'join',
      member: { connectionId: 'c3', node: 'node-a', identityId: 'user-42', info: { name: 'Ada', tags: ['x'], nested: { n: 1 } } },
    },
    { kind: 'plug', topic: PLUGS_TOPIC, node: 'node-a', action: 'install', plug: 'chat', version: '1.2.0' },
    { kind: 'plug', topic: PLUGS_TOPIC, node: 'node-a', action: 'remove', plug: 'chat', version: '1.2.0' },
  ];

  test(`${name}: every message kind arrives unchanged on its topic, and only there`, async () => {
    const { a, b, close } = await create();
    try {
      const topics = [...new Set(kinds.map((message) => message.topic))];
      const got = new Map<string, ClusterMessage[]>(topics.map((topic) => [topic, []]));
      for (const topic of topics) b.subscribe(topic, (message: ClusterMessage) => got.get(topic)!.push(message));
      // Compared with a copy taken before publishing, so a bus that changes what it carries fails.
      const expected = structuredClone(kinds);
      for (const message of kinds) a.publish(message);
      await eventually(() => [...got.values()].reduce((n, list) => n + list.length, 0) === kinds.length);
      for (const topic of topics) {
        assert.deepEqual(got.get(topic), expected.filter((message) => message.topic === topic), topic);
      }
      // A publication keeps the kind it was published with, or the lack of one.
      const publications = got.get('channel:k')!;
      assert.equal('kind' in publications[0]!, false);
      assert.equal(publications[1]!.kind, 'publication');
      assert.deepEqual(publications.map(isPublication), [true, true]);
    } finally {
      await close();
    }
  });

  test(`${name}: per-topic order holds across kinds`, async () => {
    const { a, b, close } = await create();
    try {
      const topic = nodeTopic('node-b');
      const got: ClusterMessage[] = [];
      b.subscribe(topic, (message: ClusterMessage) => got.push(message));
      const sent: ClusterMessage[] = [];
      for (let i = 0; i < 300; i++) {
        const template = kinds[i % kinds.length]!;
        const message = { ...template, topic } as ClusterMessage;
        // Tag each message so order is checked, not just the multiset.
        if (message.kind === 'grants') message.identityId = `user-${i}`;
        else if (message.kind === 'presence') message.member = { ...message.member, connectionId: `c-${i}` };
        else if (message.kind === 'plug') message.version = `${i}`;
        else message.envelope = { type: 't', data: i };
        sent.push(message);
        a.publish(message);
      }
      await eventually(() => got.length === sent.length);
      assert.deepEqual(got, sent);
    } finally {
      await close();
    }
  });

  test(`${name}: a message reaches every subscriber of its topic on every node`, async () => {
    const { a, b, close } = await create();
    try {
      const onA: ClusterMessage[] = [];
      const onB: ClusterMessage[] = [];
      a.subscribe(GRANTS_TOPIC, (message: ClusterMessage) => onA.push(message));
      b.subscribe(GRANTS_TOPIC, (message: ClusterMessage) => onB.push(message));
      const message: ClusterMessage = { kind: 'grants', topic: GRANTS_TOPIC, node: 'node-b', identityId: 'u', change: { op: 'enable' } };
      b.publish(message);
      await eventually(() => onA.length === 1 && onB.length === 1);
      assert.deepEqual(onA, [message]);
      assert.deepEqual(onB, [message]);
    } finally {
      await close();
    }
  });
}
