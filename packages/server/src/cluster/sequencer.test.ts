// The sequencer: channel messages leave in the order of their offsets, whichever arrives first, and nothing waits for an offset that will never come.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BusMessage } from '../bus/bus.ts';
import { Sequencer } from './sequencer.ts';

function message(offset: number): BusMessage {
  return { topic: 'channel:c', envelope: { type: '$message', data: { channel: 'c', event: 'e', data: offset, epoch: 'E', offset } } };
}

const offsetOf = (released: BusMessage[]) => released.map((m) => (m.envelope.data as { offset: number }).offset);

test('a message waits for the offsets handed out before it, then leaves in order', () => {
  const released: BusMessage[] = [];
  const sequencer = new Sequencer(1000, (m) => released.push(m));
  const [a, b] = [{}, {}];
  sequencer.issued('c', { epoch: 'E', offset: 1 }, a);
  sequencer.issued('c', { epoch: 'E', offset: 2 }, b);
  sequencer.issued('c', { epoch: 'E', offset: 3 }, b);
  sequencer.publish('c', { epoch: 'E', offset: 3 }, message(3));
  sequencer.publish('c', { epoch: 'E', offset: 2 }, message(2));
  assert.deepEqual(offsetOf(released), []);
  sequencer.publish('c', { epoch: 'E', offset: 1 }, message(1));
  assert.deepEqual(offsetOf(released), [1, 2, 3]);
  // Nothing awaited: at once.
  sequencer.publish('c', { epoch: 'E', offset: 4 }, message(4));
  assert.deepEqual(offsetOf(released), [1, 2, 3, 4]);
  sequencer.close();
});

test('offsets of a publisher that is gone, of another epoch, or never published do not hold others back', async () => {
  const released: BusMessage[] = [];
  let onRelease = () => {};
  const sequencer = new Sequencer(20, (m) => {
    released.push(m);
    onRelease();
  });
  const [dead, alive] = [{}, {}];
  sequencer.issued('c', { epoch: 'E', offset: 1 }, dead);
  sequencer.issued('c', { epoch: 'E', offset: 2 }, alive);
  sequencer.publish('c', { epoch: 'E', offset: 2 }, message(2));
  assert.deepEqual(offsetOf(released), []);
  sequencer.forget(dead);
  assert.deepEqual(offsetOf(released), [2]);

  // A message of another epoch than the one awaited passes at once.
  sequencer.issued('c', { epoch: 'E', offset: 3 }, alive);
  sequencer.publish('c', { epoch: 'F', offset: 1 }, message(1));
  assert.deepEqual(offsetOf(released), [2, 1]);

  // Awaited but never published (a resource's stream, a worker that lost it): given up on after holdMs.
  sequencer.issued('c', { epoch: 'E', offset: 4 }, alive);
  sequencer.issued('c', { epoch: 'E', offset: 5 }, alive);
  const released5 = new Promise<void>((resolve) => (onRelease = resolve));
  sequencer.publish('c', { epoch: 'E', offset: 5 }, message(5));
  assert.deepEqual(offsetOf(released), [2, 1]);
  // The sequencer's timer does not hold the process open (unref): this one keeps the loop alive meanwhile.
  const alivePromise = setTimeout(() => {}, 10_000);
  await released5;
  clearTimeout(alivePromise);
  assert.deepEqual(offsetOf(released), [2, 1, 5]);
  sequencer.close();
});
