// Request/reply through the plug pipeline, and every kind of bad input getting its own error code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePlug, MessageError, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { ErrorCode } from '@switchboard/protocol';
import { RawClient } from './helpers.ts';

const math = definePlug({
  name: 'math',
  messages: {
    'math.add': {
      input: z.object({ a: z.number(), b: z.number() }),
      output: z.object({ sum: z.number() }),
      handler: (data) => ({ sum: data.a + data.b }),
    },
    'math.slow': {
      input: z.object({ ms: z.number().int().max(2000) }),
      handler: async (data) => {
        await new Promise((resolve) => setTimeout(resolve, data.ms));
        return { waited: data.ms };
      },
    },
    'math.explicit': {
      input: z.object({}),
      handler(_data, ctx) {
        ctx.reply({ early: true });
      },
    },
    'math.boom': {
      input: z.object({}),
      handler() {
        throw new Error('secret database password in this message');
      },
    },
    'math.refuse': {
      input: z.object({}),
      handler() {
        throw new MessageError('room_full', 'the room is full', { capacity: 8 });
      },
    },
    'math.badReply': {
      input: z.object({}),
      output: z.object({ n: z.number() }),
      // @ts-expect-error -- deliberately breaks its output schema
      handler: () => ({ n: 'not a number' }),
    },
    'math.cyclic': {
      input: z.object({}),
      handler() {
        const reply: Record<string, unknown> = { big: 1n };
        return reply;
      },
    },
    'math.cyclicAsync': {
      input: z.object({}),
      async handler() {
        const reply: Record<string, unknown> = {};
        reply.self = reply;
        return reply;
      },
    },
    'math.push': {
      input: z.object({ text: z.string() }),
      handler(data, ctx) {
        ctx.send('math.pushed', { text: data.text });
      },
    },
  },
});

test('request/reply, explicit reply and pushes', async () => {
  await using t = await startTestServer({ plugs: [math] });
  await using client = await RawClient.connect(t.wsUrl);
  assert.deepEqual(await client.request('math.add', { a: 2, b: 3 }), { type: 'math.add', id: 1, data: { sum: 5 } });
  assert.deepEqual((await client.request('math.slow', { ms: 10 })).data, { waited: 10 });
  assert.deepEqual((await client.request('math.explicit', {})).data, { early: true });
  // A message without an id is fire-and-forget: the handler runs, no reply comes.
  client.ws.send(JSON.stringify({ type: 'math.push', data: { text: 'hi' } }));
  assert.deepEqual(await client.next((e) => e.type === 'math.pushed'), { type: 'math.pushed', data: { text: 'hi' } });
  // Messages on one connection are handled in order: once $ping is answered, a reply would have come.
  await client.request('$ping');
  assert.deepEqual(client.received.filter((e) => e.type === 'math.push' || e.type === '$error'), []);
});

test('each bad input gets its own code and the connection stays open', async () => {
  await using t = await startTestServer({ plugs: [math] });
  await using client = await RawClient.connect(t.wsUrl);

  client.sendRaw('{"type": "math.add", "id": 1,');
  const malformed = await client.next((e) => e.type === '$error');
  assert.equal(malformed.error?.code, ErrorCode.badFrame);

  client.sendRaw(Buffer.from([1, 2, 3]));
  assert.equal((await client.next((e) => e.type === '$error')).error?.code, ErrorCode.badFrame);

  client.sendRaw('[1, 2]');
  assert.equal((await client.next((e) => e.type === '$error')).error?.code, ErrorCode.badEnvelope);

  client.sendRaw('{"id": 7, "data": {}}');
  const missingType = await client.next((e) => e.id === 7);
  assert.equal(missingType.error?.code, ErrorCode.badEnvelope);

  client.sendRaw('{"type": "math.add", "id": {"x": 1}}');
  assert.equal((await client.next((e) => e.type === '$error')).error?.code, ErrorCode.badEnvelope);

  const unknown = await client.request('math.nope', {});
  assert.equal(unknown.error?.code, ErrorCode.unknownType);

  const invalid = await client.request('math.add', { a: 'two', c: 1 });
  assert.equal(invalid.error?.code, ErrorCode.invalidPayload);
  // Every issue at once: the schema's, then the key it does not declare.
  assert.deepEqual(
    invalid.error?.issues?.map((issue) => issue.path),
    [['a'], ['b'], ['c']],
  );

  const thrown = await client.request('math.boom', {});
  assert.equal(thrown.error?.code, ErrorCode.handlerError);
  assert.doesNotMatch(JSON.stringify(thrown), /secret|password|stack/);

  const refused = await client.request('math.refuse', {});
  assert.deepEqual(refused.error, { capacity: 8, code: 'room_full', message: 'the room is full' });

  const badReply = await client.request('math.badReply', {});
  assert.equal(badReply.error?.code, ErrorCode.handlerError);

  // A reply JSON cannot represent becomes handler_error, sync or async, and the server carries on.
  assert.equal((await client.request('math.cyclic', {})).error?.code, ErrorCode.handlerError);
  assert.equal((await client.request('math.cyclicAsync', {})).error?.code, ErrorCode.handlerError);

  const unknownSystem = await client.request('$nothing', {});
  assert.equal(unknownSystem.error?.code, ErrorCode.unknownType);

  // Still serving after all of that.
  assert.deepEqual((await client.request('math.add', { a: 1, b: 1 })).data, { sum: 2 });
  assert.equal(client.closeCode, undefined);
});

test('$ping and $welcome', async () => {
  await using t = await startTestServer({ plugs: [math] });
  await using client = await RawClient.connect(t.wsUrl);
  assert.deepEqual((await client.request('$ping')).data, {});
});

test('per-message-type metrics at the admin endpoint', async () => {
  await using t = await startTestServer({ plugs: [math] });
  await using client = await RawClient.connect(t.wsUrl);
  await client.request('math.add', { a: 1, b: 2 });
  await client.request('math.add', { a: 3, b: 4 });
  await client.request('math.boom', {});
  const response = await fetch(`${t.url}/admin/metrics`);
  assert.equal(response.status, 200);
  const body = (await response.json()) as { connections: { open: number }; messages: Record<string, any> };
  assert.equal(body.connections.open, 1);
  const add = body.messages['math.add'];
  assert.equal(add.inbound.count, 2);
  assert.ok(add.inbound.bytes > 40);
  assert.equal(add.outbound.count, 2);
  assert.ok(add.outbound.bytes > 20);
  assert.equal(add.handler.count, 2);
  assert.ok(add.handler.p99Ms >= 0);
  assert.equal(body.messages['math.boom'].handler.errors, 1);
  const connections = (await (await fetch(`${t.url}/admin/connections`)).json()) as { connections: any[] };
  assert.equal(connections.connections.length, 1);
  assert.equal(connections.connections[0].messagesIn, 3);
});
