// Live data on the wire, with a plain ws client: $live.subscribe replies, $live.op positions and prev, recovery
// from a position, bad input of every kind, limits, the admin API, plug validation and the manifest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LiveOperation, LiveSubscribeReply, LiveWriteReply, Manifest } from '@switchboard/protocol';
import { definePlug, defineResource, z, type ServerOptions } from '@switchboard/server';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

const Item = z.object({ id: z.string(), color: z.enum(['red', 'blue']), n: z.number().int() });
type Item = z.infer<typeof Item>;
const noLimits = { rateLimit: { messagesPerSecond: 0 }, perAddress: { messagesPerSecond: 0, connectionsPerSecond: 0 } };

function plugWith(extra: Partial<Parameters<typeof defineResource<typeof Item>>[0]> = {}, name = 'items') {
  const items = defineResource({ key: 'id', schema: Item, access: { read: 'public', write: 'public' }, ...extra });
  return definePlug({ name: 'store', resources: { [name]: items }, messages: {} });
}

function start(options: ServerOptions = {}, plug = plugWith()): Promise<TestServer> {
  return startTestServer({ plugs: [plug], limits: noLimits, ...options });
}

async function ops(client: RawClient, count: number): Promise<LiveOperation[]> {
  const got: LiveOperation[] = [];
  while (got.length < count) got.push((await client.next((e) => e.type === '$live.op')).data as LiveOperation);
  return got;
}

function item(id: string, color: Item['color'] = 'red', n = 0): Item {
  return { id, color, n };
}

test('a subscribe reply carries the view, the key field, the position and the records; operations carry epoch, offset and prev', async () => {
  await using t = await start();
  const items = t.server.resource<Item>('items');
  await items.create(item('a'));
  await using all = await RawClient.connect(t.wsUrl);
  await using reds = await RawClient.connect(t.wsUrl);
  await using reds2 = await RawClient.connect(t.wsUrl);
  const everything = (await all.request('$live.subscribe', { resource: 'items' })).data as LiveSubscribeReply<Item>;
  assert.equal(everything.keyField, 'id');
  assert.equal(everything.position.offset, 1);
  assert.deepEqual(everything.records, [{ key: 'a', value: item('a'), version: 1 }]);
  const red = (await reds.request('$live.subscribe', { resource: 'items', where: { color: 'red' } })).data as LiveSubscribeReply;
  const red2 = (await reds2.request('$live.subscribe', { resource: 'items', where: { color: { eq: 'red' } } })).data as LiveSubscribeReply;
  const sameAgain = (await reds2.request('$live.subscribe', { resource: 'items', where: { color: 'red' } })).data as LiveSubscribeReply;
  assert.notEqual(red.view, everything.view);
  assert.notEqual(red2.view, red.view, '{ eq } and a bare value are different queries');
  assert.equal(sameAgain.view, red.view, 'one view (one encoding) for every subscriber of the same query');

  await items.create(item('b', 'blue')); // 2: not red
  await items.patch('a', [{ op: 'replace', path: '/n', value: 1 }]); // 3
  await items.put('b', item('b', 'red', 5)); // 4: b moves into red
  const seen = await ops(all, 3);
  assert.deepEqual(seen.map((op) => [op.op, op.key, op.offset, op.prev]), [['put', 'b', 2, 1], ['patch', 'a', 3, 2], ['put', 'b', 4, 3]]);
  assert.ok(seen.every((op) => op.epoch === everything.position.epoch && op.view === everything.view));
  assert.deepEqual(seen[1]!.patch, [{ op: 'replace', path: '/n', value: 1 }]);
  assert.equal(seen[1]!.version, 2);
  const redOps = await ops(reds, 2);
  // The red view never saw offset 2: prev says so, and a subscriber at position 1 knows it missed nothing.
  assert.deepEqual(redOps.map((op) => [op.op, op.key, op.offset, op.prev]), [['patch', 'a', 3, 1], ['put', 'b', 4, 3]]);
  assert.deepEqual(redOps[1]!.value, item('b', 'red', 5));
  await items.delete('a'); // 5
  const [removed] = await ops(reds, 1);
  assert.deepEqual([removed!.op, removed!.key, removed!.value, removed!.version], ['delete', 'a', undefined, undefined]);
});

test('since a position: the missed operations of the view, once and in order; an unknown epoch or an offset ahead gets a snapshot', async () => {
  await using t = await start({ resources: { history: { maxOperations: 50 } } });
  const items = t.server.resource<Item>('items');
  await items.create(item('a'));
  await using reader = await RawClient.connect(t.wsUrl);
  const first = (await reader.request('$live.subscribe', { resource: 'items', where: { color: 'blue' } })).data as LiveSubscribeReply;
  assert.deepEqual(first.records, []);
  for (let n = 1; n <= 6; n++) await items.put('a', item('a', n % 2 === 0 ? 'blue' : 'red', n));
  await using back = await RawClient.connect(t.wsUrl);
  const recovered = (await back.request('$live.subscribe', { resource: 'items', where: { color: 'blue' }, since: first.position })).data as LiveSubscribeReply<Item>;
  assert.equal(recovered.recovered, true);
  assert.equal(recovered.records, undefined);
  assert.deepEqual(
    recovered.operations!.map((op) => [op.op, op.offset, op.prev, op.value?.n ?? null]),
    [['put', 3, 1, 2], ['delete', 4, 3, null], ['put', 5, 4, 4], ['delete', 6, 5, null], ['put', 7, 6, 6]],
  );
  assert.equal(recovered.position.offset, 7);
  for (const since of [{ epoch: 'not-this-one', offset: 1 }, { epoch: first.position.epoch, offset: 99 }]) {
    const reply = (await back.request('$live.subscribe', { resource: 'items', key: 'a', since })).data as LiveSubscribeReply<Item>;
    assert.equal(reply.recovered, false);
    assert.deepEqual(reply.records, [{ key: 'a', value: item('a', 'blue', 6), version: 7 }]);
  }
  // More missed than the history holds: a snapshot too.
  for (let n = 0; n < 60; n++) await items.patch('a', [{ op: 'replace', path: '/n', value: n }]);
  const late = (await back.request('$live.subscribe', { resource: 'items', since: recovered.position })).data as LiveSubscribeReply<Item>;
  assert.equal(late.recovered, false);
  assert.equal(late.records?.[0]?.version, 67);
  const metrics = (await (await fetch(`${t.url}/admin/metrics`)).json()) as { live: Record<string, number> };
  assert.equal(metrics.live.recovered, 1);
  assert.equal(metrics.live.reset, 3);
  assert.equal(metrics.live.replayed, 5);
});

test('bad input gets a precise error, and the connection keeps serving', async () => {
  await using t = await start({ resources: { maxPerConnection: 3 } }, plugWith({ maxRecords: 2 }));
  await using client = await RawClient.connect(t.wsUrl);
  const error = async (type: string, data: unknown): Promise<{ code: string; message: string; issues?: { path: unknown[] }[] }> => {
    const reply = await client.request(type, data);
    assert.ok(reply.error, `${type} ${JSON.stringify(data)} should fail`);
    return reply.error as { code: string; message: string; issues?: { path: unknown[] }[] };
  };
  assert.equal((await error('$live.subscribe', { resource: 'nope' })).code, 'unknown_resource');
  assert.equal((await error('$live.subscribe', {})).code, 'invalid_payload');
  const field = await error('$live.subscribe', { resource: 'items', where: { size: 1 } });
  assert.deepEqual([field.code, field.issues?.[0]?.path], ['invalid_payload', ['where', 'size']]);
  assert.equal((await error('$live.subscribe', { resource: 'items', where: { color: { like: 'r%' } } })).code, 'invalid_payload');
  assert.equal((await error('$live.subscribe', { resource: 'items', where: { n: { in: Array.from({ length: 101 }, (_, i) => i) } } })).code, 'invalid_payload');
  assert.equal((await error('$live.subscribe', { resource: 'items', where: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`f${i}`, 1])) })).code, 'invalid_payload');
  assert.equal((await error('$live.subscribe', { resource: 'items', since: { epoch: '', offset: -1 } })).code, 'invalid_payload');
  assert.equal((await error('$live.subscribe', { resource: 'items', extra: true })).code, 'invalid_payload');
  assert.equal((await error('$live.unsubscribe', { view: 'v999' })).code, 'not_subscribed');
  assert.equal((await error('$live.put', { resource: 'items', key: 'x'.repeat(300), value: item('x') })).code, 'invalid_payload');
  assert.equal((await error('$live.put', { resource: 'items', key: 'a', value: [1, 2] })).code, 'invalid_payload');
  assert.equal((await error('$live.put', { resource: 'items', key: 'a', value: item('a'), ifVersion: -1 })).code, 'invalid_payload');
  assert.equal((await error('$live.create', { resource: 'items', value: 'text' })).code, 'invalid_payload');
  await client.request('$live.create', { resource: 'items', value: item('a') });
  assert.equal((await error('$live.patch', { resource: 'items', key: 'a', patch: [] })).code, 'invalid_payload');
  assert.equal((await error('$live.patch', { resource: 'items', key: 'a', patch: Array.from({ length: 101 }, () => ({ op: 'test', path: '/n', value: 0 })) })).code, 'invalid_payload');
  assert.equal((await error('$live.patch', { resource: 'items', key: 'a', patch: [{ op: 'replace', path: '/__proto__/polluted', value: 1 }] })).code, 'invalid_payload');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal((await error('$live.patch', { resource: 'items', key: 'a', patch: [{ op: 'replace', path: '', value: item('a') }] })).code, 'invalid_payload');
  assert.equal((await error('$live.patch', { resource: 'items', key: 'a', patch: [{ op: 'explode', path: '/n' }] })).code, 'invalid_payload');
  // A failing `test` operation refuses the whole patch.
  const tested = await error('$live.patch', { resource: 'items', key: 'a', patch: [{ op: 'replace', path: '/n', value: 5 }, { op: 'test', path: '/n', value: 4 }] });
  assert.equal(tested.code, 'invalid_payload');
  assert.equal(t.server.resource<Item>('items').get('a')?.value.n, 0);
  assert.equal((await error('$live.delete', { resource: 'items', key: 'zzz' })).code, 'not_found');
  await client.request('$live.create', { resource: 'items', value: item('b') });
  const full = await error('$live.create', { resource: 'items', value: item('c') });
  assert.equal(full.code, 'limit_exceeded');
  for (const color of ['red', 'blue']) await client.request('$live.subscribe', { resource: 'items', where: { color } });
  await client.request('$live.subscribe', { resource: 'items' });
  assert.equal((await error('$live.subscribe', { resource: 'items', key: 'a' })).code, 'limit_exceeded');
  // Still serving.
  assert.equal((await client.request('$ping', {})).error, undefined);
});

test('a client without a write path: access none refuses client writes but plugs and the admin API write', async () => {
  await using t = await start({}, plugWith({ access: { read: 'public', write: 'none' } }));
  await using client = await RawClient.connect(t.wsUrl);
  const refused = await client.request('$live.create', { resource: 'items', value: item('a') });
  assert.equal((refused.error as { code: string }).code, 'forbidden');
  await t.server.resource('items').create(item('a'));
  const created = await fetch(`${t.url}/admin/resources/items`, { method: 'POST', body: JSON.stringify(item('b', 'blue')) });
  assert.equal(created.status, 201);
  assert.equal(((await created.json()) as LiveWriteReply).version, 1);
});

test('the admin API reads and writes resources with HTTP statuses for every outcome', async () => {
  await using t = await start();
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${t.url}/admin${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  await using reader = await RawClient.connect(t.wsUrl);
  await reader.request('$live.subscribe', { resource: 'items' });
  assert.equal((await call('POST', '/resources/items', item('a'))).status, 201);
  assert.equal((await call('POST', '/resources/items', item('a'))).status, 409);
  assert.equal((await call('PUT', '/resources/items/a?ifVersion=1', item('a', 'blue'))).status, 200);
  const stale = await call('PUT', '/resources/items/a?ifVersion=1', item('a', 'red'));
  assert.deepEqual([stale.status, stale.body.error.code, stale.body.error.current.version], [409, 'conflict', 2]);
  assert.equal((await call('PATCH', '/resources/items/a', [{ op: 'replace', path: '/n', value: 3 }])).status, 200);
  assert.equal((await call('PATCH', '/resources/items/a', { not: 'a patch' })).status, 400);
  assert.equal((await call('PUT', '/resources/items/a', { id: 'a', color: 'green', n: 1 })).status, 400);
  assert.equal((await call('PATCH', '/resources/items/nope', [{ op: 'replace', path: '/n', value: 3 }])).status, 404);
  assert.equal((await call('PUT', '/resources/items/a?ifVersion=x', item('a'))).status, 400);
  assert.equal((await call('GET', '/resources/nothing')).status, 404);
  assert.deepEqual((await call('GET', '/resources/items/a')).body, { key: 'a', value: item('a', 'blue', 3), version: 3 });
  const list = await call('GET', '/resources');
  assert.deepEqual(
    list.body.resources.map((r: Record<string, unknown>) => [r.name, r.plug, r.records, r.views, r.subscribers, r.source]),
    [['items', 'store', 1, 1, 1, 'memory']],
  );
  const connections = (await call('GET', '/connections')).body.connections as { resources?: { resource: string }[] }[];
  assert.deepEqual(connections.map((connection) => connection.resources?.map((r) => r.resource)), [['items']]);
  assert.equal((await call('DELETE', '/resources/items/a')).status, 200);
  assert.equal((await call('GET', '/resources/items')).body.records.length, 0);
  const seen = await ops(reader, 4);
  assert.deepEqual(seen.map((op) => op.op), ['put', 'put', 'patch', 'delete']);
});

test('plugs: a bad resource declaration is refused with the reason; a name belongs to one plug; the manifest lists resources', async () => {
  await using t = await start();
  const bad = definePlug({ name: 'bad', resources: { 'has space': defineResource({ key: 'id', schema: Item }) }, messages: {} });
  await assert.rejects(t.server.loadPlug(bad), { code: 'SB_PLUG_INVALID', message: /resource name "has space"/ });
  const wrongKey = definePlug({ name: 'bad', resources: { things: defineResource({ key: 'nope' as 'id', schema: Item }) }, messages: {} });
  await assert.rejects(t.server.loadPlug(wrongKey), { code: 'SB_PLUG_INVALID', message: /"key" must name a field/ });
  const notDefined = { name: 'bad', resources: { things: { key: 'id', schema: Item } }, messages: {} };
  await assert.rejects(t.server.loadPlug(notDefined), { code: 'SB_PLUG_INVALID', message: /defineResource/ });
  const twin = definePlug({ name: 'twin', resources: { items: defineResource({ key: 'id', schema: Item }) }, messages: {} });
  await assert.rejects(t.server.loadPlug(twin), { code: 'SB_PLUG_CONFLICT', message: /already declared by plug "store"/ });
  const manifest = (await (await fetch(`${t.url}/admin/manifest`)).json()) as Manifest;
  assert.deepEqual(
    manifest.resources.map(({ name, plug, key, access }) => ({ name, plug, key, access })),
    [{ name: 'items', plug: 'store', key: 'id', access: { read: 'public', write: 'public' } }],
  );
  assert.deepEqual(Object.keys((manifest.resources[0]!.schema as { properties: object }).properties), ['id', 'color', 'n']);
  assert.throws(() => t.server.resource('nothing'), { code: 'SB_BAD_ARGUMENT' });
});

test('authorizeWrite that throws refuses (fail closed); a scope that changes with grants refreshes the subscription', async () => {
  const secret = 'a-test-secret-of-at-least-32-characters!!';
  const plug = plugWith({
    // Connections with the "blue-team" grant see blue items, the others red ones.
    scope: (connection) => ({ color: connection.grants.includes('call:blue-team') ? 'blue' : 'red' }),
    authorizeWrite: (change) => {
      if (change.after?.n === 13) throw new Error('unlucky');
      return true;
    },
  });
  await using t = await start({ auth: { secret, defaultGrants: [] } }, plug);
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').setExpirationTime('1h').sign(new TextEncoder().encode(secret));
  await using client = await RawClient.connect(`${t.wsUrl}?token=${token}`);
  const refused = await client.request('$live.create', { resource: 'items', value: item('a', 'red', 13) });
  assert.equal((refused.error as { code: string }).code, 'forbidden');
  assert.equal(t.server.resource('items').size, 0);
  await t.server.resource('items').create(item('r', 'red'));
  await t.server.resource('items').create(item('b', 'blue'));
  const reply = (await client.request('$live.subscribe', { resource: 'items' })).data as LiveSubscribeReply;
  assert.deepEqual(reply.records?.map((record) => record.key), ['r']);
  t.server.grant('ada', ['call:blue-team']);
  const ended = await client.next((e) => e.type === '$live.ended');
  assert.deepEqual(ended.data, { view: reply.view, resource: 'items', reason: 'access_changed' });
  const again = (await client.request('$live.subscribe', { resource: 'items' })).data as LiveSubscribeReply;
  assert.deepEqual(again.records?.map((record) => record.key), ['b']);
});

test('a replay larger than resources.maxRecoverBytes is a snapshot instead (it would not fit the send buffer)', async () => {
  await using t = await start({ resources: { maxRecoverBytes: 2048 } });
  const items = t.server.resource<Item>('items');
  await items.create(item('a'));
  await using reader = await RawClient.connect(t.wsUrl);
  const first = (await reader.request('$live.subscribe', { resource: 'items' })).data as LiveSubscribeReply;
  for (let n = 1; n <= 5; n++) await items.patch('a', [{ op: 'replace', path: '/n', value: n }]);
  await using small = await RawClient.connect(t.wsUrl);
  const few = (await small.request('$live.subscribe', { resource: 'items', since: first.position })).data as LiveSubscribeReply;
  assert.equal(few.recovered, true, 'five small operations fit');
  for (let n = 0; n < 100; n++) await items.patch('a', [{ op: 'replace', path: '/n', value: n }]);
  await using big = await RawClient.connect(t.wsUrl);
  const many = (await big.request('$live.subscribe', { resource: 'items', since: first.position })).data as LiveSubscribeReply<Item>;
  assert.equal(many.recovered, false);
  assert.deepEqual(many.records, [{ key: 'a', value: item('a', 'red', 99), version: 106 }]);
});

test('a burst of writes in one socket write is applied whole: a memory resource write does not hold its message in flight', async () => {
  const counters = definePlug({
    name: 'counters',
    resources: {
      counters: defineResource({ key: 'id', schema: z.object({ id: z.string(), n: z.number() }), access: { read: 'public', write: 'public' } }),
    },
    messages: {
      // Returns the handle's promise, as a handler naturally would.
      'counters.bump': {
        input: z.object({ n: z.number() }),
        handler: (data, ctx) => ctx.resources.counters.patch('c1', [{ op: 'replace', path: '/n', value: data.n }]),
      },
    },
  });
  await using t = await startTestServer({ plugs: [counters], limits: noLimits });
  await t.server.resource('counters').put('c1', { id: 'c1', n: 0 });
  await using client = await RawClient.connect(t.wsUrl);
  const burst = 200; // past limits.maxInFlight (64)
  for (const frame of ['plug', 'live'] as const) {
    const socket = (client.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.cork(); // every frame in one TCP write, so the server reads them together
    const replies = Array.from({ length: burst }, (_, i) =>
      frame === 'plug'
        ? client.request('counters.bump', { n: i })
        : client.request('$live.patch', { resource: 'counters', key: 'c1', patch: [{ op: 'replace', path: '/n', value: 1000 + i }] }),
    );
    socket.uncork();
    const settledReplies = await Promise.all(replies);
    const refused = settledReplies.filter((reply) => reply.error !== undefined);
    assert.deepEqual(refused.map((reply) => reply.error?.code), [], `${frame}: none refused`);
  }
  assert.equal(t.server.resource<{ id: string; n: number }>('counters').get('c1')?.value.n, 1000 + burst - 1);
});
