// The chat plug on a real server through the client SDK: broadcast as the signed-in user, history, validation, hot swap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Client, type StateChange } from '@switchboard/client';
import chat, { HISTORY_LIMIT, type ChatMessage } from '../plugs/chat.ts';
import { failsWith, nextValue, signIn, startExampleServer, type ChatApi } from './helpers.ts';

/** The next `chat.message` push `client` receives. */
function nextMessage(client: Client<ChatApi>): Promise<ChatMessage> {
  return nextValue<ChatMessage>((callback) => client.on('chat.message', callback));
}

test('chat.send reaches every connection, the sender included, under the name from the token', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, ' Ada ', 'staff');
  using bob = await signIn(server, 'Bob', 'customer');
  using reader = connect<ChatApi>(server.wsUrl);
  await reader.ready;
  const toAda = nextMessage(ada);
  const toBob = nextMessage(bob);
  const toReader = nextMessage(reader);
  const reply = await ada.request('chat.send', { text: 'hello, Bob' });
  assert.equal(reply.seq, 1);
  const [seenByAda, seenByBob, seenByReader] = await Promise.all([toAda, toBob, toReader]);
  assert.deepEqual(seenByBob, seenByAda);
  assert.deepEqual(seenByReader, seenByAda);
  const { at, epoch, ...rest } = seenByBob;
  assert.deepEqual(rest, { seq: 1, from: 'ada', name: 'Ada', role: 'staff', text: 'hello, Bob' });
  assert.equal(epoch, reply.epoch);
  assert.ok(!Number.isNaN(Date.parse(at)));
});

test('a name in the payload cannot override who is sending', async () => {
  await using server = await startExampleServer();
  using bob = await signIn(server, 'Bob', 'customer');
  const toBob = nextMessage(bob);
  // A key the schema does not declare is refused, naming it; the name always comes from the identity.
  await assert.rejects(
    bob.request('chat.send', { text: 'I am Ada', name: 'Ada' } as { text: string }),
    (error: { code?: string; issues?: { path: unknown[] }[] }) => error.code === 'invalid_payload' && JSON.stringify(error.issues?.[0]?.path) === '["name"]',
  );
  await bob.request('chat.send', { text: 'I am Ada' });
  const message = await toBob;
  assert.equal(message.name, 'Bob');
  assert.equal(message.from, 'bob');
});

test('anonymous connections may read the chat but not write to it', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'customer');
  await ada.request('chat.send', { text: 'hi' });
  using anonymous = connect<ChatApi>(server.wsUrl);
  const { messages } = await anonymous.request('chat.history', {});
  assert.deepEqual(messages.map((message) => message.text), ['hi']);
  await assert.rejects(anonymous.request('chat.send', { text: 'hello?' }), failsWith('forbidden', 'call:chat.send'));
});

test('chat.history returns the latest messages, oldest first, for pages that join late', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'customer');
  for (let n = 1; n <= 3; n++) await ada.request('chat.send', { text: `message ${n}` });
  using late = connect<ChatApi>(server.wsUrl);
  const { messages } = await late.request('chat.history', {});
  assert.deepEqual(messages.map((message) => [message.seq, message.text]), [
    [1, 'message 1'],
    [2, 'message 2'],
    [3, 'message 3'],
  ]);
  const { messages: lastTwo } = await late.request('chat.history', { limit: 2 });
  assert.deepEqual(lastTwo.map((message) => message.seq), [2, 3]);
});

test('history keeps the newest HISTORY_LIMIT messages', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'customer');
  // One at a time: a burst of requests would meet the connection's in-flight limit, which is not under test.
  for (let n = 1; n <= HISTORY_LIMIT + 5; n++) await ada.request('chat.send', { text: `m${n}` });
  const { messages } = await ada.request('chat.history', { limit: HISTORY_LIMIT });
  assert.equal(messages.length, HISTORY_LIMIT);
  assert.equal(messages[0]?.seq, 6);
  assert.equal(messages.at(-1)?.seq, HISTORY_LIMIT + 5);
});

test('empty or oversized text is refused with invalid_payload naming the field', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'customer');
  for (const text of ['   ', 'x'.repeat(501)]) {
    await assert.rejects(ada.request('chat.send', { text }), (error: { code: string; issues?: { path: unknown[] }[] }) => {
      assert.equal(error.code, 'invalid_payload');
      assert.deepEqual(error.issues?.map((issue) => issue.path), [['text']]);
      return true;
    });
  }
  const { messages } = await ada.request('chat.history', {});
  assert.deepEqual(messages, []);
});

test('history, seq and epoch survive a hot swap of the plug', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'customer');
  const before = await ada.request('chat.send', { text: 'before the swap' });
  // Installing the plug again is what the dev server does when chat.ts is saved.
  await server.server.loadPlug({ ...chat, version: 'edited' });
  const { epoch, messages } = await ada.request('chat.history', {});
  assert.deepEqual(messages.map((message) => message.text), ['before the swap']);
  assert.equal(epoch, before.epoch);
  assert.deepEqual(await ada.request('chat.send', { text: 'after' }), { epoch, seq: 2 });
});

test('a restart starts a new epoch, so the first message after it is told apart from the old seq 1', async () => {
  await using server = await startExampleServer();
  using ada = await signIn(server, 'Ada', 'customer');
  using bob = await signIn(server, 'Bob', 'customer');
  const first = nextMessage(bob);
  await ada.request('chat.send', { text: 'before the restart' });
  const old = await first;
  assert.equal(old.seq, 1);

  // Both clients reconnect by themselves and authenticate again with their tokens.
  const reopened = [ada, bob].map((client) => nextValue<StateChange>((callback) => client.events.on('state', (change) => change.state === 'open' && callback(change))));
  await server.restart();
  await Promise.all(reopened);

  // What a page does on every (re)connect: fetch the history. It is empty, and under another epoch.
  const history = await bob.request('chat.history', {});
  assert.deepEqual(history.messages, []);
  assert.notEqual(history.epoch, old.epoch);

  const next = nextMessage(bob);
  const reply = await ada.request('chat.send', { text: 'after the restart' });
  const fresh = await next;
  // The very collision a page deduplicating by seq alone would fall into: seq 1 again...
  assert.equal(fresh.seq, old.seq);
  assert.equal(fresh.text, 'after the restart');
  // ...told apart by the epoch, which is the one the history named.
  assert.notEqual(fresh.epoch, old.epoch);
  assert.equal(fresh.epoch, history.epoch);
  assert.equal(reply.epoch, fresh.epoch);
});
