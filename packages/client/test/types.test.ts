// Type-level tests: `npx tsc -p tsconfig.json` fails when inference from plugs to client calls breaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client, Manifest as ClientManifest } from '@switchboard/client';
import { definePlug, z, type AppApi, type Manifest as ServerManifest } from '@switchboard/server';

const chat = definePlug({
  name: 'chat',
  messages: {
    'chat.send': {
      input: z.object({ text: z.string().min(1), room: z.string().optional() }),
      output: z.object({ sent: z.boolean(), at: z.number() }),
      handler: () => ({ sent: true, at: 0 }),
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
  },
});

type Api = AppApi<typeof chat | typeof math>;

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when `value`'s type is exactly `Expected` (the second argument must then be `true`). */
function expectType<Expected>() {
  return <Actual>(value: Actual, proof: Equal<Actual, Expected>): [Actual, boolean] => [value, proof];
}

// Never called: these lines exist for the compiler.
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

  // Pushes are not part of the Api: any type, data typed by the caller.
  client.on<{ text: string }>('chat.message', (data) => {
    expectType<{ text: string }>()(data, true);
  });
}

// Without an Api everything is loosely typed.
async function loose(client: Client): Promise<void> {
  const reply = await client.request('anything.at.all', { whatever: true });
  expectType<unknown>()(reply, true);
  await client.request('no.payload');
  client.send('x');
}

// The client's Manifest mirrors the server's: drift in either fails here.
function manifests(server: ServerManifest, client: ClientManifest): [ClientManifest, ServerManifest] {
  return [server, client];
}

test('type-level checks compile (run by tsc, not at runtime)', () => {
  assert.deepEqual([chat.name, math.name], ['chat', 'math']);
  assert.equal(typeof typed, 'function');
  assert.equal(typeof loose, 'function');
  assert.equal(typeof manifests, 'function');
});
