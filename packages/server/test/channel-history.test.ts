// Channels with history: every message carries its stream position, and $subscribe recovers what a reader
// missed (exactly once, in order), or says it cannot; a late joiner can ask for the newest messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { MemoryHistory, MessageError, type History, type StreamPosition } from '@switchboard/server';
import { startTestServer } from '@switchboard/server/testing';
import { ErrorCode, type ChannelMessage, type SubscribeReply } from '@switchboard/protocol';
import { RawClient } from './helpers.ts';

const history = { channels: ['room.*'], maxPublications: 5 };

async function published(client: RawClient, channel: string, count: number): Promise<ChannelMessage[]> {
  const got: ChannelMessage[] = [];
  while (got.length < count) {
    const envelope = await client.next((e) => e.type === '$message' && (e.data as ChannelMessage).channel === channel);
    got.push(envelope.data as ChannelMessage);
  }
  return got;
}

test('messages on a channel with history carry epoch and consecutive offsets; other channels carry none', async () => {
  await using t = await startTestServer({ channels: { history } });
  await using reader = await RawClient.connect(t.wsUrl);
  const first = (await reader.request('$subscribe', { channel: 'room.1' })).data as SubscribeReply;
  assert.equal(first.position?.offset, 0);
  assert.equal(typeof first.position?.epoch, 'string');
  await reader.request('$subscribe', { channel: 'lobby' });
  for (let i = 1; i <= 3; i++) t.server.publish('room.1', 'say', { i });
  t.server.publish('lobby', 'say', { plain: true });
  const messages = await published(reader, 'room.1', 3);
  assert.deepEqual(messages.map((m) => [m.offset, m.epoch, m.data]), [1, 2, 3].map((i) => [i, first.position!.epoch, { i }]));
  const [plain] = await published(reader, 'lobby', 1);
  assert.deepEqual([plain!.offset, plain!.epoch], [undefined, undefined]);
});

test('since a position: the missed messages come in the reply, once and in order, then live ones follow', async () => {
  await using t = await startTestServer({ channels: { history } });
  await using reader = await RawClient.connect(t.wsUrl);
  const start = ((await reader.request('$subscribe', { channel: 'room.1' })).data as SubscribeReply).position!;
  t.server.publish('room.1', 'say', 1);
  const [seen] = await published(reader, 'room.1', 1);
  // The reader's link drops (a destroyed socket); meanwhile three more are published.
  t.dropConnections();
  await reader.waitClose();
  for (const n of [2, 3, 4]) t.server.publish('room.1', 'say', n);
  await using back = await RawClient.connect(t.wsUrl);
  const reply = (await back.request('$subscribe', { channel: 'room.1', since: { epoch: start.epoch, offset: seen!.offset } })).data as SubscribeReply;
  assert.equal(reply.recovered, true);
  assert.deepEqual(reply.publications?.map((m) => [m.offset, m.data, m.event, m.channel]), [
    [2, 2, 'say', 'room.1'],
    [3, 3, 'say', 'room.1'],
    [4, 4, 'say', 'room.1'],
  ]);
  assert.deepEqual(reply.position, { epoch: start.epoch, offset: 4 });
  t.server.publish('room.1', 'say', 5);
  assert.deepEqual((await published(back, 'room.1', 1)).map((m) => m.offset), [5]);
  // Nothing was missed: an empty page, still recovered.
  const again = (await back.request('$subscribe', { channel: 'room.1', since: { epoch: start.epoch, offset: 5 } })).data as SubscribeReply;
  assert.deepEqual([again.recovered, again.publications], [true, []]);
});

test('not recovered: history trimmed past the position, a position from another epoch, too many missed', async () => {
  await using t = await startTestServer({ channels: { history: { ...history, maxRecover: 3 } } });
  await using reader = await RawClient.connect(t.wsUrl);
  const start = ((await reader.request('$subscribe', { channel: 'room.1' })).data as SubscribeReply).position!;
  for (let n = 1; n <= 8; n++) t.server.publish('room.1', 'say', n); // maxPublications 5: 1–3 are gone
  await published(reader, 'room.1', 8);
  const trimmed = (await reader.request('$subscribe', { channel: 'room.1', since: { epoch: start.epoch, offset: 1 } })).data as SubscribeReply;
  assert.equal(trimmed.recovered, false);
  assert.equal(trimmed.publications, undefined);
  assert.deepEqual(trimmed.position, { epoch: start.epoch, offset: 8 });
  const foreign = (await reader.request('$subscribe', { channel: 'room.1', since: { epoch: 'another-life', offset: 7 } })).data as SubscribeReply;
  assert.equal(foreign.recovered, false);
  const tooMany = (await reader.request('$subscribe', { channel: 'room.1', since: { epoch: start.epoch, offset: 4 } })).data as SubscribeReply;
  assert.equal(tooMany.recovered, false, '4 missed, maxRecover 3');
  assert.deepEqual(tooMany.position, { epoch: start.epoch, offset: 8 });
  const justEnough = (await reader.request('$subscribe', { channel: 'room.1', since: { epoch: start.epoch, offset: 5 } })).data as SubscribeReply;
  assert.deepEqual(justEnough.publications?.map((m) => m.offset), [6, 7, 8]);
  const response = await fetch(`${t.url}/admin/metrics`);
  const metrics = (await response.json()) as { history: { recovered: number; reset: number; replayed: number } };
  assert.deepEqual(metrics.history, { recovered: 1, reset: 3, replayed: 3 });
});

test('a restart of the in-memory history changes the epoch: the old position is not recovered', async () => {
  await using t = await startTestServer({ channels: { history } });
  let reader = await RawClient.connect(t.wsUrl);
  const before = ((await reader.request('$subscribe', { channel: 'room.1' })).data as SubscribeReply).position!;
  t.server.publish('room.1', 'say', 1);
  await published(reader, 'room.1', 1);
  await t.restart();
  await reader.waitClose();
  reader = await RawClient.connect(t.wsUrl);
  try {
    const reply = (await reader.request('$subscribe', { channel: 'room.1', since: { epoch: before.epoch, offset: 1 } })).data as SubscribeReply;
    assert.equal(reply.recovered, false);
    assert.notEqual(reply.position?.epoch, before.epoch);
    assert.equal(reply.position?.offset, 0);
  } finally {
    await reader[Symbol.asyncDispose]();
  }
});

test('a late joiner asks for the newest messages; bad positions and counts are invalid payloads', async () => {
  await using t = await startTestServer({ channels: { history } });
  for (let n = 1; n <= 4; n++) t.server.publish('room.2', 'say', n);
  await using late = await RawClient.connect(t.wsUrl);
  const reply = (await late.request('$subscribe', { channel: 'room.2', last: 2 })).data as SubscribeReply;
  assert.deepEqual(reply.publications?.map((m) => m.data), [3, 4]);
  assert.equal(reply.recovered, undefined);
  for (const payload of [
    { channel: 'room.2', since: { epoch: 'e', offset: -1 } },
    { channel: 'room.2', since: { offset: 1 } },
    { channel: 'room.2', last: 0 },
    { channel: 'room.2', since: { epoch: 'e', offset: 1, extra: true } },
  ]) {
    assert.equal((await late.request('$subscribe', payload)).error?.code, 'invalid_payload', JSON.stringify(payload));
  }
  // A channel without history cannot recover: it says so rather than pretending.
  const plain = (await late.request('$subscribe', { channel: 'lobby', since: { epoch: 'e', offset: 3 } })).data as SubscribeReply;
  assert.deepEqual([plain.recovered, plain.position], [false, undefined]);
});

/**
 * A history back end that answers appends only when told (as Redis or a cluster's agent answers later), given
 * through the `history` option as a user's own back end would be: the memory history underneath, its answers held.
 */
class HeldHistory implements History {
  private readonly memory = new MemoryHistory();
  private held: (() => void)[] = [];
  private holding = true;

  append(stream: string, data: unknown): Promise<StreamPosition> {
    const position = this.memory.append(stream, data);
    if (!this.holding) return Promise.resolve(position);
    return new Promise((resolve) => this.held.push(() => resolve(position)));
  }

  since(stream: string, position: StreamPosition, options?: { limit?: number }) {
    return this.memory.since(stream, position, options);
  }

  latest(stream: string, n: number) {
    return this.memory.latest(stream, n);
  }

  position(stream: string) {
    return this.memory.position(stream);
  }

  trim(stream: string, keep: number) {
    return this.memory.trim(stream, keep);
  }

  remove(stream: string) {
    return this.memory.remove(stream);
  }

  close() {
    return this.memory.close();
  }

  /** Answers every held append, in order, and stops holding. */
  release(): void {
    this.holding = false;
    for (const answer of this.held.splice(0)) answer();
  }
}

test('a publisher faster than the history: past channels.history.maxPending a publish is refused (plug, $publish, HTTP); nothing accepted is lost', async () => {
  const SECRET = 'test-secret-that-is-at-least-32-characters-long';
  const ADMIN_TOKEN = 'admin-token-for-channel-backlog-tests';
  const held = new HeldHistory();
  await using t = await startTestServer({ history: held, auth: { secret: SECRET }, adminToken: ADMIN_TOKEN, channels: { history: { channels: ['room.*'], maxPending: 20 } } });
  const jwt = await new SignJWT({ grants: ['publish:room.*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  await using reader = await RawClient.connect(t.wsUrl, { headers: { authorization: `Bearer ${jwt}` } });
  await reader.request('$subscribe', { channel: 'room.1' });

  // A plug's loop: the first 20 wait for their place in the history, the rest are refused at once.
  const refusals: unknown[] = [];
  for (let i = 0; i < 50; i++) {
    try {
      t.server.publish(i % 2 === 0 ? 'room.1' : 'room.2', 'say', { i });
    } catch (error) {
      refusals.push(error);
    }
  }
  assert.equal(refusals.length, 30);
  const first = refusals[0] as MessageError;
  assert.ok(first instanceof MessageError);
  assert.equal(first.code, ErrorCode.rateLimited);
  assert.match(first.message, /20 messages \(\d+ bytes of JSON\) are waiting for their place in the history \(channels\.history\.maxPending 20\)/);
  assert.deepEqual(first.details, { channel: 'room.1', pending: 20, pendingBytes: 10 * '{"i":0}'.length + 10 * '{"i":10}'.length });

  // A client's $publish and an HTTP publish are refused alike while the backlog is full.
  const refused = await reader.request('$publish', { channel: 'room.1', event: 'say', data: { from: 'client' } });
  assert.equal(refused.error?.code, ErrorCode.rateLimited);
  const http = await fetch(`${t.url}/admin/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ channel: 'room.1', event: 'say', data: { from: 'http' } }),
  });
  assert.equal(http.status, 429);
  assert.equal(((await http.json()) as { error: { code: string } }).error.code, ErrorCode.rateLimited);
  // A channel without history does not wait, so it is not refused.
  assert.doesNotThrow(() => t.server.publish('lobby', 'say', {}));

  // Once the history answers, every accepted message is delivered, in order, with consecutive offsets.
  held.release();
  const messages = await published(reader, 'room.1', 10);
  assert.deepEqual(messages.map((m) => (m.data as { i: number }).i), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  assert.deepEqual(messages.map((m) => m.offset), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // And publishing works again, from a client too.
  assert.deepEqual((await reader.request('$publish', { channel: 'room.1', event: 'say', data: { i: 'after' } })).data, {});
  const [after] = await published(reader, 'room.1', 1);
  // Offset 11: none of the refused messages was appended.
  assert.deepEqual([after!.offset, after!.data], [11, { i: 'after' }]);
});

test('past channels.history.maxPendingBytes of waiting data a publish is refused too, however few the messages; the bytes are given back as they are delivered', async () => {
  const held = new HeldHistory();
  await using t = await startTestServer({ history: held, channels: { history: { channels: ['room.*'], maxPendingBytes: 1_000 } } });
  await using reader = await RawClient.connect(t.wsUrl);
  await reader.request('$subscribe', { channel: 'room.1' });
  const text = 'x'.repeat(390); // {"text":"x…x"} is 401 characters of JSON
  // 0, then 401, then 802 bytes wait: all three accepted; at 1,203 the fourth is refused.
  for (let i = 0; i < 3; i++) t.server.publish('room.1', 'say', { text });
  let refusal: unknown;
  try {
    t.server.publish('room.1', 'say', { text });
  } catch (error) {
    refusal = error;
  }
  assert.ok(refusal instanceof MessageError, 'the fourth publish is refused');
  assert.equal(refusal.code, ErrorCode.rateLimited);
  assert.match(refusal.message, /3 messages \(1203 bytes of JSON\) are waiting .*\(channels\.history\.maxPendingBytes 1000\)/);
  assert.deepEqual(refusal.details, { channel: 'room.1', pending: 3, pendingBytes: 1203 });
  // Small messages are refused alike while the bytes are over: the bound is on what waits, not on the message.
  assert.throws(() => t.server.publish('room.1', 'say', {}), (error: unknown) => error instanceof MessageError && error.code === ErrorCode.rateLimited);

  held.release();
  const messages = await published(reader, 'room.1', 3);
  assert.deepEqual(messages.map((m) => m.offset), [1, 2, 3]);
  // Delivered, they weigh nothing any more: the next one is accepted.
  t.server.publish('room.1', 'say', { text: 'after' });
  const [after] = await published(reader, 'room.1', 1);
  assert.deepEqual([after!.offset, after!.data], [4, { text: 'after' }]);
});
