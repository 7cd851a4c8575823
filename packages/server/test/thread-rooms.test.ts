// Rooms in worker threads: the same protocol as inline rooms, and an endless loop or a memory blow-up in one
// ends only its thread; the instance restarts from its last good state while everything else is served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoomJoinReply } from '@switchboard/protocol';
import { definePlug, defineRoom, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import threads from './fixtures/thread-rooms.ts';
import { RawClient } from './helpers.ts';

const inline = definePlug({
  name: 'inline',
  rooms: { tally: defineRoom({ access: 'public', create: () => ({ n: 0 }), messages: { bump: { input: z.object({}), handler: (_d, ctx) => ({ n: ++ctx.state.n }) } } }) },
  messages: {},
});
const options = { plugs: [threads, inline], limits: { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0, connectionsPerSecond: 0 } } };

async function roomInfo(url: string, id: string): Promise<{ restarts: number; isolation: string; state: { count: number } }> {
  return (await (await fetch(`${url}/admin/rooms/${id}`)).json()) as never;
}

test('a thread room serves like an inline one: snapshot, patches, replies, messages', async () => {
  await using t = await startTestServer(options);
  await using client = await RawClient.connect(t.wsUrl);
  const joined = (await client.request('$room.join', { kind: 'spin' })).data as RoomJoinReply<{ count: number }>;
  assert.deepEqual(joined.state, { count: 0 });
  assert.deepEqual((await client.request('$room.send', { room: joined.room, type: 'add', data: { by: 2 } })).data, { count: 2 });
  const patch = await client.next((e) => e.type === '$room.state');
  assert.deepEqual((patch.data as { patch: unknown }).patch, [{ op: 'replace', path: '/count', value: 2 }]);
  const message = await client.next((e) => e.type === '$room.message');
  assert.deepEqual((message.data as { data: unknown }).data, { by: 2 });
  assert.equal((await client.request('$room.send', { room: joined.room, type: 'add', data: { by: 'x' } })).error?.code, 'invalid_payload');
  assert.equal((await roomInfo(t.url, joined.room)).isolation, 'thread');
});

test('a thread stuck in an endless loop is ended by the watchdog and restarted; the neighbours are served meanwhile', async () => {
  await using t = await startTestServer(options);
  await using player = await RawClient.connect(t.wsUrl);
  await using neighbour = await RawClient.connect(t.wsUrl);
  const joined = (await player.request('$room.join', { kind: 'spin' })).data as RoomJoinReply;
  await player.request('$room.send', { room: joined.room, type: 'add', data: { by: 5 } });
  const tally = (await neighbour.request('$room.join', { kind: 'tally' })).data as RoomJoinReply;
  const stuck = player.request('$room.send', { room: joined.room, type: 'loop', data: {} }, 10_000);
  // While the thread spins, the server's own thread answers: 20 requests to an inline room and pings.
  for (let i = 1; i <= 20; i++) {
    assert.deepEqual((await neighbour.request('$room.send', { room: tally.room, type: 'bump', data: {} })).data, { n: i });
    assert.equal((await player.request('$ping', {})).error, undefined);
  }
  const reply = await stuck;
  assert.equal(reply.error?.code, 'handler_error');
  const deadline = Date.now() + 5000;
  while ((await roomInfo(t.url, joined.room)).restarts < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const info = await roomInfo(t.url, joined.room);
  assert.equal(info.restarts, 1);
  assert.equal(info.state.count, 5, 'restarted from its last good state');
  assert.deepEqual((await player.request('$room.send', { room: joined.room, type: 'add', data: { by: 1 } })).data, { count: 6 });
});

test('a thread that blows up its memory is ended and restarted; the server process is unharmed', async () => {
  await using t = await startTestServer(options);
  await using player = await RawClient.connect(t.wsUrl);
  const joined = (await player.request('$room.join', { kind: 'spin' })).data as RoomJoinReply;
  await player.request('$room.send', { room: joined.room, type: 'add', data: { by: 3 } });
  const reply = await player.request('$room.send', { room: joined.room, type: 'hog', data: {} }, 20_000);
  assert.equal(reply.error?.code, 'handler_error');
  const deadline = Date.now() + 5000;
  while ((await roomInfo(t.url, joined.room)).restarts < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal((await roomInfo(t.url, joined.room)).restarts, 1);
  assert.deepEqual((await player.request('$room.send', { room: joined.room, type: 'add', data: { by: 1 } })).data, { count: 4 });
});
