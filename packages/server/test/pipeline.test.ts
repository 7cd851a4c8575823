// One pipeline for every route: strict payloads, protocol messages through hooks, metrics, in-flight and drain,
// options and hooks checked at createServer, early frames, per-address limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { createServer, definePlug, DevErrorCode, z, type InboundMessage } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { CloseCode, ErrorCode } from '@switchboard/protocol';
import { SignJWT } from 'jose';
import { RawClient } from './helpers.ts';

const SECRET = 'a-test-secret-that-is-at-least-32-characters';
const sign = (sub: string, grants: string[] = []) =>
  new SignJWT({ grants }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

const shapes = definePlug({
  name: 'shapes',
  messages: {
    'shapes.nested': {
      input: z.object({ point: z.object({ x: z.number(), y: z.number() }), tags: z.array(z.object({ name: z.string() })).optional() }),
      handler: (data) => data,
    },
    'shapes.union': {
      input: z.union([z.object({ kind: z.literal('a'), a: z.number() }), z.object({ kind: z.literal('b'), b: z.string() })]),
      handler: (data) => data,
    },
    'shapes.loose': {
      input: z.object({ id: z.number() }).loose(),
      handler: (data) => data,
    },
    'shapes.lenient': {
      input: z.object({ id: z.number() }),
      strict: false,
      handler: (data) => data,
    },
  },
});

test('a payload key the schema does not declare is refused, naming it, at any depth; loose objects and strict: false opt out', async () => {
  await using t = await startTestServer({ plugs: [shapes] });
  await using client = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await client.request('shapes.nested', { point: { x: 1, y: 2 } })).data, { point: { x: 1, y: 2 } });
  const top = await client.request('shapes.nested', { point: { x: 1, y: 2 }, admin: true });
  assert.equal(top.error?.code, ErrorCode.invalidPayload);
  assert.deepEqual(top.error?.issues?.[0]?.path, ['admin']);
  assert.match(String(top.error?.message), /unexpected key "admin"/);
  const deep = await client.request('shapes.nested', { point: { x: 1, y: 2, z: 3 } });
  assert.deepEqual(deep.error?.issues?.[0]?.path, ['point', 'z']);
  const inArray = await client.request('shapes.nested', { point: { x: 1, y: 2 }, tags: [{ name: 'a' }, { name: 'b', colour: 'red' }] });
  assert.deepEqual(inArray.error?.issues?.[0]?.path, ['tags', 1, 'colour']);
  // A union checks the keys of the option that accepted the value.
  assert.deepEqual((await client.request('shapes.union', { kind: 'b', b: 'x' })).data, { kind: 'b', b: 'x' });
  assert.deepEqual((await client.request('shapes.union', { kind: 'b', b: 'x', a: 1 })).error?.issues?.[0]?.path, ['a']);
  assert.deepEqual((await client.request('shapes.loose', { id: 1, more: 2 })).data, { id: 1, more: 2 });
  assert.deepEqual((await client.request('shapes.lenient', { id: 1, more: 2 })).data, { id: 1 });
});

test('protocol messages run through the pipeline: hooks see them, metrics count them, a hook can refuse them', async () => {
  const seen: InboundMessage[] = [];
  const after: string[] = [];
  await using t = await startTestServer({
    hooks: {
      beforeHandle: (message) => {
        seen.push(message);
        return message.type === '$broadcast' ? { reject: 'no broadcasts here' } : undefined;
      },
      afterHandle: (message, outcome) => {
        after.push(`${message.type}:${outcome.ok}`);
      },
    },
    auth: { defaultGrants: ['call:*', 'broadcast'] },
  });
  await using client = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await client.request('$subscribe', { channel: 'news' })).data, { channel: 'news' });
  assert.deepEqual((await client.request('$ping')).data, {});
  // Protocol payloads are checked by their schemas like any other: $ping takes nothing (absent, null or {}).
  assert.equal((await client.request('$ping', { extra: 1 })).error?.code, ErrorCode.invalidPayload);
  assert.deepEqual((await client.request('$ping', null)).data, {});
  const refused = await client.request('$broadcast', { event: 'x' });
  assert.equal(refused.error?.code, ErrorCode.rejected);
  assert.equal(refused.error?.message, 'no broadcasts here');
  assert.deepEqual(
    seen.map((message) => [message.type, message.plug]),
    [
      ['$subscribe', '$protocol'],
      ['$ping', '$protocol'],
      ['$ping', '$protocol'],
      ['$broadcast', '$protocol'],
    ],
  );
  assert.deepEqual(seen[0]?.data, { channel: 'news' });
  assert.deepEqual(after, ['$subscribe:true', '$ping:true', '$ping:true']);
  const metrics = t.server.metrics();
  assert.equal(metrics.$subscribe?.handler.count, 1);
  assert.equal(metrics.$ping?.handler.count, 2);
  assert.equal(metrics.$ping?.inbound.count, 3);
});

test('a $subscribe waiting on an async authorize hook counts in flight and gets its reply before 1001 at shutdown', async () => {
  let release: (allowed: boolean) => void = () => {};
  const decided = new Promise<boolean>((resolve) => (release = resolve));
  let asked: () => void = () => {};
  const wasAsked = new Promise<void>((resolve) => (asked = resolve));
  await using t = await startTestServer({
    auth: {
      secret: SECRET,
      authorize: () => {
        asked();
        return decided;
      },
    },
    limits: { maxInFlight: 1 },
  });
  await using client = await RawClient.connect(`${t.wsUrl}?token=${await sign('ada')}`);
  const waiting = client.request('$subscribe', { channel: 'private-ops' });
  await wasAsked;
  // The waiting one holds the connection's only in-flight slot.
  assert.equal((await client.request('$subscribe', { channel: 'private-two' })).error?.code, ErrorCode.rateLimited);
  const closing = t.server.close({ timeoutMs: 5000 });
  const closeCode = client.waitClose();
  // A round trip while shutting down: refused, on a connection still open while the $subscribe is in flight.
  assert.equal((await client.request('$ping')).error?.code, ErrorCode.shuttingDown);
  assert.equal(client.closeCode, undefined, 'the connection must stay open while the $subscribe is in flight');
  release(true);
  assert.deepEqual((await waiting).data, { channel: 'private-ops' });
  assert.equal(await closeCode, CloseCode.goingAway);
  await closing;
});

test('before authentication every type but $auth and $ping gets unauthenticated, whether it exists or not', async () => {
  const echo = definePlug({ name: 'echo', messages: { 'echo.say': { input: z.object({}), handler: () => ({}) } } });
  await using t = await startTestServer({ plugs: [echo], auth: { secret: SECRET, anonymous: false } });
  await using client = await RawClient.connect(t.wsUrl);
  for (const type of ['echo.say', 'echo.nope', '$manifest', '$nothing', '$subscribe']) {
    assert.equal((await client.request(type, {})).error?.code, ErrorCode.unauthenticated, type);
  }
  assert.deepEqual((await client.request('$ping')).data, {});
  assert.equal((await client.request('$auth', { token: await sign('ada') })).error, undefined);
  assert.equal((await client.request('echo.nope', {})).error?.code, ErrorCode.unknownType);
});

test('unknown options and bad global hooks are refused at createServer, naming the key and the closest valid one', () => {
  const refuses = (options: Record<string, unknown>, code: string, message: RegExp) =>
    assert.throws(() => createServer(options as never), (error: Error & { code?: string }) => {
      assert.equal(error.code, code);
      assert.match(error.message, message);
      return true;
    });
  refuses({ prot: 3000 }, DevErrorCode.configUnknownOption, /unknown option "prot"; did you mean "port"\?/);
  refuses({ limits: { maxPayLoad: 10 } }, DevErrorCode.configUnknownOption, /"limits\.maxPayLoad"; did you mean "limits\.maxPayload"\?/);
  refuses({ channels: { maxSubscriber: 1 } }, DevErrorCode.configUnknownOption, /did you mean "channels\.maxSubscribers"/);
  refuses({ auth: { secrets: 'x' } }, DevErrorCode.configUnknownOption, /did you mean "auth\.secret"/);
  refuses({ somethingElse: true }, DevErrorCode.configUnknownOption, /unknown option "somethingElse"/);
  refuses({ hooks: { onConect: () => {} } }, DevErrorCode.hookInvalid, /hooks\.onConect: unknown hook "onConect"; did you mean "onConnect"\?/);
  refuses({ hooks: { beforeHandle: 'yes' } }, DevErrorCode.hookInvalid, /hooks\.beforeHandle: must be a function/);
  refuses({ port: 'abc' }, DevErrorCode.configInvalid, /port/);
});

test('a handler that never settles gets timeout after limits.handlerTimeoutMs, and its slot is free again', async () => {
  let openLate: () => void = () => {};
  const lateGate = new Promise<void>((resolve) => (openLate = resolve));
  let repliedLate: () => void = () => {};
  const lateReplied = new Promise<void>((resolve) => (repliedLate = resolve));
  const hang = definePlug({
    name: 'hang',
    messages: {
      'hang.forever': { input: z.object({}), handler: () => new Promise(() => {}) },
      'hang.late': {
        input: z.object({}),
        handler: async (_data, ctx) => {
          await lateGate;
          try {
            ctx.reply({ late: true }); // after the deadline: dropped
          } finally {
            repliedLate();
          }
        },
      },
    },
  });
  await using t = await startTestServer({ plugs: [hang], limits: { handlerTimeoutMs: 50, maxInFlight: 1 } });
  await using client = await RawClient.connect(t.wsUrl);
  const first = await client.request('hang.forever', {});
  assert.equal(first.error?.code, ErrorCode.timeout);
  // The slot was released: the next request is not refused as too many in flight.
  assert.equal((await client.request('hang.late', {})).error?.code, ErrorCode.timeout);
  // Past its deadline the handler replies after all; a round trip after that shows the reply was not sent.
  openLate();
  await lateReplied;
  await client.request('$ping');
  assert.equal(client.received.filter((e) => e.type === 'hang.late').length, 0, 'a late reply is not sent');
  assert.equal(t.server.metrics()['hang.forever']?.handler.errors, 1);
});

test('frames before $welcome are bounded in count and bytes: those held are handled, then the connection closes with 1008', async () => {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  await using t = await startTestServer({ hooks: { onConnect: () => gate }, limits: { maxEarlyFrames: 3 } });
  const ws = new WebSocket(t.wsUrl);
  const received: { type: string; id?: number }[] = [];
  ws.on('message', (data) => received.push(JSON.parse(data.toString()) as { type: string; id?: number }));
  await once(ws, 'open');
  for (let id = 1; id <= 5; id++) ws.send(JSON.stringify({ type: '$ping', id }));
  // The frames reach the server before the hook lets the connection become ready.
  await new Promise((resolve) => setTimeout(resolve, 50));
  open();
  const [code] = (await once(ws, 'close')) as [number];
  assert.equal(code, CloseCode.policyViolation);
  assert.deepEqual(received.filter((e) => e.type === '$ping').map((e) => e.id), [1, 2, 3]);

  await using bytes = await startTestServer({ hooks: { onConnect: () => new Promise((resolve) => setTimeout(resolve, 100)) }, limits: { maxEarlyBytes: 1024 } });
  const big = new WebSocket(bytes.wsUrl);
  await once(big, 'open');
  for (let id = 1; id <= 3; id++) big.send(JSON.stringify({ type: '$ping', id, pad: 'x'.repeat(400) }));
  const [bigCode] = (await once(big, 'close')) as [number];
  assert.equal(bigCode, CloseCode.policyViolation);
});

test('per-address limits: new connections beyond the burst get HTTP 429; messages share one budget across connections', async () => {
  await using t = await startTestServer({ limits: { perAddress: { connectionsPerSecond: 0.001, connectionBurst: 2, messagesPerSecond: 0.001, burst: 4 } } });
  await using a = await RawClient.connect(t.wsUrl);
  await using b = await RawClient.connect(t.wsUrl);
  await assert.rejects(RawClient.connect(t.wsUrl), /HTTP 429/);
  const replies = [];
  for (let i = 0; i < 3; i++) replies.push(await a.request('$ping'), await b.request('$ping'));
  const codes = replies.map((reply) => reply.error?.code ?? 'ok');
  assert.deepEqual(codes, ['ok', 'ok', 'ok', 'ok', ErrorCode.rateLimited, ErrorCode.rateLimited]);
  assert.match(String(replies[4]?.error?.message), /address/);
});

test('a client cannot grow the metrics table: unknown types and the errors they get share one label', async () => {
  await using t = await startTestServer({ limits: { rateLimit: { messagesPerSecond: 0 } } });
  await using client = await RawClient.connect(t.wsUrl);
  for (let i = 0; i < 300; i++) client.ws.send(JSON.stringify({ type: `made.up${i}`, id: i + 1 }));
  for (let i = 0; i < 300; i++) client.ws.send(JSON.stringify({ type: `$made${i}`, id: 1000 + i }));
  await client.request('$ping');
  const keys = Object.keys(t.server.metrics());
  assert.ok(keys.includes('(unknown)'));
  assert.deepEqual(keys.filter((key) => key.includes('made')), []);
  assert.equal(t.server.metrics()['(unknown)']?.inbound.count, 600);
  assert.equal(t.server.metrics()['(unknown)']?.outbound.count, 600);
});
