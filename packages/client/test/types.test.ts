// Type-level tests: `npx tsc -p tsconfig.json` fails when inference from plugs to client calls breaks; at run
// time, a real server shows the inferred types describe the replies, pushes and channel events it actually sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect,
  type ApiShape,
  type ChannelMessage,
  type Client,
  type Manifest as ClientManifest,
  type MessageMeta,
  type WithPushes,
} from '@switchboard/client';
import { definePlug, defineResource, defineRoom, z, type AppApi, type Manifest as ServerManifest } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { nextEvent, nextValue } from './helpers.ts';

const chat = definePlug({
  name: 'chat',
  pushes: {
    'chat.message': z.object({ text: z.string(), from: z.string() }),
    // The data of a push arrives as its schema's output: the client sees a number.
    'chat.count': z.object({ count: z.string().transform(Number) }),
  },
  events: {
    typing: z.object({ user: z.string() }),
    said: z.object({ text: z.string() }),
  },
  messages: {
    'chat.send': {
      input: z.object({ text: z.string().min(1), room: z.string().optional() }),
      output: z.object({ sent: z.boolean(), at: z.number() }),
      handler(data, ctx) {
        ctx.server.broadcast('chat.message', { text: data.text, from: ctx.connection.id });
        if (data.room !== undefined) ctx.server.publish(data.room, 'said', { text: data.text });
        return { sent: true, at: 0 };
      },
    },
    'chat.type': {
      input: z.object({ room: z.string() }),
      handler(data, ctx) {
        ctx.server.publish(data.room, 'typing', { user: ctx.connection.id });
      },
    },
  },
});

const math = definePlug({
  name: 'math',
  messages: {
    'math.add': {
      input: z.object({ a: z.number(), b: z.number() }),
      output: z.object({ sum: z.number() }),
      handler: (data) => ({ sum: data.a + data.b }),
    },
    'math.free': {
      input: z.object({}),
      handler: () => 'anything',
    },
    'math.early': {
      input: z.object({ a: z.number(), b: z.number() }),
      output: z.object({ sum: z.number() }),
      // A handler with `output` returns its reply; one that replied early returns what reply() gave.
      async handler(data, ctx) {
        const replied = ctx.reply({ sum: data.a + data.b });
        await Promise.resolve();
        return replied;
      },
    },
  },
});

type Api = AppApi<typeof chat | typeof math>;

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when `value`'s type is exactly `Expected` (the second argument must then be `true`). */
function expectType<Expected>() {
  return <Actual>(value: Actual, proof: Equal<Actual, Expected>): [Actual, boolean] => [value, proof];
}

// Compile-only: tsc checks this body, nothing calls it (some of its calls are wrong on purpose).
async function typed(client: Client<Api>): Promise<void> {
  const sent = await client.request('chat.send', { text: 'hi' });
  expectType<{ sent: boolean; at: number }>()(sent, true);
  const sum = await client.request('math.add', { a: 1, b: 2 }, { timeoutMs: 100 });
  expectType<{ sum: number }>()(sum, true);
  // A message without an output schema replies with unknown.
  const free = await client.request('math.free', {});
  expectType<unknown>()(free, true);
  // @ts-expect-error -- the inferred reply type is checked, not just present
  expectType<{ sum: string }>()(sum, true);

  // @ts-expect-error -- misspelt message type
  await client.request('chat.sned', { text: 'hi' });
  // @ts-expect-error -- wrong payload: text must be a string
  await client.request('chat.send', { text: 42 });
  // @ts-expect-error -- missing payload field
  await client.request('math.add', { a: 1 });
  // @ts-expect-error -- the payload is required
  await client.request('chat.send');

  client.send('chat.send', { text: 'fire and forget' });
  // @ts-expect-error -- send checks payloads too
  client.send('chat.send', { txt: 'typo' });
  // @ts-expect-error -- and message types
  client.send('chat.nope', {});

  // Pushes come from the plugs' `pushes`: the data is the schema's output type.
  client.on('chat.message', (data, envelope) => {
    expectType<{ text: string; from: string }>()(data, true);
    expectType<{ text: string; from: string } | undefined>()(envelope.data, true);
  });
  client.on('chat.count', (data) => expectType<{ count: number }>()(data, true));
  // @ts-expect-error -- misspelt push type
  client.on('chat.mesage', () => undefined);
  client.on('chat.message', (data) => {
    // @ts-expect-error -- no such field in the push
    void data.txt;
  });
  // @ts-expect-error -- declared pushes are typed by their schema, not by the caller
  client.on<{ text: string }>('chat.message', () => undefined);
  // Protocol pushes still take any `$` type and the data type the caller gives.
  client.on<ChannelMessage>('$message', (message) => expectType<ChannelMessage>()(message, true));

  // Channel events come from the plugs' `events`. The channel's handler hears undeclared events too.
  const room = client.subscribe('room', (data, meta) => {
    expectType<unknown>()(data, true);
    expectType<MessageMeta>()(meta, true);
  });
  room.onEvent('typing', (data, meta) => {
    expectType<{ user: string }>()(data, true);
    expectType<'typing'>()(meta.event, true);
  });
  room.onEvent('said', ({ text }) => expectType<string>()(text, true));
  // @ts-expect-error -- misspelt channel event
  room.onEvent('typng', () => undefined);
  room.onEvent('typing', (data) => {
    // @ts-expect-error -- a typing event has no text
    void data.text;
  });
  // An explicit data type still wins for the whole channel.
  const orders = client.subscribe<{ id: number }>('orders');
  orders.on('message', (order) => expectType<{ id: number }>()(order, true));
}

// Compile-only. A handler is checked against its plug's pushes, events and output.
function handlers(): void {
  definePlug({
    name: 'checked',
    pushes: { 'note.added': z.object({ text: z.string() }), 'note.cleared': z.undefined() },
    events: { typing: z.object({ user: z.string() }) },
    messages: {
      'note.add': {
        input: z.object({ text: z.string() }),
        output: z.object({ ok: z.boolean() }),
        handler(data, ctx) {
          ctx.send('note.added', { text: data.text });
          ctx.send('note.cleared');
          // @ts-expect-error -- wrong field in the push's data
          ctx.send('note.added', { txt: data.text });
          // @ts-expect-error -- misspelt push type
          ctx.send('note.aded', { text: data.text });
          ctx.server.broadcast('note.added', { text: data.text }, { except: ctx.connection });
          // @ts-expect-error -- broadcast is checked the same way
          ctx.server.broadcast('note.added', { text: 1 });
          ctx.server.publish('room', 'typing', { user: 'ada' });
          // @ts-expect-error -- and publish against the plug's events
          ctx.server.publish('room', 'typing', { name: 'ada' });
          return { ok: true };
        },
      },
      'note.early': {
        input: z.object({}),
        output: z.object({ ok: z.boolean() }),
        // Replying early and returning what reply() gives compiles, sync or async.
        async handler(_data, ctx) {
          await Promise.resolve();
          return ctx.reply({ ok: true });
        },
      },
      'note.forgot': {
        input: z.object({}),
        output: z.object({ ok: z.boolean() }),
        // @ts-expect-error -- a handler with `output` must return the reply
        handler(_data, ctx) {
          ctx.reply({ ok: true });
        },
      },
      'note.silent': {
        input: z.object({}),
        output: z.object({ ok: z.boolean() }),
        // @ts-expect-error -- also when async
        async handler() {
          await Promise.resolve();
        },
      },
      'note.free': {
        input: z.object({}),
        // Without `output` a handler may return nothing.
        handler(_data, ctx) {
          ctx.reply('anything');
        },
      },
    },
  });
  // A plug that declares no pushes keeps the loose send and broadcast.
  definePlug({
    name: 'loose',
    messages: {
      'loose.go': {
        input: z.object({}),
        handler(_data, ctx) {
          ctx.send('any.type', { any: 'data' });
          ctx.server.broadcast('other.type');
          ctx.server.publish('room', 'anything', 1);
        },
      },
    },
  });
}

// Compile-only. A hand-written Api without pushes keeps `on` and channels loose; WithPushes adds them.
function handWritten(plain: Client<{ 'x.do': { input: { n: number }; output: null } }>, declared: Client<HandWritten>): void {
  plain.on<{ text: string }>('chat.message', (data) => expectType<{ text: string }>()(data, true));
  plain.subscribe('room').onEvent<{ id: number }>('created', (data) => expectType<{ id: number }>()(data, true));
  declared.on('alert', (data) => expectType<{ level: number }>()(data, true));
  // @ts-expect-error -- and a misspelt one does not compile
  declared.on('alret', () => undefined);
  declared.subscribe('room').onEvent('moved', (data) => expectType<{ x: number }>()(data, true));
}
type HandWritten = { 'x.do': { input: { n: number }; output: null } } & WithPushes<{ alert: { level: number } }, { moved: { x: number } }>;
// AppApi and WithPushes keep a message map: they satisfy ApiShape.
const shapes: [ApiShape, ApiShape] = [{} as Api, {} as HandWritten];

// Compile-only. Without an Api everything is loosely typed.
async function loose(client: Client): Promise<void> {
  const reply = await client.request('anything.at.all', { whatever: true });
  expectType<unknown>()(reply, true);
  await client.request('no.payload');
  client.send('x');
}

// Compile-only. The client's Manifest mirrors the server's: drift in either fails here.
function manifests(server: ServerManifest, client: ClientManifest): [ClientManifest, ServerManifest] {
  return [server, client];
}

// Referenced, never called: the compile-only checks above exist for tsc.
void [typed, loose, manifests, handlers, handWritten, shapes];

test('the inferred reply types are what the server sends; the client gets the server manifest', async () => {
  await using t = await startTestServer({ plugs: [chat, math] });
  using client = connect<Api>(t.wsUrl);
  const manifest = nextEvent(client.events, 'manifest');

  const sent = await client.request('chat.send', { text: 'hi' });
  expectType<{ sent: boolean; at: number }>()(sent, true);
  assert.deepEqual(sent, { sent: true, at: 0 });
  const sum = await client.request('math.add', { a: 1, b: 2 });
  expectType<{ sum: number }>()(sum, true);
  assert.deepEqual(sum, { sum: 3 });
  const free = await client.request('math.free', {});
  expectType<unknown>()(free, true);
  assert.equal(free, 'anything');
  const early = await client.request('math.early', { a: 2, b: 2 });
  expectType<{ sum: number }>()(early, true);
  assert.deepEqual(early, { sum: 4 });

  // Pushes and channel events arrive with the data their types promise.
  const room = client.subscribe('room');
  await room.ready;
  // `callback` takes the declared type: it would not fit a handler of `unknown` data.
  const message = nextValue<{ text: string; from: string }>((callback) => client.on('chat.message', callback));
  const said = nextValue<{ text: string }>((callback) => room.onEvent('said', callback));
  await client.request('chat.send', { text: 'hello', room: 'room' });
  assert.deepEqual(await message, { text: 'hello', from: client.connectionId });
  assert.deepEqual(await said, { text: 'hello' });
  const typing = nextValue<[{ user: string }, MessageMeta<'typing'>]>((callback) => room.onEvent('typing', (data, meta) => callback([data, meta])));
  client.send('chat.type', { room: 'room' });
  assert.deepEqual(await typing, [{ user: client.connectionId }, { event: 'typing', channel: 'room' }]);

  // The server's manifest type is assignable to the client's, and the one that arrives is the server's.
  const fromServer: ClientManifest = t.server.manifest();
  assert.deepEqual(await manifest, fromServer);
  assert.deepEqual(client.manifest?.messages.map((message) => message.type).sort(), ['chat.send', 'chat.type', 'math.add', 'math.early', 'math.free']);
  assert.deepEqual(client.manifest?.pushes.map((push) => push.type), ['chat.count', 'chat.message']);
  assert.deepEqual(client.manifest?.events.map((entry) => entry.event), ['said', 'typing']);
});

const shop = definePlug({
  name: 'shop',
  resources: {
    orders: defineResource({
      key: 'id',
      schema: z.object({ id: z.string(), total: z.number(), status: z.enum(['open', 'paid']) }),
      access: { read: 'public', write: 'public' },
    }),
  },
  messages: {
    'shop.pay': {
      input: z.object({ id: z.string() }),
      output: z.object({ version: z.number() }),
      async handler(data, ctx) {
        // ctx.resources is typed from the plug's resources: a wrong field does not compile.
        // @ts-expect-error -- status must be 'open' or 'paid'
        void ctx.resources.orders.put(data.id, { id: data.id, total: 1, status: 'lost' }).catch(() => undefined);
        const reply = await ctx.resources.orders.patch(data.id, [{ op: 'replace', path: '/status', value: 'paid' }]);
        const total: number | undefined = reply.value?.total;
        void total;
        return { version: reply.version ?? 0 };
      },
    },
  },
});

test('client.live() is typed from the resource schema of the plugs', async () => {
  await using t = await startTestServer({ plugs: [shop] });
  using client = connect<AppApi<typeof shop>>(t.wsUrl);
  const orders = client.live('orders');
  await orders.ready;
  await orders.create({ id: 'o1', total: 3, status: 'open' });
  // @ts-expect-error -- not a resource of the Api
  client.live('nothing');
  // @ts-expect-error -- a record of the wrong shape
  void orders.create({ id: 'o2', total: '3', status: 'open' }).catch(() => undefined);
  const { version } = await client.request('shop.pay', { id: 'o1' });
  assert.equal(version, 2);
  await new Promise((resolve) => setTimeout(resolve, 30));
  const status: 'open' | 'paid' | undefined = orders.get('o1')?.status;
  assert.equal(status, 'paid');
});

const games = definePlug({
  name: 'games',
  rooms: {
    counter: defineRoom({
      access: 'public',
      pushes: {
        reached: z.object({ count: z.number(), by: z.string() }),
        reset: z.object({}),
      },
      create: (): { count: number } => ({ count: 0 }),
      messages: {
        add: {
          input: z.object({ by: z.number().int() }),
          handler({ by }, ctx) {
            ctx.state.count += by;
            // Pushes are typed from the kind's `pushes`: an undeclared type or wrong data does not compile.
            if (ctx.state.count >= 10) ctx.room.broadcast('reached', { count: ctx.state.count, by: ctx.member.id });
            // @ts-expect-error -- not a declared push
            if (by === 99) ctx.room.broadcast('nope', {});
            // @ts-expect-error -- count must be a number
            if (by === 98) ctx.room.send(ctx.member.id, 'reached', { count: 'ten', by: ctx.member.id });
            return ctx.state.count;
          },
        },
      },
    }),
  },
  messages: {},
});

test('client.join() is typed from a room kind: its state, its messages and its pushes', async () => {
  await using t = await startTestServer({ plugs: [games] });
  using client = connect<AppApi<typeof games>>(t.wsUrl);
  const counter = client.join('counter');
  await counter.ready;
  const reached = nextValue<{ count: number; by: string }>((callback) => counter.onMessage('reached', callback));
  const viaEvent = nextValue<number>((callback) =>
    counter.on('message', (type, data) => {
      // `type` narrows `data`: a switch over the declared pushes.
      if (type === 'reached') callback(data.count);
    }),
  );
  // @ts-expect-error -- not a message of the kind
  void counter.send('subtract', { by: 1 }).catch(() => undefined);
  // @ts-expect-error -- by must be a number
  void counter.send('add', { by: 'one' }).catch(() => undefined);
  // @ts-expect-error -- not a push of the kind
  counter.onMessage('finished', () => undefined);
  await counter.send('add', { by: 4 });
  const count = await counter.send<number>('add', { by: 6 });
  assert.equal(count, 10);
  const state: { count: number } | undefined = counter.state;
  assert.equal(state?.count, 10);
  assert.deepEqual(await reached, { count: 10, by: counter.member });
  assert.equal(await viaEvent, 10);
  // The manifest lists the kind's pushes with their JSON Schemas.
  const manifest: ClientManifest = t.server.manifest();
  const room = manifest.rooms.find((entry) => entry.kind === 'counter');
  assert.deepEqual(room?.pushes?.map((push) => push.type), ['reached', 'reset']);
  assert.deepEqual(Object.keys((room?.pushes?.[0]?.data as { properties: object }).properties), ['count', 'by']);
});
