// The contract every bus must honour; each bus implementation's test runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus, BusMessage } from '@switchboard/server';

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
}
