// Editing plugs/chat.ts while the server runs: connected clients get the new manifest and can use a new message at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type Client, type Manifest } from '@switchboard/client';
import { copyPlugs, failsWith, nextValue, signIn, startExampleServer, type ChatApi } from './helpers.ts';

/** Where the new message goes in plugs/chat.ts: first in its `messages`. */
const ANCHOR = "  messages: {\n    'chat.send': {";
/** A message type the page has no screen for, as someone trying the example might add it. */
const SHOUT = `  messages: {
    'chat.shout': {
      description: 'Says it louder',
      input: z.object({ text: z.string().min(1).max(100) }),
      output: z.object({ text: z.string() }),
      handler: (data) => ({ text: data.text.toUpperCase() }),
    },
    'chat.send': {`;

/** The client's manifest once it has one: fetched after connecting, so it may still be on its way. */
async function currentManifest(client: Client<ChatApi>): Promise<Manifest> {
  await client.ready;
  return client.manifest ?? nextValue<Manifest>((callback) => client.events.on('manifest', callback));
}

/** The next manifest event whose message types pass `test`. */
function nextManifest(client: Client<ChatApi>, test: (types: string[]) => boolean): Promise<Manifest> {
  return nextValue<Manifest>(
    (callback) => client.events.on('manifest', (manifest) => test(manifest.messages.map((entry) => entry.type)) && callback(manifest)),
    10_000,
  );
}

test('a message type added to chat.ts reaches connected clients as a manifest event and works without a restart', async () => {
  await using plugs = await copyPlugs();
  await using server = await startExampleServer({ plugs: plugs.dir, watch: true });
  using ada = await signIn(server, 'Ada', 'customer');
  using anonymous = connect<ChatApi>(server.wsUrl);
  const before = await currentManifest(ada);
  assert.ok(!before.messages.some((entry) => entry.type === 'chat.shout'));
  await currentManifest(anonymous);
  const sent = await ada.request('chat.send', { text: 'before the edit' });

  const file = join(plugs.dir, 'chat.ts');
  const original = await readFile(file, 'utf8');
  assert.ok(original.includes(ANCHOR), 'plugs/chat.ts still starts its messages with chat.send');
  const toAda = nextManifest(ada, (types) => types.includes('chat.shout'));
  const toAnonymous = nextManifest(anonymous, (types) => types.includes('chat.shout'));
  await writeFile(file, original.replace(ANCHOR, SHOUT));

  // The manifest names the new type with its schema, from which a page can build a form.
  const manifest = await toAda;
  await toAnonymous;
  const entry = manifest.messages.find((message) => message.type === 'chat.shout');
  assert.equal(entry?.description, 'Says it louder');
  assert.deepEqual(entry?.input.required, ['text']);
  assert.deepEqual(Object.keys((entry?.input.properties ?? {}) as object), ['text']);

  // Signed-in users have call:chat.*, so the new message works for Ada with the token she already had.
  const shout = 'chat.shout' as 'chat.send';
  assert.deepEqual(await ada.request(shout, { text: 'hello' }), { text: 'HELLO' });
  await assert.rejects(anonymous.request(shout, { text: 'hello' }), failsWith('forbidden', 'call:chat.shout'));
  // The plug's state is the same: history, seq and epoch go on.
  const { epoch, messages } = await ada.request('chat.history', {});
  assert.equal(epoch, sent.epoch);
  assert.deepEqual(messages.map((message) => message.text), ['before the edit']);

  // Taking it out again is announced the same way; the type is then unknown.
  const removed = nextManifest(ada, (types) => !types.includes('chat.shout'));
  await writeFile(file, original);
  await removed;
  await assert.rejects(ada.request(shout, { text: 'hello' }), failsWith('unknown_type'));
});
