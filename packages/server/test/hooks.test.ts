// Lifecycle hooks: order, isolation of errors, rejection, send transforms, per-plug scope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, type Envelope } from '@switchboard/protocol';
import { definePlug, z, type Hooks } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { RawClient } from './helpers.ts';

test('hooks run in order: global first, then the plug; teardown in reverse', async () => {
  const calls: string[] = [];
  const record = (owner: string): Hooks => ({
    onConnect: async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      calls.push(`${owner}.onConnect`);
    },
    beforeHandle: (message) => void calls.push(`${owner}.beforeHandle:${message.type}`),
    afterHandle: (message, outcome) => void calls.push(`${owner}.afterHandle:${message.type}:${outcome.ok}`),
    onDisconnect: () => void calls.push(`${owner}.onDisconnect`),
  });
  const a = definePlug({
    name: 'a',
    hooks: record('a'),
    messages: { 'a.do': { input: z.object({}), handler: () => void calls.push('a.handler') } },
  });
  const b = definePlug({
    name: 'b',
    hooks: record('b'),
    messages: { 'b.do': { input: z.object({}), handler: () => void calls.push('b.handler') } },
  });
  await using t = await startTestServer({ plugs: [a, b], hooks: record('global') });
  const client = await RawClient.connect(t.wsUrl);
  // $welcome came after every onConnect hook finished.
  assert.deepEqual(calls.splice(0), ['global.onConnect', 'a.onConnect', 'b.onConnect']);
  await client.request('a.do', {});
  // Plug b's handle hooks do not apply to plug a's messages.
  assert.deepEqual(calls.splice(0), ['global.beforeHandle:a.do', 'a.beforeHandle:a.do', 'a.handler', 'global.afterHandle:a.do:true', 'a.afterHandle:a.do:true']);
  const closed = new Promise((resolve) => t.server.events.once('close', resolve));
  client.ws.close();
  await closed;
  assert.deepEqual(calls.splice(0), ['b.onDisconnect', 'a.onDisconnect', 'global.onDisconnect']);
});

test('beforeHandle rejects; a throwing hook is isolated (and fails closed in beforeHandle)', async () => {
  let afterThrows = 0;
  const guarded = definePlug({
    name: 'guarded',
    hooks: {
      beforeHandle: (message) => ((message.data as { pin?: string }).pin === '1234' ? undefined : { reject: 'wrong pin' }),
      afterHandle: () => {
        afterThrows++;
        throw new Error('afterHandle bug');
      },
      onConnect: () => {
        throw new Error('onConnect bug');
      },
    },
    messages: {
      'vault.open': { input: z.object({ pin: z.string() }), handler: () => ({ open: true }) },
    },
  });
  const buggy = definePlug({
    name: 'buggy',
    hooks: {
      beforeHandle: () => {
        throw new Error('hook bug');
      },
    },
    messages: { 'buggy.do': { input: z.object({}), handler: () => ({ ran: true }) } },
  });
  await using t = await startTestServer({ plugs: [guarded, buggy] });
  await using client = await RawClient.connect(t.wsUrl);
  const refused = await client.request('vault.open', { pin: '0000' });
  assert.deepEqual(refused.error, { code: ErrorCode.rejected, message: 'wrong pin' });
  assert.deepEqual((await client.request('vault.open', { pin: '1234' })).data, { open: true });
  assert.equal(afterThrows, 1);
  assert.equal((await client.request('buggy.do', {})).error?.code, ErrorCode.rejected);
  assert.equal(client.closeCode, undefined);
});

test('beforeSend transforms or drops; broadcasts run it once, with no connection', async () => {
  const seen: (string | undefined)[] = [];
  const news = definePlug({
    name: 'news',
    messages: {
      'news.post': {
        input: z.object({ text: z.string() }),
        handler(data, ctx) {
          ctx.server.broadcast('news.item', { text: data.text }, { except: ctx.connection });
          return { posted: true };
        },
      },
    },
  });
  await using t = await startTestServer({
    plugs: [news],
    hooks: {
      beforeSend(envelope, connection) {
        if (envelope.type !== 'news.item') return;
        seen.push(connection?.id);
        const text = (envelope.data as { text: string }).text;
        if (text.includes('spam')) return false;
        return { ...envelope, data: { text: text.toUpperCase() } };
      },
    },
  });
  await using author = await RawClient.connect(t.wsUrl);
  await using reader1 = await RawClient.connect(t.wsUrl);
  await using reader2 = await RawClient.connect(t.wsUrl);
  await author.request('news.post', { text: 'buy spam' });
  await author.request('news.post', { text: 'hello' });
  for (const reader of [reader1, reader2]) {
    assert.deepEqual((await reader.next((e) => e.type === 'news.item')).data, { text: 'HELLO' });
  }
  assert.deepEqual(seen, [undefined, undefined]);
  // A round trip on each connection: anything else sent to it before now has arrived.
  for (const client of [author, reader1, reader2]) await client.request('$ping');
  // All but the sender: the author got only its replies; the dropped spam reached no one.
  for (const client of [author, reader1, reader2]) assert.equal(client.received.filter((e) => e.type === 'news.item').length, 0);
});

test('synchronous hooks do not hold a burst of fire-and-forget messages in flight', async () => {
  let handled = 0;
  const counter = definePlug({
    name: 'counter',
    hooks: { beforeHandle: () => undefined, afterHandle: () => undefined },
    messages: { 'counter.hit': { input: z.object({}), handler: () => void handled++ } },
  });
  await using t = await startTestServer({ plugs: [counter], limits: { maxInFlight: 4, rateLimit: { messagesPerSecond: 0 } } });
  await using client = await RawClient.connect(t.wsUrl);
  // One write of 200 frames: the server decodes them all from the same read.
  const socket = (client.ws as unknown as { _socket: import('node:net').Socket })._socket;
  socket.cork();
  for (let i = 0; i < 200; i++) client.ws.send(JSON.stringify({ type: 'counter.hit', data: {} }));
  socket.uncork();
  assert.deepEqual((await client.request('$ping')).data, {});
  assert.equal(handled, 200);
  assert.deepEqual(client.received.filter((e) => e.type === '$error'), []);
});

test('afterSend runs once per message sent, with its envelope and connection; once per broadcast, without one', async () => {
  const sent: { envelope: Envelope; connection: string | undefined }[] = [];
  const news = definePlug({
    name: 'news',
    messages: {
      'news.post': {
        input: z.object({ text: z.string() }),
        handler(data, ctx) {
          ctx.send('news.ack', { text: data.text });
          ctx.send('news.secret', { text: data.text });
          ctx.server.broadcast('news.item', { text: data.text });
          return { posted: true };
        },
      },
    },
  });
  await using t = await startTestServer({
    plugs: [news],
    hooks: {
      // A dropped message is not sent, so afterSend does not see it.
      beforeSend: (envelope) => (envelope.type === 'news.secret' ? false : undefined),
      afterSend: (envelope, connection) => void sent.push({ envelope, connection: connection?.id }),
    },
  });
  // A broadcast that reaches no one queues nothing, so afterSend does not run.
  t.server.broadcast('news.item', { text: 'to nobody' });
  assert.equal(sent.length, 0);
  await using author = await RawClient.connect(t.wsUrl);
  const authorId = [...t.server.connections()][0]!.id;
  await using reader = await RawClient.connect(t.wsUrl);
  const readerId = [...t.server.connections()].find((connection) => connection.id !== authorId)!.id;
  // Each connection's $welcome went through it, with that connection.
  assert.deepEqual(
    sent.splice(0).map(({ envelope, connection }) => [envelope.type, connection]),
    [['$welcome', authorId], ['$welcome', readerId]],
  );

  assert.deepEqual((await author.request('news.post', { text: 'hi' })).data, { posted: true });
  await reader.next((e) => e.type === 'news.item');
  assert.deepEqual(sent, [
    { envelope: { type: 'news.ack', data: { text: 'hi' } }, connection: authorId },
    // Two recipients, one call.
    { envelope: { type: 'news.item', data: { text: 'hi' } }, connection: undefined },
    { envelope: { type: 'news.post', id: 1, data: { posted: true } }, connection: authorId },
  ]);
});
