// The chat plug on a real server through the client SDK: broadcast to every page, history, validation, hot swap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Client } from '@switchboard/client';
import type { AppApi } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import chat, { HISTORY_LIMIT, type ChatMessage } from '../plugs/chat.ts';

type ChatApi = AppApi<typeof chat>;

/** The next `chat.message` push `client` receives; fails after `timeoutMs` instead of hanging. */
function nextMessage(client: Client<ChatApi>, timeoutMs = 2000): Promise<ChatMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no chat.message within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on<ChatMessage>('chat.message', (message) => {
      clearTimeout(timer);
      off();
      resolve(message);
    });
  });
}

test('chat.send reaches every connection, the sender included', async () => {
  await using server = await startTestServer({ plugs: [chat] });
  using ada = connect<ChatApi>(server.wsUrl);
  using bob = connect<ChatApi>(server.wsUrl);
  await Promise.all([ada.ready, bob.ready]);
  const toAda = nextMessage(ada);
  const toBob = nextMessage(bob);
  const reply = await ada.request('chat.send', { name: ' Ada ', text: 'hello, Bob' });
  assert.equal(reply.seq, 1);
  const [seenByAda, seenByBob] = await Promise.all([toAda, toBob]);
  assert.deepEqual(seenByBob, seenByAda);
  assert.equal(seenByBob.seq, 1);
  assert.equal(seenByBob.name, 'Ada');
  assert.equal(seenByBob.text, 'hello, Bob');
  assert.ok(!Number.isNaN(Date.parse(seenByBob.at)));
});

test('chat.history returns the latest messages, oldest first, for pages that join late', async () => {
  await using server = await startTestServer({ plugs: [chat] });
  using ada = connect<ChatApi>(server.wsUrl);
  for (let n = 1; n <= 3; n++) await ada.request('chat.send', { name: 'Ada', text: `message ${n}` });
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
  await using server = await startTestServer({ plugs: [chat] });
  using ada = connect<ChatApi>(server.wsUrl);
  // One at a time: a burst of requests would meet the connection's in-flight limit, which is not under test.
  for (let n = 1; n <= HISTORY_LIMIT + 5; n++) await ada.request('chat.send', { name: 'Ada', text: `m${n}` });
  const { messages } = await ada.request('chat.history', { limit: HISTORY_LIMIT });
  assert.equal(messages.length, HISTORY_LIMIT);
  assert.equal(messages[0]?.seq, 6);
  assert.equal(messages.at(-1)?.seq, HISTORY_LIMIT + 5);
});

test('empty or oversized fields are refused with invalid_payload naming each field', async () => {
  await using server = await startTestServer({ plugs: [chat] });
  using ada = connect<ChatApi>(server.wsUrl);
  await assert.rejects(ada.request('chat.send', { name: '  ', text: 'x'.repeat(501) }), (error: { code: string; issues?: { path: unknown[] }[] }) => {
    assert.equal(error.code, 'invalid_payload');
    assert.deepEqual(error.issues?.map((issue) => issue.path), [['name'], ['text']]);
    return true;
  });
  const { messages } = await ada.request('chat.history', {});
  assert.deepEqual(messages, []);
});

test('history and seq survive a hot swap of the plug', async () => {
  await using server = await startTestServer({ plugs: [chat] });
  using ada = connect<ChatApi>(server.wsUrl);
  await ada.request('chat.send', { name: 'Ada', text: 'before the swap' });
  // Installing the plug again is what the dev server does when chat.ts is saved.
  await server.server.loadPlug({ ...chat, version: 'edited' });
  const { messages } = await ada.request('chat.history', {});
  assert.deepEqual(messages.map((message) => message.text), ['before the swap']);
  assert.equal((await ada.request('chat.send', { name: 'Ada', text: 'after' })).seq, 2);
});
