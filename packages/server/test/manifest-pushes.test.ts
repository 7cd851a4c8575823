// The manifest over `$manifest` carries every plug's pushes and channel events as JSON Schema, and follows swaps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePlug, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import type { Manifest } from '@switchboard/protocol';
import { RawClient } from './helpers.ts';

function chatPlug(version: string, message: z.ZodType) {
  return definePlug({
    name: 'chat',
    version,
    pushes: { 'chat.message': message },
    events: { typing: z.object({ user: z.string() }).describe('Someone is typing in the room') },
    messages: {
      'chat.send': {
        input: z.object({ text: z.string() }),
        handler(data, ctx) {
          ctx.server.broadcast('chat.message', { text: data.text, from: ctx.connection.id });
        },
      },
    },
  });
}

const chat = chatPlug('1.0.0', z.object({ text: z.string(), from: z.string() }));

async function manifestOf(client: RawClient): Promise<Manifest> {
  return (await client.request('$manifest')).data as Manifest;
}

test('$manifest lists pushes and channel events with their JSON Schemas', async () => {
  await using t = await startTestServer({ plugs: [chat] });
  await using client = await RawClient.connect(t.wsUrl);
  const manifest = await manifestOf(client);

  assert.deepEqual(manifest.pushes, [
    {
      type: 'chat.message',
      plug: 'chat',
      plugVersion: '1.0.0',
      schema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        properties: { text: { type: 'string' }, from: { type: 'string' } },
        required: ['text', 'from'],
        additionalProperties: false,
      },
    },
  ]);
  assert.deepEqual(manifest.events, [
    {
      event: 'typing',
      plug: 'chat',
      plugVersion: '1.0.0',
      schema: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        description: 'Someone is typing in the room',
        type: 'object',
        properties: { user: { type: 'string' } },
        required: ['user'],
        additionalProperties: false,
      },
    },
  ]);
  assert.deepEqual(manifest, t.server.manifest());
});

test('changing only a push schema changes the manifest version and is pushed to clients', async () => {
  await using t = await startTestServer({ plugs: [chat] });
  await using client = await RawClient.connect(t.wsUrl);
  const before = await manifestOf(client);

  const pushed = client.next((envelope) => envelope.type === '$manifest');
  await t.server.loadPlug(chatPlug('1.0.0', z.object({ text: z.string(), from: z.string(), at: z.number() })));
  const after = (await pushed).data as Manifest;

  assert.notEqual(after.version, before.version);
  assert.deepEqual(after.messages, before.messages);
  assert.deepEqual(after.events, before.events);
  assert.deepEqual((after.pushes[0]?.schema as { required: string[] }).required, ['text', 'from', 'at']);
});

test('a plug with malformed pushes or events is refused with SB_PLUG_INVALID', async () => {
  await using t = await startTestServer({ plugs: [chat] });
  const base = { name: 'bad', messages: {} };
  const cases: [string, unknown][] = [
    ['a reserved push type', { ...base, pushes: { $welcome: z.object({}) } }],
    ['a push type with a space', { ...base, pushes: { 'has space': z.object({}) } }],
    ['a push that is not a zod schema', { ...base, pushes: { 'x.y': { type: 'object' } } }],
    ['pushes as an array', { ...base, pushes: [z.object({})] }],
    ['an empty event name', { ...base, events: { '': z.object({}) } }],
    ['an event that is not a zod schema', { ...base, events: { typing: 'a string' } }],
  ];
  for (const [label, plug] of cases) await assert.rejects(t.server.loadPlug(plug), { code: 'SB_PLUG_INVALID' }, label);
  assert.deepEqual(t.server.manifest().pushes.map((push) => push.type), ['chat.message']);
});
