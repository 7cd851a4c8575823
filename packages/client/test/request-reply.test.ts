// Requests through the SDK: replies, every kind of error as a RequestError code, timeouts, send and its queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, ErrorCode, MAX_QUEUED_MESSAGES, RequestError } from '@switchboard/client';
import { definePlug, MessageError, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { WebSocket as WsWebSocket } from 'ws';
import { deferred, nextEvent, nextValue } from './helpers.ts';

const release = deferred();

const math = definePlug({
  name: 'math',
  messages: {
    'math.add': {
      input: z.object({ a: z.number(), b: z.number() }),
      output: z.object({ sum: z.number() }),
      handler: (data) => ({ sum: data.a + data.b }),
    },
    'math.refuse': {
      input: z.object({}),
      handler() {
        throw new MessageError('room_full', 'the room is full', { capacity: 8 });
      },
    },
    'math.stall': {
      input: z.object({}),
      handler: async () => {
        await release.promise;
        return { late: true };
      },
    },
    'math.echo': {
      input: z.object({ text: z.string() }),
      handler(data, ctx) {
        ctx.send('math.echoed', data);
      },
    },
  },
});

test('a request resolves with the reply data', async () => {
  await using t = await startTestServer({ plugs: [math] });
  using client = connect(t.wsUrl);
  await client.ready;
  assert.equal(client.state, 'open');
  assert.equal(typeof client.connectionId, 'string');
  assert.deepEqual(await client.request('math.add', { a: 2, b: 3 }), { sum: 5 });
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => client.request('math.add', { a: i, b: 1 })));
  assert.deepEqual(many.map((reply) => (reply as { sum: number }).sum), Array.from({ length: 20 }, (_, i) => i + 1));
});

test('requests made before the connection is open wait for it', async () => {
  await using t = await startTestServer({ plugs: [math] });
  using client = connect(t.wsUrl);
  assert.equal(client.state, 'connecting');
  assert.deepEqual(await client.request('math.add', { a: 1, b: 1 }), { sum: 2 });
});

test('server errors reject with a RequestError carrying their code and details', async () => {
  await using t = await startTestServer({ plugs: [math] });
  using client = connect(t.wsUrl);

  const invalid = await client.request('math.add', { a: 'two' }).then(
    () => assert.fail('expected invalid_payload'),
    (error: unknown) => error,
  );
  assert.ok(invalid instanceof RequestError);
  assert.equal(invalid.code, ErrorCode.invalidPayload);
  assert.deepEqual(invalid.issues?.map((issue) => issue.path), [['a'], ['b']]);

  await assert.rejects(client.request('math.nope', {}), { name: 'RequestError', code: ErrorCode.unknownType });
  await assert.rejects(client.request('$nothing'), { code: ErrorCode.unknownType });
  await assert.rejects(client.request('math.refuse', {}), (error: RequestError) => {
    assert.equal(error.code, 'room_full');
    assert.equal(error.details.capacity, 8);
    return true;
  });
  // Still serving after all of that.
  assert.deepEqual(await client.request('math.add', { a: 1, b: 1 }), { sum: 2 });
});

test('a request without a reply in time fails with timeout, and its late reply is ignored', async () => {
  await using t = await startTestServer({ plugs: [math] });
  using client = connect(t.wsUrl, { requestTimeoutMs: 5000 });
  await client.ready;
  try {
    await assert.rejects(client.request('math.stall', {}, { timeoutMs: 50 }), { code: ErrorCode.timeout });
  } finally {
    release.resolve();
  }
  assert.deepEqual(await client.request('math.add', { a: 1, b: 2 }), { sum: 3 });
});

test('send is fire-and-forget; its failures arrive as error events', async () => {
  await using t = await startTestServer({ plugs: [math] });
  using client = connect(t.wsUrl);
  await client.ready;
  const echoed = nextValue<unknown>((callback) => client.on('math.echoed', callback));
  client.send('math.echo', { text: 'hi' });
  assert.deepEqual(await echoed, { text: 'hi' });

  const failed = nextEvent(client.events, 'error');
  client.send('math.echo', { text: 42 });
  const error = await failed;
  assert.equal(error.code, ErrorCode.invalidPayload);
  assert.equal(error.type, 'math.echo');
});

test('send queues a bounded number of messages until the connection opens', async () => {
  await using t = await startTestServer({
    plugs: [math],
    limits: { rateLimit: { messagesPerSecond: 100_000, burst: 100_000 }, perAddress: { messagesPerSecond: 0 } },
  });
  using client = connect(t.wsUrl);
  const texts: string[] = [];
  const last = nextValue<{ text: string }>((callback) =>
    client.on<{ text: string }>('math.echoed', (data) => {
      texts.push(data.text);
      if (data.text === 'last') callback(data);
    }),
  );
  for (let i = 0; i < MAX_QUEUED_MESSAGES - 1; i++) client.send('math.echo', { text: String(i) });
  client.send('math.echo', { text: 'last' });
  assert.throws(() => client.send('math.echo', { text: 'one too many' }), { code: ErrorCode.disconnected });
  await last;
  assert.equal(texts.length, MAX_QUEUED_MESSAGES);
  assert.deepEqual(texts.slice(0, 3), ['0', '1', '2']);
});

test('a WebSocket constructor can be passed in (here the ws package), with the v1 JSON subprotocol', async () => {
  await using t = await startTestServer({ plugs: [math] });
  const protocols: string[] = [];
  class Recording extends WsWebSocket {
    constructor(url: string, protocol: string) {
      super(url, protocol);
      protocols.push(protocol);
    }
  }
  using client = connect(t.wsUrl, { WebSocket: Recording as unknown as typeof WebSocket });
  assert.deepEqual(await client.request('math.add', { a: 4, b: 5 }), { sum: 9 });
  assert.deepEqual(protocols, ['switchboard.v1.json']);
});
