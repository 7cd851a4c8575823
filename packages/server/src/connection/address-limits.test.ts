// Per-address limits with a hand-driven clock: connection rate, open connections, the shared message budget, and forgetting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '@switchboard/protocol';
import { AddressLimits, addressLimitsSchema } from './address-limits.ts';

function clock(start = 1000) {
  const time = { now: start };
  return { time, now: () => time.now };
}

test('the defaults are generous and documented', () => {
  assert.deepEqual(addressLimitsSchema.parse({}), {
    connectionsPerSecond: 50,
    connectionBurst: 100,
    maxConnectionsPerAddress: 0,
    messagesPerSecond: 2000,
    burst: 4000,
  });
  assert.throws(() => addressLimitsSchema.parse({ messagesPerSec: 10 }), /messagesPerSec/);
  assert.throws(() => addressLimitsSchema.parse({ connectionBurst: 0 }));
});

test('new connections follow a token bucket per address', () => {
  const { time, now } = clock();
  const limits = new AddressLimits({ connectionsPerSecond: 10, connectionBurst: 3 }, now);
  for (let i = 0; i < 3; i++) assert.equal(limits.admit('10.0.0.1').ok, true);
  const refused = limits.admit('10.0.0.1');
  assert.equal(refused.ok, false);
  assert.ok(!refused.ok && refused.status === 429 && refused.code === ErrorCode.rateLimited);
  // Another address has its own bucket.
  assert.equal(limits.admit('10.0.0.2').ok, true);
  // 100 ms at 10/s is one token.
  time.now += 100;
  assert.equal(limits.admit('10.0.0.1').ok, true);
  assert.equal(limits.admit('10.0.0.1').ok, false);
});

test('open connections per address are capped, and a close frees a slot', () => {
  const { now } = clock();
  const limits = new AddressLimits({ maxConnectionsPerAddress: 2, connectionsPerSecond: 0 }, now);
  for (let i = 0; i < 2; i++) {
    assert.equal(limits.admit('a').ok, true);
    limits.opened('a');
  }
  const refused = limits.admit('a');
  assert.ok(!refused.ok && refused.status === 429 && refused.code === ErrorCode.limitExceeded);
  assert.equal(limits.admit('b').ok, true);
  limits.closed('a');
  assert.equal(limits.admit('a').ok, true);
});

test('0 turns each limit off', () => {
  const { now } = clock();
  const limits = new AddressLimits({ connectionsPerSecond: 0, maxConnectionsPerAddress: 0, messagesPerSecond: 0 }, now);
  for (let i = 0; i < 10_000; i++) {
    assert.equal(limits.admit('a').ok, true);
    limits.opened('a');
    assert.equal(limits.takeMessage('a'), true);
  }
});

test('the message budget is shared by all connections of an address and refills over time', () => {
  const { time, now } = clock();
  const limits = new AddressLimits({ messagesPerSecond: 100, burst: 10 }, now);
  limits.opened('a');
  limits.opened('a');
  limits.opened('b');
  // Two connections of `a` draw from one budget of 10.
  let allowed = 0;
  for (let i = 0; i < 20; i++) if (limits.takeMessage('a')) allowed++;
  assert.equal(allowed, 10);
  assert.equal(limits.takeMessage('b'), true);
  time.now += 50; // 5 tokens at 100/s
  allowed = 0;
  for (let i = 0; i < 20; i++) if (limits.takeMessage('a')) allowed++;
  assert.equal(allowed, 5);
  time.now += 10_000; // refills to the burst, never above it
  allowed = 0;
  for (let i = 0; i < 50; i++) if (limits.takeMessage('a')) allowed++;
  assert.equal(allowed, 10);
});

test('addresses with no open connection are forgotten once their buckets are full again', () => {
  const { time, now } = clock();
  const limits = new AddressLimits({ connectionsPerSecond: 10, connectionBurst: 10, messagesPerSecond: 100, burst: 100 }, now);
  assert.equal(limits.admit('a').ok, true);
  limits.opened('a');
  limits.takeMessage('a');
  // Closing while a bucket is still short keeps the entry: forgetting it would hand out a fresh burst.
  limits.closed('a');
  assert.equal(limits.size, 1);
  time.now += 1000; // both buckets full again
  limits.sweep();
  assert.equal(limits.size, 0);

  // An address that still has a connection open is never forgotten.
  limits.admit('b');
  limits.opened('b');
  time.now += 60_000;
  limits.sweep();
  assert.equal(limits.size, 1);
  limits.closed('b');
  assert.equal(limits.size, 0, 'closing the last connection with full buckets forgets the address at once');
});

test('a flood of one-off addresses does not grow the table: admit sweeps as time passes', () => {
  const { time, now } = clock();
  const limits = new AddressLimits({}, now);
  for (let second = 0; second < 20; second++) {
    for (let i = 0; i < 5000; i++) {
      const address = `2001:db8::${second.toString(16)}:${i.toString(16)}`;
      limits.admit(address);
      // Half of them get as far as a connection, which closes again.
      if (i % 2 === 0) {
        limits.opened(address);
        limits.takeMessage(address);
        limits.closed(address);
      }
    }
    time.now += 1000;
  }
  // With the defaults a bucket refills in 2 s, so only the last few seconds' addresses remain.
  assert.ok(limits.size <= 3 * 5000, `${limits.size} entries`);
  time.now += 5000;
  limits.admit('late');
  assert.equal(limits.size, 1);
});
