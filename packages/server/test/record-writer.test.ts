// The batches that cross to the recorder's writer thread: packed into one string and typed arrays, unpacked
// into the same jobs, every field kept or left absent as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packJobs, unpackJobs, type Job } from '../src/observe/record-writer.ts';

test('a packed batch unpacks into the same jobs: every field, absent ones absent, in order, after crossing to a thread', () => {
  const jobs: Job[] = [
    { kind: 'open', record: { id: 'c1', node: 'n1', pid: 7, remoteAddress: '127.0.0.1', userAgent: 'ua', protocol: 'switchboard.v1.json', codec: 'json', connectedAt: 1 } },
    { kind: 'audit', entry: { at: 2, type: 'auth.failed', node: 'n1' } },
    {
      kind: 'audit',
      entry: {
        at: 3.5,
        type: 'message.in',
        node: 'n1',
        identityId: 'ünïcode 👩‍🚀',
        connectionId: 'c1',
        channel: 'room:1',
        room: 'r',
        resource: 'todos/1',
        messageType: 'chat.send',
        size: 64,
        outcome: 'ok',
        data: { note: 'kept as it is' },
        frame: '{"type":"chat.send","id":1,"data":{"text":"👋 \\"hi\\""}}',
        reply: { at: 4, size: 38, outcome: 'bad_input', frame: '{"type":"chat.send","id":1,"error":{"code":"bad_input"}}', data: { extra: [1, 2] } },
      },
    },
    { kind: 'audit', entry: { at: 5, type: 'message.fanout', node: 'n1', messageType: 'news', size: 0, recipients: 0, outcome: 'ok', frame: '' } },
    { kind: 'audit', entry: { at: 6, type: 'message.in', node: 'n1', connectionId: 'c1', messageType: 'x', size: 10, outcome: 'ok', reply: { at: 7, size: 5, outcome: 'ok' } } },
    { kind: 'close', id: 'c1', close: { code: 1000, reason: '', bytesIn: 1, bytesOut: 2, messagesIn: 3, messagesOut: 4, closedAt: 8 } },
  ];
  const packed = packJobs(jobs);
  assert.deepEqual(unpackJobs(packed), jobs);
  // What the worker gets: a structured clone, its typed arrays moved.
  const moved = structuredClone(packed, { transfer: [packed.tags.buffer, packed.lengths.buffer, packed.numbers.buffer] as ArrayBuffer[] });
  assert.deepEqual(unpackJobs(moved), jobs);
  assert.deepEqual(unpackJobs(packJobs([])), []);
});

test('a large batch is packed into several strings, none much longer than the rest, and unpacks whole', () => {
  const jobs: Job[] = Array.from({ length: 2_000 }, (_, i) => ({
    kind: 'audit',
    entry: {
      at: i,
      type: 'message.in',
      node: 'n1',
      connectionId: `c${i % 7}`,
      messageType: i % 5 === 0 ? '' : 'chat.send',
      outcome: 'ok',
      frame: `{"type":"chat.send","id":${i},"data":{"text":"${'x'.repeat(i % 300)}"}}`,
      reply: { at: i + 1, size: 10, outcome: 'ok', frame: i % 3 === 0 ? '' : `{"id":${i}}` },
    },
  }));
  const packed = packJobs(jobs);
  assert.ok(packed.text.length > 1, `${packed.text.length} strings`);
  // Each under what V8 keeps in its large-object space (~128 KiB), so that building and copying them stays cheap.
  assert.ok(Math.max(...packed.text.map((text) => text.length)) < 20_000, 'no string is much over 16,384 characters');
  assert.deepEqual(unpackJobs(structuredClone(packed)), jobs);
});
