// The reconnect delay: exponential, capped, and spread by jitter within its bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, DEFAULT_RECONNECT } from '@switchboard/client';

test('delays double from the initial delay up to the ceiling', () => {
  const options = { ...DEFAULT_RECONNECT, jitter: 0 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffDelay(attempt, options)),
    [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000],
  );
});

test('jitter spreads a delay by at most ± its fraction, and never past the ceiling', () => {
  const options = { ...DEFAULT_RECONNECT, jitter: 0.5 };
  assert.equal(backoffDelay(1, options, () => 0), 125);
  assert.equal(backoffDelay(1, options, () => 0.5), 250);
  assert.equal(backoffDelay(1, options, () => 0.9999), 375);
  assert.equal(backoffDelay(20, options, () => 0.9999), 10_000);
  for (let i = 0; i < 1000; i++) {
    const delay = backoffDelay(3, options);
    assert.ok(delay >= 500 && delay <= 1500, `delay ${delay} out of bounds`);
  }
});
