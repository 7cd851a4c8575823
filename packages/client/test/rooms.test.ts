// Rooms through the SDK: join-or-create, state kept from patches, room messages, a destroyed socket after
// which the member takes its seat back and catches up, and a connection bound to a room at /socket/:id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type ClientOptions, type RoomSession } from '@switchboard/client';
import { definePlug, defineRoom, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { nextValue } from './helpers.ts';

const fast: ClientOptions['reconnect'] = { initialDelayMs: 10, maxDelayMs: 50, jitter: 0 };

interface Board {
  count: number;
  by: Record<string, number>;
}

const counter = defineRoom({
  access: 'public',
  create: (): Board => ({ count: 0, by: {} }),
  messages: {
    add: {
      input: z.object({ by: z.number().int() }),
      handler({ by }, ctx) {
        ctx.state.count += by;
        ctx.state.by[ctx.member.id] = (ctx.state.by[ctx.member.id] ?? 0) + by;
        ctx.room.broadcast('added', { by, member: ctx.member.id }, { except: ctx.member.id });
        return ctx.state.count;
      },
    },
  },
});
const plug = definePlug({ name: 'rooms', rooms: { counter }, messages: {} });
const options = { plugs: [plug], limits: { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0, connectionsPerSecond: 0 } } };

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('two members share a room: state from patches, replies, messages, members', async () => {
  await using t = await startTestServer(options);
  using a = connect(t.wsUrl);
  using b = connect(t.wsUrl);
  const roomA = a.join<Board>('counter');
  await roomA.ready;
  const roomB = b.join<Board>({ room: roomA.id! });
  await roomB.ready;
  assert.equal(roomA.members.size, 1);
  await until(() => roomA.members.size === 2, 'a sees b join');
  const message = nextValue<[string, unknown]>((callback) => roomB.on('message', (type, data) => callback([type, data])));
  assert.equal(await roomA.send('add', { by: 2 }), 2);
  assert.deepEqual(await message, ['added', { by: 2, member: roomA.member }]);
  assert.equal(await roomB.send('add', { by: 3 }), 5);
  await until(() => roomA.state?.count === 5 && roomB.state?.count === 5, 'both at 5');
  assert.deepEqual(roomA.state, roomB.state);
  await assert.rejects(roomA.send('add', { by: 'x' }), { code: 'invalid_payload' });
  await roomB.leave();
  await until(() => roomA.members.size === 1, 'b left');
});

test('a destroyed socket: the member takes its seat back and gets the patches it missed', async () => {
  await using t = await startTestServer(options);
  using a = connect(t.wsUrl, { reconnect: fast });
  using b = connect(t.wsUrl);
  const roomA = a.join<Board>('counter');
  await roomA.ready;
  const roomB = b.join<Board>({ room: roomA.id! });
  await roomB.ready;
  const member = roomA.member;
  const rejoined = nextValue<{ rejoined: boolean; recovered: boolean }>((callback) => roomA.on('joined', callback), 10_000);
  t.dropConnections((connection) => connection.id === a.connectionId);
  for (let i = 0; i < 5; i++) await roomB.send('add', { by: 1 });
  assert.deepEqual(await rejoined, { rejoined: true, recovered: true });
  assert.equal(roomA.member, member, 'the same seat');
  // The rejoin may come before the last adds were applied: those follow it live, after the missed ones.
  await until(() => roomA.state?.count === 5, 'every add applied on the member that came back');
  assert.deepEqual(roomA.state, roomB.state);
});

test('/socket/:id: a connection bound to one room, its messages go there, and it comes back to its seat', async () => {
  await using t = await startTestServer(options);
  const info = await t.server.createRoom('counter', undefined, 'table-9');
  using client = connect(t.wsUrl.replace(/\/ws$/, `/socket/${info.id}`), { reconnect: fast });
  const room = client.room as RoomSession<Board>;
  await room.ready;
  assert.equal(room.id, 'table-9');
  assert.equal(await client.request('add' as never, { by: 4 } as never), 4);
  const member = room.member;
  const rejoined = nextValue<{ rejoined: boolean; recovered: boolean }>((callback) => room.on('joined', callback), 10_000);
  t.dropConnections();
  assert.equal((await rejoined).rejoined, true);
  assert.equal(room.member, member);
  assert.equal(room.state?.count, 4);
  const closed = nextValue<{ reason: string }>((callback) => room.on('closed', callback));
  t.server.closeRoom('table-9', 'game over');
  assert.deepEqual(await closed, { reason: 'closed', message: 'game over' });
});
