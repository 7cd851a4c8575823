// The metrics table stays bounded whatever types a client sends: extra types share the `(other)` entry; sizes and error codes too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MAX_ERROR_CODES, MAX_METRIC_TYPES, MetricLabel, Metrics, SIZE_BUCKETS } from './metrics.ts';

const randomType = () => `t.${randomBytes(8).toString('hex')}`;

test('100k distinct random types leave at most the bound plus the fixed labels', () => {
  const metrics = new Metrics();
  for (let i = 0; i < 100_000; i++) {
    metrics.inbound(randomType(), 10);
    if (i % 3 === 0) metrics.outbound(randomType(), 5, 2);
    if (i % 7 === 0) metrics.handler(randomType(), 1, true);
  }
  metrics.inbound(MetricLabel.unknown, 1);
  metrics.inbound(MetricLabel.invalid, 1);
  const snapshot = metrics.snapshot();
  const keys = Object.keys(snapshot);
  assert.ok(keys.length <= MAX_METRIC_TYPES + Object.keys(MetricLabel).length, `${keys.length} entries`);
  assert.equal(keys.filter((key) => key.startsWith('t.')).length, MAX_METRIC_TYPES);
  // Nothing is lost: whatever did not get its own entry is counted under (other).
  const inbound = keys.reduce((sum, key) => sum + snapshot[key]!.inbound.count, 0);
  assert.equal(inbound, 100_002);
  assert.ok(snapshot[MetricLabel.other]!.inbound.count > 90_000);
  // The fixed labels get their entries even once the table is full.
  assert.equal(snapshot[MetricLabel.unknown]!.inbound.count, 1);
  assert.equal(snapshot[MetricLabel.invalid]!.inbound.count, 1);
});

test('types seen before the table filled keep their own entry', () => {
  const metrics = new Metrics({ maxTypes: 2 });
  metrics.inbound('chat.send', 3);
  metrics.inbound('chat.typing', 4);
  metrics.inbound('attacker.1', 5);
  metrics.inbound('chat.send', 7);
  const snapshot = metrics.snapshot();
  assert.deepEqual(Object.keys(snapshot).sort(), ['(other)', 'chat.send', 'chat.typing']);
  assert.deepEqual(snapshot['chat.send']!.inbound, { count: 2, bytes: 10, maxBytes: 7 });
  assert.deepEqual(snapshot['(other)']!.inbound, { count: 1, bytes: 5, maxBytes: 5 });
});

test('a known predicate sends every other type to (other)', () => {
  const served = new Set(['chat.send']);
  const metrics = new Metrics({ known: (type) => served.has(type) });
  for (let i = 0; i < 1000; i++) metrics.inbound(randomType(), 1);
  metrics.inbound('chat.send', 1);
  metrics.handler('chat.send', 2, true);
  assert.deepEqual(Object.keys(metrics.snapshot()).sort(), ['(other)', 'chat.send']);
  assert.equal(metrics.snapshot()['(other)']!.inbound.count, 1000);
});

test('a type named __proto__ is an ordinary key in the snapshot', () => {
  const metrics = new Metrics();
  metrics.inbound('__proto__', 1);
  const snapshot = metrics.snapshot();
  assert.equal(Object.getPrototypeOf(snapshot), Object.prototype);
  assert.deepEqual(Object.keys(snapshot), ['__proto__']);
  assert.equal(JSON.parse(JSON.stringify(snapshot)).__proto__.inbound.count, 1);
});

test('payload sizes are counted per direction in their buckets, a fan-out once per recipient', () => {
  const metrics = new Metrics();
  metrics.inbound('chat.send', 10);
  metrics.inbound('chat.send', 64);
  metrics.inbound('chat.send', 65);
  metrics.outbound('chat.message', 5000, 3);
  const { inbound, outbound } = metrics.sizes;
  assert.deepEqual([inbound.count, inbound.sum], [3, 139]);
  assert.equal(inbound.buckets[SIZE_BUCKETS.indexOf(64)], 2, '10 and 64 bytes are in the 64-byte bucket');
  assert.equal(inbound.buckets[SIZE_BUCKETS.indexOf(256)], 1);
  assert.deepEqual([outbound.count, outbound.sum, outbound.buckets[SIZE_BUCKETS.indexOf(16384)]], [3, 15000, 3]);
  metrics.inbound('huge', 5 * 1024 * 1024);
  assert.equal(inbound.buckets.at(-1), 1, 'past the last bound: the +Inf bucket');
});

test('error codes are counted, at most MAX_ERROR_CODES of them, then under (other)', () => {
  const metrics = new Metrics();
  for (let i = 0; i < MAX_ERROR_CODES + 10; i++) metrics.error(`code_${i}`);
  metrics.error('code_0');
  assert.equal(metrics.errors.size, MAX_ERROR_CODES + 1);
  assert.equal(metrics.errors.get('code_0'), 2);
  assert.equal(metrics.errors.get(MetricLabel.other), 10);
});
