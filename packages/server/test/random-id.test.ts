// Ids a person copies onto a command line (connections, room instances) never start with "-", which the CLI
// would read as a flag; the rooms test checks the same through the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newConnectionId } from '../src/connection/connection.ts';
import { randomId } from '../src/random-id.ts';

test('random ids are base64url of the given bytes and never start with "-"', () => {
  // One in 64 would start with "-" if nothing prevented it: 20,000 all missing it by chance is ~1 in 10^137.
  const connections = new Set(Array.from({ length: 20_000 }, () => newConnectionId()));
  assert.equal(connections.size, 20_000, 'every connection id is new');
  for (const id of connections) assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{15}$/);
  for (let i = 0; i < 20_000; i++) assert.match(randomId(3), /^[A-Za-z0-9_][A-Za-z0-9_-]{3}$/);
});
