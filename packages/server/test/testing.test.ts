// The test helpers themselves: dropConnections fails the link as a network would, closeConnections closes politely.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode } from '@switchboard/protocol';
import { startTestServer } from '@switchboard/server/testing';
import { closeCodeOf, RawClient } from './helpers.ts';


test('dropConnections destroys the sockets: no close frame, the client sees 1006', async () => {
  await using t = await startTestServer();
  await using one = await RawClient.connect(t.wsUrl);
  await using two = await RawClient.connect(t.wsUrl);
  const ids = [...t.server.connections()].map((connection) => connection.id);
  const serverSaw = Promise.all(ids.map((id) => closeCodeOf(t.server, id)));
  t.dropConnections();
  assert.deepEqual(await Promise.all([one.waitClose(), two.waitClose()]), [1006, 1006]);
  assert.deepEqual([one.closeReason, two.closeReason], ['', '']);
  assert.deepEqual(await serverSaw, [1006, 1006]);
  assert.equal(t.server.connectionCount, 0);
});

test('dropConnections with a match drops only the connections it picks', async () => {
  await using t = await startTestServer();
  await using dropped = await RawClient.connect(t.wsUrl);
  const droppedId = [...t.server.connections()][0]!.id;
  await using kept = await RawClient.connect(t.wsUrl);
  t.dropConnections((connection) => connection.id === droppedId);
  assert.equal(await dropped.waitClose(), 1006);
  assert.deepEqual((await kept.request('$ping')).data, {});
  assert.equal(kept.closeCode, undefined);
  assert.equal(t.server.connectionCount, 1);
});

test('closeConnections sends a close frame: 1001 by default, or the code and reason given', async () => {
  await using t = await startTestServer();
  await using first = await RawClient.connect(t.wsUrl);
  t.closeConnections();
  assert.equal(await first.waitClose(), CloseCode.goingAway);
  assert.equal(first.closeReason, 'test closed the connection');

  await using second = await RawClient.connect(t.wsUrl);
  t.closeConnections(CloseCode.tryAgainLater, 'full');
  assert.equal(await second.waitClose(), CloseCode.tryAgainLater);
  assert.equal(second.closeReason, 'full');
});
