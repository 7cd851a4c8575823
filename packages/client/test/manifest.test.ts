// The manifest: fetched after connecting, and pushed again (with a `manifest` event) when plugs change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@switchboard/client';
import { definePlug, z } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { nextEvent } from './helpers.ts';

const echo = definePlug({
  name: 'echo',
  messages: {
    'echo.say': {
      input: z.object({ text: z.string() }),
      output: z.object({ text: z.string() }),
      description: 'Says it back',
      handler: (data) => data,
    },
  },
});

const greet = definePlug({
  name: 'greet',
  messages: {
    'greet.hello': {
      input: z.object({ name: z.string() }),
      handler: (data) => ({ greeting: `hello ${data.name}` }),
    },
  },
});

test('the manifest arrives after connecting', async () => {
  await using t = await startTestServer({ plugs: [echo] });
  using client = connect(t.wsUrl);
  const manifest = await nextEvent(client.events, 'manifest');
  assert.equal(client.manifest, manifest);
  const entry = manifest.messages.find((message) => message.type === 'echo.say');
  assert.equal(entry?.plug, 'echo');
  assert.equal(entry?.description, 'Says it back');
  assert.equal(entry?.input.type, 'object');
});

test('loading a plug at runtime pushes the new manifest, and its messages work at once', async () => {
  await using t = await startTestServer({ plugs: [echo] });
  using client = connect(t.wsUrl);
  const first = await nextEvent(client.events, 'manifest');

  const changed = nextEvent(client.events, 'manifest', (manifest) => manifest.messages.some((m) => m.type === 'greet.hello'));
  await t.server.loadPlug(greet);
  const manifest = await changed;
  assert.notEqual(manifest.version, first.version);
  assert.equal(client.manifest?.version, manifest.version);
  assert.deepEqual(await client.request('greet.hello', { name: 'ada' }), { greeting: 'hello ada' });

  const removed = nextEvent(client.events, 'manifest');
  await t.server.unloadPlug('greet');
  assert.deepEqual((await removed).messages.map((m) => m.type), ['echo.say']);
});
