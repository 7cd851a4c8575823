// Rooms on the wire, with plain ws clients: join-or-create, state as a snapshot then patches, room messages,
// refusals, late joiners, /socket/:id, supervision (restart from the last good state, restart limit),
// disposal when empty, grants, hot swap, the admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch } from 'rfc6902';
import type { Envelope, RoomJoinReply, RoomStatePatch } from '@switchboard/protocol';
import { definePlug, defineRoom, MessageError, z, type ServerOptions } from '@switchboard/server';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import { capturingLogger, RawClient } from './helpers.ts';

const noLimits = { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0, connectionsPerSecond: 0 } };

interface CounterState {
  count: number;
  log: string[];
}

/** A counter room: `add` changes the state; `boom` throws; `arm` starts a timer that fails; `tick` counts by itself. */
function counterPlug(extra: Record<string, unknown> = {}, version = '1') {
  const counter = defineRoom({
    create: (options: unknown) => ({ count: (options as { start?: number } | undefined)?.start ?? 0, log: [] as string[] }) as CounterState,
    maxMembers: 3,
    emptyTimeoutMs: 100,
    seatHoldMs: 100,
    access: 'public',
    onJoin(member, ctx) {
      if (member.identity?.id === 'banned') throw new MessageError('banned', 'you may not join');
      ctx.state.log.push(`join ${ctx.rejoined ? 'again' : 'new'}`);
    },
    messages: {
      add: {
        input: z.object({ by: z.number().int() }),
        handler({ by }, ctx) {
          ctx.state.count += by;
          return { count: ctx.state.count };
        },
      },
      boom: {
        input: z.object({}),
        handler(_data, ctx) {
          ctx.state.count = -1000; // must not stick: the handler fails
          throw new Error('boom');
        },
      },
      arm: {
        input: z.object({ ms: z.number() }),
        handler({ ms }, ctx) {
          ctx.room.setTimeout(() => {
            throw new Error('a timer failed');
          }, ms);
          return {};
        },
      },
      shoutThenFail: {
        input: z.object({}),
        handler(_data, ctx) {
          ctx.room.broadcast('shout', { text: 'never sent' });
          throw new Error('after the broadcast');
        },
      },
      shout: {
        input: z.object({ text: z.string() }),
        handler({ text }, ctx) {
          ctx.room.broadcast('shout', { text, from: ctx.member.id }, { except: ctx.member.id });
          return {};
        },
      },
    },
    ...extra,
  });
  return definePlug({ name: 'games', version, rooms: { counter }, messages: {} });
}

function start(options: ServerOptions = {}, plug = counterPlug()): Promise<TestServer> {
  return startTestServer({ plugs: [plug], limits: noLimits, ...options });
}

async function join(client: RawClient, data: unknown): Promise<RoomJoinReply<CounterState>> {
  const reply = await client.request('$room.join', data);
  assert.equal(reply.error, undefined, JSON.stringify(reply.error));
  return reply.data as RoomJoinReply<CounterState>;
}

async function send(client: RawClient, room: string, type: string, data: unknown): Promise<Envelope> {
  return client.request('$room.send', { room, type, data });
}

/** Applies `$room.state` pushes to a copy, checking that offsets follow each other. */
async function follow(client: RawClient, state: CounterState, from: number, count: number): Promise<{ state: CounterState; offset: number }> {
  let offset = from;
  for (let i = 0; i < count; i++) {
    const push = (await client.next((e) => e.type === '$room.state')).data as RoomStatePatch;
    assert.equal(push.offset, offset + 1, 'state offsets follow each other');
    offset = push.offset;
    applyPatch(state, push.patch as never);
  }
  return { state, offset };
}

test('join-or-create, state as a snapshot then patches, replies, and room messages to the others', async () => {
  await using t = await start();
  await using a = await RawClient.connect(t.wsUrl);
  await using b = await RawClient.connect(t.wsUrl);
  const first = await join(a, { kind: 'counter' });
  assert.deepEqual(first.state, { count: 0, log: ['join new'] });
  assert.equal(first.members.length, 1);
  const second = await join(b, { kind: 'counter' });
  assert.equal(second.room, first.room, 'joins the instance with a free seat');
  assert.deepEqual(second.state, { count: 0, log: ['join new', 'join new'] });
  const joined = await a.next((e) => e.type === '$room.member');
  assert.deepEqual((joined.data as { action: string }).action, 'join');
  // a follows the patch of b's join, then its own add.
  const reply = await send(a, first.room, 'add', { by: 5 });
  assert.deepEqual(reply.data, { count: 5 });
  const followed = await follow(a, structuredClone(first.state!), first.position.offset, 2);
  assert.deepEqual(followed.state, { count: 5, log: ['join new', 'join new'] });
  await send(b, first.room, 'shout', { text: 'hi' });
  const shout = await a.next((e) => e.type === '$room.message');
  assert.deepEqual(shout.data, { room: first.room, type: 'shout', data: { text: 'hi', from: second.member } });
  assert.equal(b.received.some((e) => e.type === '$room.message'), false, 'except the sender');
  // Bad input: an unknown type, a bad payload, a room it is not in.
  assert.equal((await send(a, first.room, 'nope', {})).error?.code, 'unknown_type');
  const invalid = await send(a, first.room, 'add', { by: 'x' });
  assert.equal(invalid.error?.code, 'invalid_payload');
  assert.equal((await send(a, first.room, 'add', { by: 1, extra: 1 })).error?.code, 'invalid_payload');
  assert.equal((await send(a, 'no-such-room', 'add', { by: 1 })).error?.code, 'not_member');
  assert.equal((await a.request('$room.join', { room: 'no-such-room' })).error?.code, 'unknown_room');
  assert.equal((await a.request('$room.join', { kind: 'nothing' })).error?.code, 'unknown_room');
  assert.equal((await a.request('$room.join', {})).error?.code, 'invalid_payload');
  // The manifest lists the kind and its messages.
  const manifest = (await (await fetch(`${t.url}/admin/manifest`)).json()) as { rooms: { kind: string; access: string; messages: { type: string }[] }[] };
  assert.deepEqual(manifest.rooms.map((room) => [room.kind, room.access, room.messages.map((m) => m.type)]), [['counter', 'public', ['add', 'boom', 'arm', 'shoutThenFail', 'shout']]]);
});

test('a new room\'s id is 12 base64url characters and never starts with "-" (a command line would read it as a flag)', async () => {
  await using t = await start();
  // One id in 64 would start with "-" if nothing prevented it: 2,000 of them all miss it by chance ~1 in 10^13.
  const ids = new Set<string>();
  for (let i = 0; i < 2_000; i++) {
    const room = await t.server.createRoom('counter');
    ids.add(room.id);
    t.server.closeRoom(room.id);
  }
  assert.equal(ids.size, 2_000, 'every id is new');
  for (const id of ids) assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{11}$/);
});

test('many rooms at once keep their own state; a full room and onJoin refuse with their codes', async () => {
  await using t = await start();
  const clients: RawClient[] = [];
  try {
    const rooms: string[] = [];
    for (let i = 0; i < 10; i++) {
      const client = await RawClient.connect(t.wsUrl);
      clients.push(client);
      rooms.push((await join(client, { kind: 'counter', create: true, options: { start: i * 100 } })).room);
    }
    assert.equal(new Set(rooms).size, 10);
    await Promise.all(clients.map((client, i) => send(client, rooms[i]!, 'add', { by: i })));
    const infos = await (await fetch(`${t.url}/admin/rooms`)).json() as { rooms: { id: string }[] };
    assert.equal(infos.rooms.length, 10);
    for (let i = 0; i < 10; i++) {
      const inspected = (await (await fetch(`${t.url}/admin/rooms/${rooms[i]}`)).json()) as { state: CounterState };
      assert.equal(inspected.state.count, i * 100 + i);
    }
    // Full: 3 members.
    const room = rooms[0]!;
    for (let i = 0; i < 2; i++) {
      const client = await RawClient.connect(t.wsUrl);
      clients.push(client);
      await join(client, { room });
    }
    const extra = await RawClient.connect(t.wsUrl);
    clients.push(extra);
    assert.equal((await extra.request('$room.join', { room })).error?.code, 'room_full');
  } finally {
    for (const client of clients) await client[Symbol.asyncDispose]();
  }
  // onJoin refuses with its own code.
  const secret = 'a-test-secret-of-at-least-32-characters!!';
  await using s = await start({ auth: { secret } });
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('banned').setExpirationTime('1h').sign(new TextEncoder().encode(secret));
  await using banned = await RawClient.connect(`${s.wsUrl}?token=${token}`);
  const refused = await banned.request('$room.join', { kind: 'counter' });
  assert.deepEqual([refused.error?.code, refused.error?.message], ['banned', 'you may not join']);
});

test('a handler that throws is reported to its sender and changes nothing; the room keeps serving', async () => {
  await using t = await start();
  await using a = await RawClient.connect(t.wsUrl);
  const { room } = await join(a, { kind: 'counter' });
  await send(a, room, 'add', { by: 2 });
  const failed = await send(a, room, 'boom', {});
  assert.equal(failed.error?.code, 'handler_error');
  // What a failing handler sent is dropped with its state change.
  assert.equal((await send(a, room, 'shoutThenFail', {})).error?.code, 'handler_error');
  assert.deepEqual((await send(a, room, 'add', { by: 1 })).data, { count: 3 });
  assert.equal(a.received.some((e) => e.type === '$room.message'), false, 'no message from the failed handler');
});

test('a timer that fails restarts the instance from its last good state; past the restart limit it stops and members are told', async () => {
  await using t = await start({ rooms: { restart: { maxRestarts: 2, withinMs: 60_000 } } });
  await using a = await RawClient.connect(t.wsUrl);
  await using neighbour = await RawClient.connect(t.wsUrl);
  const { room } = await join(a, { kind: 'counter' });
  const other = await join(neighbour, { kind: 'counter', create: true });
  await send(a, room, 'add', { by: 7 });
  await send(a, room, 'arm', { ms: 5 });
  await new Promise((resolve) => setTimeout(resolve, 60));
  let info = (await (await fetch(`${t.url}/admin/rooms/${room}`)).json()) as { restarts: number; state: CounterState };
  assert.equal(info.restarts, 1);
  assert.equal(info.state.count, 7, 'restarted from the last good state');
  assert.deepEqual((await send(a, room, 'add', { by: 1 })).data, { count: 8 });
  await send(a, room, 'arm', { ms: 5 });
  await new Promise((resolve) => setTimeout(resolve, 60));
  info = (await (await fetch(`${t.url}/admin/rooms/${room}`)).json()) as { restarts: number; state: CounterState };
  assert.equal(info.restarts, 2);
  // The third failure within the window: stopped.
  await send(a, room, 'arm', { ms: 5 });
  const closed = await a.next((e) => e.type === '$room.closed');
  assert.equal((closed.data as { reason: string }).reason, 'failed');
  assert.equal((await fetch(`${t.url}/admin/rooms/${room}`)).status, 404);
  // The neighbour was served throughout.
  assert.deepEqual((await send(neighbour, other.room, 'add', { by: 1 })).data, { count: 1 });
  const metrics = (await (await fetch(`${t.url}/admin/metrics`)).json()) as { rooms: { failed: number } };
  assert.equal(metrics.rooms.failed, 1);
});

test('a late joiner and a member that comes back catch up: a snapshot, or the patches it missed', async () => {
  await using t = await start();
  await using a = await RawClient.connect(t.wsUrl);
  const first = await join(a, { kind: 'counter' });
  for (let i = 0; i < 5; i++) await send(a, first.room, 'add', { by: 1 });
  await using late = await RawClient.connect(t.wsUrl);
  const lateJoin = await join(late, { room: first.room });
  assert.equal(lateJoin.state?.count, 5);
  // a's socket is destroyed; it comes back with its seat and position.
  const held = await follow(a, structuredClone(first.state!), first.position.offset, 6);
  a.ws.terminate();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await send(late, first.room, 'add', { by: 10 });
  await using back = await RawClient.connect(t.wsUrl);
  const again = await join(back, { room: first.room, seat: first.seat, since: { epoch: first.position.epoch, offset: held.offset } });
  assert.equal(again.member, first.member, 'the same seat');
  assert.equal(again.recovered, true);
  const state = held.state;
  for (const patch of again.patches ?? []) applyPatch(state, patch.patch as never);
  const inspected = (await (await fetch(`${t.url}/admin/rooms/${first.room}`)).json()) as { state: CounterState };
  assert.deepEqual(state, inspected.state);
  assert.ok(state.log.includes('join again'));
});

test('/socket/:id binds a connection to one room; an unknown id is HTTP 404 unknown_room; a closed room closes it with 4005', async () => {
  await using t = await start();
  const created = (await (await fetch(`${t.url}/admin/rooms`, { method: 'POST', body: JSON.stringify({ kind: 'counter', id: 'game-1' }) })).json()) as { id: string };
  assert.equal(created.id, 'game-1');
  const socketUrl = t.wsUrl.replace(/\/ws$/, '/socket/game-1');
  await using bound = await RawClient.connect(socketUrl);
  const joined = (await bound.next((e) => e.type === '$room.joined')).data as RoomJoinReply<CounterState>;
  assert.equal(joined.room, 'game-1');
  // Plain message types go to the room.
  assert.deepEqual((await bound.request('add', { by: 3 })).data, { count: 3 });
  assert.equal((await bound.request('nope', {})).error?.code, 'unknown_type');
  await assert.rejects(RawClient.connect(t.wsUrl.replace(/\/ws$/, '/socket/nothing-here')), /HTTP 404/);
  const response = await fetch(`${t.url}/admin/rooms/game-1`, { method: 'DELETE' });
  assert.equal(response.status, 200);
  assert.equal(await bound.waitClose(), 4005);
});

test('POST /admin/rooms refusals carry their code, status and details: unknown kind, bad options, taken id, the limit', async () => {
  await using t = await start({}, counterPlug({ options: z.object({ start: z.number().int() }).strict(), maxInstances: 1 }));
  const create = async (body: unknown): Promise<{ status: number; error: Record<string, unknown> }> => {
    const response = await fetch(`${t.url}/admin/rooms`, { method: 'POST', body: JSON.stringify(body) });
    return { status: response.status, error: ((await response.json()) as { error: Record<string, unknown> }).error };
  };
  const unknown = await create({ kind: 'chess' });
  assert.deepEqual([unknown.status, unknown.error.code, unknown.error.kind], [404, 'unknown_room', 'chess']);
  const bad = await create({ kind: 'counter', options: { start: 'zero' } });
  assert.deepEqual([bad.status, bad.error.code], [400, 'invalid_payload']);
  assert.ok(Array.isArray(bad.error.issues) && bad.error.issues.length > 0, `the issues say what to fix: ${JSON.stringify(bad.error)}`);
  assert.equal((await fetch(`${t.url}/admin/rooms`, { method: 'POST', body: JSON.stringify({ kind: 'counter', options: { start: 1 }, id: 'table-1' }) })).status, 201);
  const taken = await create({ kind: 'counter', options: { start: 1 }, id: 'table-1' });
  assert.deepEqual([taken.status, taken.error.code, taken.error.room], [409, 'conflict', 'table-1']);
  const full = await create({ kind: 'counter', options: { start: 1 } });
  assert.deepEqual([full.status, full.error.code, full.error.limit], [429, 'limit_exceeded', 'maxInstances']);
});

test('an empty room is disposed after its timeout; a member whose socket dropped keeps its seat for a while', async () => {
  await using t = await start();
  await using a = await RawClient.connect(t.wsUrl);
  const { room } = await join(a, { kind: 'counter' });
  a.ws.terminate();
  await new Promise((resolve) => setTimeout(resolve, 30));
  const away = (await (await fetch(`${t.url}/admin/rooms/${room}`)).json()) as { members: { present: boolean }[] };
  assert.deepEqual(away.members.map((m) => m.present), [false]);
  // seatHoldMs 100, then emptyTimeoutMs 100.
  const deadline = Date.now() + 3000;
  while ((await fetch(`${t.url}/admin/rooms/${room}`)).status === 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal((await fetch(`${t.url}/admin/rooms/${room}`)).status, 404);
  const metrics = (await (await fetch(`${t.url}/admin/metrics`)).json()) as { rooms: { disposed: number } };
  assert.equal(metrics.rooms.disposed, 1);
});

test('joining needs join:<kind> unless the kind is public; a revoked grant removes the member', async () => {
  const secret = 'a-test-secret-of-at-least-32-characters!!';
  await using t = await start({ auth: { secret, defaultGrants: [] } }, counterPlug({ access: 'grant' }));
  await using anonymous = await RawClient.connect(t.wsUrl);
  const refused = await anonymous.request('$room.join', { kind: 'counter' });
  assert.deepEqual([refused.error?.code, (refused.error as { grant?: string }).grant], ['forbidden', 'join:counter']);
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({ grants: ['join:counter'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').setExpirationTime('1h').sign(new TextEncoder().encode(secret));
  await using ada = await RawClient.connect(`${t.wsUrl}?token=${token}`);
  const { room } = await join(ada, { kind: 'counter' });
  t.server.revoke('ada', ['join:counter']);
  const closed = await ada.next((e) => e.type === '$room.closed');
  assert.deepEqual([(closed.data as { reason: string }).reason, (closed.data as { room: string }).room], ['removed_member', room]);
  assert.equal((await send(ada, room, 'add', { by: 1 })).error?.code, 'not_member');
});

test('hot swap: new instances run the new version; running ones keep theirs, or migrate when the room says how', async () => {
  await using t = await start();
  await using a = await RawClient.connect(t.wsUrl);
  const old = await join(a, { kind: 'counter', create: true });
  await t.server.loadPlug(counterPlug({ create: () => ({ count: 1000, log: [] }) }, '2'));
  await using b = await RawClient.connect(t.wsUrl);
  const fresh = await join(b, { kind: 'counter', create: true });
  assert.equal(fresh.state?.count, 1000);
  const rooms = t.server.rooms();
  assert.deepEqual(Object.fromEntries(rooms.map((room) => [room.id, room.plugVersion])), { [old.room]: '1', [fresh.room]: '2' });
  // Version 3 migrates running instances.
  await t.server.loadPlug(counterPlug({ migrate: (state: CounterState, from: string) => ({ ...state, log: [...state.log, `migrated from ${from}`] }) }, '3'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const migrated = (await (await fetch(`${t.url}/admin/rooms/${old.room}`)).json()) as { plugVersion: string; state: CounterState };
  assert.equal(migrated.plugVersion, '3');
  assert.ok(migrated.state.log.includes('migrated from 1'));
  // Removing the plug ends its rooms.
  await t.server.unloadPlug('games');
  const closed = await a.next((e) => e.type === '$room.closed');
  assert.equal((closed.data as { reason: string }).reason, 'removed');
  assert.deepEqual(t.server.rooms(), []);
});

test('declared room pushes are checked in development: an undeclared type or wrong data fails the handler, nothing is sent or changed', async () => {
  const loud = defineRoom({
    access: 'public',
    pushes: { said: z.object({ text: z.string(), at: z.string().transform(Number) }) },
    create: () => ({ said: 0 }),
    messages: {
      say: {
        input: z.object({ text: z.unknown(), type: z.string().default('said') }),
        handler({ text, type }, ctx) {
          ctx.state.said++;
          (ctx.room.broadcast as (type: string, data: unknown) => void)(type, { text, at: '7' });
          return { said: ctx.state.said };
        },
      },
    },
  });
  const plug = definePlug({ name: 'loud', rooms: { loud }, messages: {} });
  for (const development of [true, false]) {
    const { logger, lines } = capturingLogger();
    await using t = await startTestServer({ plugs: [plug], limits: noLimits, development, logger });
    await using a = await RawClient.connect(t.wsUrl);
    await using b = await RawClient.connect(t.wsUrl);
    const { room } = (await a.request('$room.join', { kind: 'loud' })).data as { room: string };
    await b.request('$room.join', { room });
    // A declared push: its schema's output is what arrives (the transform ran) in development.
    assert.deepEqual((await send(a, room, 'say', { text: 'hi' })).data, { said: 1 });
    const heard = (await b.next((e) => e.type === '$room.message')).data as { type: string; data: unknown };
    assert.deepEqual(heard, { room, type: 'said', data: { text: 'hi', at: development ? 7 : '7' } });
    const wrongData = await send(a, room, 'say', { text: 42 });
    const undeclared = await send(a, room, 'say', { text: 'hi', type: 'shouted' });
    if (development) {
      // The room's code is at fault: its sender gets handler_error, the log says what was wrong.
      for (const reply of [wrongData, undeclared]) assert.equal(reply.error?.code, 'handler_error', JSON.stringify(reply));
      const logged = lines.map((line) => `${String((line.err as { message?: string } | undefined)?.message ?? '')} ${String(line.msg)}`).join('\n');
      assert.match(logged, /room push "said" does not match its declared schema: text:/);
      assert.match(logged, /room push "shouted" is not declared in the room's pushes \(said\)/);
      // Neither was sent, and neither handler's state change stuck.
      assert.deepEqual((await send(a, room, 'say', { text: 'again' })).data, { said: 2 });
      assert.equal(((await b.next((e) => e.type === '$room.message')).data as { data: { text: string } }).data.text, 'again');
    } else {
      // In production nothing is checked: both go out as they are.
      assert.deepEqual(wrongData.data, { said: 2 });
      assert.deepEqual(undeclared.data, { said: 3 });
    }
  }
});
