// The in-memory presence store passes the presence contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryPresence } from '@switchboard/server';
import { presenceContract } from '@switchboard/server/testing';

presenceContract('MemoryPresence', () => new MemoryPresence());

test('MemoryPresence: answers synchronously and keeps the join order in list', () => {
  const presence = new MemoryPresence();
  presence.add('room', { connectionId: 'c1', node: 'n1', identityId: 'bob', info: {} });
  presence.add('room', { connectionId: 'c2', node: 'n1', identityId: 'ada', info: {} });
  assert.deepEqual(presence.list('room').map((m) => m.id), ['bob', 'ada']);
});
