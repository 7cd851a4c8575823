// The in-memory history passes the history contract, and keeps its memory bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HISTORY_DEFAULTS, MEMORY_HISTORY_MAX_STREAMS, MemoryHistory } from '@switchboard/server';
import { historyContract } from '@switchboard/server/testing';

historyContract('MemoryHistory', (options) => new MemoryHistory(options));

test('MemoryHistory: documented defaults', () => {
  assert.deepEqual(HISTORY_DEFAULTS, { maxPublications: 100, maxAgeMs: 300_000 });
  assert.equal(MEMORY_HISTORY_MAX_STREAMS, 10_000);
  let time = 0;
  const history = new MemoryHistory({ now: () => time });
  for (let i = 1; i <= 150; i++) history.append('s', i);
  assert.equal(history.latest('s', 1000).publications.length, 100);
  time = 299_999;
  assert.equal(history.latest('s', 1000).publications.length, 100);
  time = 300_000;
  assert.equal(history.latest('s', 1000).publications.length, 0);
});

test('MemoryHistory: answers synchronously', () => {
  const history = new MemoryHistory();
  const position = history.append('s', 1);
  assert.equal(position.offset, 1);
  assert.equal(history.since('s', { epoch: position.epoch, offset: 0 }).reset, false);
});

test('MemoryHistory: a new instance (a restart) answers old positions with a reset', () => {
  const before = new MemoryHistory().append('s', 1);
  const after = new MemoryHistory();
  after.append('s', 1);
  const page = after.since('s', before);
  assert.equal(page.reset, true);
  assert.notEqual(page.position.epoch, before.epoch);
});

test('MemoryHistory: a stream with nothing held is dropped maxAgeMs after its last append', () => {
  let time = 0;
  const history = new MemoryHistory({ maxAgeMs: 1000, now: () => time });
  const old = history.append('a', 1);
  time = 600;
  history.append('b', 1);
  history.position('c'); // created empty by a read
  assert.equal(history.size, 3);
  time = 1000; // a's publication expired: a ends; b still holds one
  assert.equal(history.size, 2);
  time = 1600; // b's expired and c has been idle for maxAgeMs
  assert.equal(history.size, 0);
  const fresh = history.append('a', 2);
  assert.deepEqual(fresh.offset, 1);
  assert.notEqual(fresh.epoch, old.epoch);
});

test('MemoryHistory: at most maxStreams; the least recently appended-to is evicted', () => {
  const history = new MemoryHistory({ maxStreams: 3 });
  const a = history.append('a', 1);
  history.append('b', 1);
  history.append('c', 1);
  history.append('a', 2); // a is now the most recent
  history.append('d', 1); // evicts b
  assert.equal(history.size, 3);
  assert.equal(history.position('a').epoch, a.epoch);
  assert.equal(history.position('a').offset, 2);
  assert.equal(history.latest('c', 5).publications.length, 1);
  // b was evicted: a fresh stream (which in turn evicts the least recent, c)
  assert.equal(history.position('b').offset, 0);
  assert.equal(history.size, 3);
});

test('MemoryHistory: a long stream keeps memory bounded by maxPublications', () => {
  const history = new MemoryHistory({ maxPublications: 10 });
  let position = history.append('s', 0);
  for (let i = 1; i < 10_000; i++) position = history.append('s', i);
  assert.equal(position.offset, 10_000);
  const page = history.since('s', { epoch: position.epoch, offset: 9990 });
  assert.deepEqual(page.reset ? [] : page.publications.map((p) => p.data), [9990, 9991, 9992, 9993, 9994, 9995, 9996, 9997, 9998, 9999]);
  // The internal array is compacted, not grown: peek through the one stream.
  const streams = (history as unknown as { streams: Map<string, { entries: unknown[] }> }).streams;
  assert.ok(streams.get('s')!.entries.length <= 64, `entries grew to ${streams.get('s')!.entries.length}`);
});

test('MemoryHistory: refuses bad bounds', () => {
  assert.throws(() => new MemoryHistory({ maxPublications: 0 }), RangeError);
  assert.throws(() => new MemoryHistory({ maxPublications: 1.5 }), RangeError);
  assert.throws(() => new MemoryHistory({ maxAgeMs: 0 }), RangeError);
  assert.throws(() => new MemoryHistory({ maxAgeMs: Number.NaN }), RangeError);
  assert.throws(() => new MemoryHistory({ maxStreams: 0 }), RangeError);
  const unbounded = new MemoryHistory({ maxAgeMs: Number.POSITIVE_INFINITY });
  unbounded.append('s', 1);
  assert.equal(unbounded.size, 1);
});
