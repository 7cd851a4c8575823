// The whiteboard through the SDK on a real server: two members on one board see each other's notes added,
// moved, edited and removed; bad notes are refused; clearing tells the others; a board holds MAX_NOTES.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoomSession } from '@switchboard/client';
import { MAX_NOTES, MAX_TEXT, type BoardState } from '../plugs/board.ts';
import { failsWith, nextValue, player, startExampleServer, until } from './helpers.ts';

type Board = RoomSession<BoardState>;

test('two members share a board: notes added, moved, edited and removed reach both; bad input is refused', async () => {
  await using t = await startExampleServer();
  using a = player(t);
  using b = player(t);
  // Both join the shared board: the first creates it, the second gets the same one.
  const ada: Board = a.join<BoardState>('board');
  await ada.ready;
  const bob: Board = b.join<BoardState>('board');
  await bob.ready;
  assert.equal(bob.id, ada.id);
  assert.equal(ada.state?.title, 'Shared board');
  await until(() => ada.members.size === 2, 'Ada sees Bob come in');

  const { id } = await ada.send<{ id: string }>('add', { text: 'Ship it', x: 0.1, y: 0.2 });
  await until(() => bob.state?.notes[id] !== undefined, 'Bob sees the note');
  assert.deepEqual(bob.state?.notes[id], { id, text: 'Ship it', color: 'yellow', x: 0.1, y: 0.2, z: 1, author: ada.member });

  const second = await bob.send<{ id: string }>('add', { text: 'Write the docs', color: 'blue', x: 0.5, y: 0.5 });
  await bob.send('move', { id, x: 0.7, y: 0.8 });
  await until(() => ada.state?.notes[id]?.x === 0.7, 'Ada sees the move');
  const moved = ada.state!.notes[id]!;
  assert.equal(moved.y, 0.8);
  assert.ok(moved.z > ada.state!.notes[second.id]!.z, 'a moved note goes on top');

  await ada.send('edit', { id: second.id, text: 'Write the README', color: 'pink' });
  await until(() => bob.state?.notes[second.id]?.text === 'Write the README', 'Bob sees the edit');
  assert.equal(bob.state?.notes[second.id]?.color, 'pink');

  await bob.send('remove', { id });
  await until(() => ada.state?.notes[id] === undefined, 'Ada sees the note go');
  assert.deepEqual(Object.keys(ada.state!.notes), [second.id]);

  // Every note is checked: its text, its place, its colour, its keys; and it must exist.
  await assert.rejects(ada.send('add', { text: '   ', x: 0, y: 0 }), failsWith('invalid_payload'));
  await assert.rejects(ada.send('add', { text: 'x'.repeat(MAX_TEXT + 1), x: 0, y: 0 }), failsWith('invalid_payload'));
  await assert.rejects(ada.send('add', { text: 'off the board', x: 1.5, y: 0 }), failsWith('invalid_payload'));
  await assert.rejects(ada.send('add', { text: 'hi', color: 'purple', x: 0, y: 0 }), failsWith('invalid_payload'));
  await assert.rejects(ada.send('add', { text: 'hi', x: 0, y: 0, author: 'someone-else' }), failsWith('invalid_payload'));
  await assert.rejects(ada.send('move', { id, x: 0, y: 0 }), failsWith('no_such_note'));
  await assert.rejects(ada.send('edit', { id: 'constructor', text: 'x' }), failsWith('no_such_note'));
  await assert.rejects(ada.send('scribble', {}), failsWith('unknown_type'));

  // Names, and clearing: the others are told who cleared the board.
  await ada.send('name', { name: 'Ada' });
  await until(() => bob.state?.names[ada.member!] === 'Ada', 'Bob sees her name');
  const cleared = nextValue<[string, unknown]>((callback) => bob.on('message', (type, data) => callback([type, data])));
  assert.deepEqual(await ada.send('clear', {}), { removed: 1 });
  assert.deepEqual(await cleared, ['cleared', { by: ada.member, removed: 1 }]);
  await until(() => Object.keys(bob.state?.notes ?? { pending: true }).length === 0, 'Bob sees an empty board');
});

test('a new board with its own title; a board holds at most MAX_NOTES notes', async () => {
  // Hundreds of messages in a moment: the per-connection rate limit would (rightly) slow a page doing that.
  await using t = await startExampleServer({ limits: { rateLimit: { messagesPerSecond: 0 } } });
  using a = player(t);
  const mine: Board = a.join<BoardState>({ kind: 'board', create: true, options: { title: 'Retro' } });
  await mine.ready;
  assert.equal(mine.state?.title, 'Retro');
  await assert.rejects(a.join({ kind: 'board', create: true, options: { title: '' } }).ready, failsWith('invalid_payload'));
  // In batches: a connection has at most 64 requests in flight.
  for (let start = 0; start < MAX_NOTES; start += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, k) => start + k).map((i) => mine.send('add', { text: `note ${i}`, x: (i % 25) / 25, y: Math.floor(i / 25) / 20 })));
  }
  await assert.rejects(mine.send('add', { text: 'one too many', x: 0, y: 0 }), failsWith('board_full'));
  await until(() => Object.keys(mine.state?.notes ?? {}).length === MAX_NOTES, 'every note arrived');
  const first = Object.keys(mine.state!.notes)[0]!;
  await mine.send('remove', { id: first });
  assert.deepEqual(await mine.send('add', { text: 'room again', x: 0, y: 0 }), { id: `n${MAX_NOTES + 1}` });
});
