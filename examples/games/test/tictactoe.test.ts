// Tic-tac-toe through the SDK on a real server: a game to a win and a rematch to a draw, every rule the room
// enforces, spectators, the lobby list, a player whose socket drops and who comes back to the current board,
// a player who leaves (a spectator takes the seat over), and a full room.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoomSession } from '@switchboard/client';
import { MAX_MEMBERS, outcome, type TicTacToeState } from '../plugs/tictactoe.ts';
import { failsWith, nextValue, player, startExampleServer, until } from './helpers.ts';

type Game = RoomSession<TicTacToeState>;

/** Plays `moves` in order, each by the session that owns it, and resolves with the last reply. */
async function play(moves: [Game, number][]): Promise<{ status: string; turn: string; winner: string | null }> {
  let reply: { status: string; turn: string; winner: string | null } | undefined;
  for (const [session, cell] of moves) reply = await session.send('move', { cell });
  assert.ok(reply);
  return reply;
}

test('the rules of the board: rows, columns and diagonals win; a full board without a line is a draw', () => {
  assert.deepEqual(outcome(['X', 'X', 'X', null, 'O', 'O', null, null, null]), { winner: 'X', line: [0, 1, 2] });
  assert.deepEqual(outcome(['O', 'X', 'X', null, 'O', 'X', null, null, 'O']), { winner: 'O', line: [0, 4, 8] });
  assert.deepEqual(outcome([null, 'X', 'O', null, 'X', 'O', null, 'X', null]), { winner: 'X', line: [1, 4, 7] });
  assert.equal(outcome(['X', 'O', 'X', 'X', 'O', 'O', 'O', 'X', 'X']), 'draw');
  assert.equal(outcome(['X', 'O', null, null, null, null, null, null, null]), undefined);
});

test('a game to a win, then a rematch to a draw: turns, taken cells and game over are refused; the spectator sees it all', async () => {
  await using t = await startExampleServer();
  using a = player(t);
  using b = player(t);
  using c = player(t);

  // The first member plays X, and cannot move alone.
  const x: Game = a.join<TicTacToeState>({ kind: 'tictactoe', create: true });
  await x.ready;
  assert.equal(x.state?.players.X, x.member);
  assert.equal(x.state?.status, 'waiting');
  await assert.rejects(x.send('move', { cell: 0 }), failsWith('waiting_for_opponent'));

  // The second plays O; the third watches.
  const o: Game = b.join<TicTacToeState>({ room: x.id! });
  await o.ready;
  assert.equal(o.state?.players.O, o.member);
  assert.equal(o.state?.status, 'playing');
  const watcher: Game = c.join<TicTacToeState>({ room: x.id! });
  await watcher.ready;
  assert.deepEqual(watcher.state?.spectators, [watcher.member]);
  await until(() => x.members.size === 3 && o.members.size === 3, 'the players see the spectator come in');

  // X starts; nobody else may move, nor play a taken cell, nor outside the board.
  await assert.rejects(o.send('move', { cell: 4 }), failsWith('not_your_turn'));
  await assert.rejects(watcher.send('move', { cell: 4 }), failsWith('spectator'));
  assert.deepEqual(await x.send('move', { cell: 0 }), { status: 'playing', turn: 'O', winner: null });
  await assert.rejects(x.send('move', { cell: 1 }), failsWith('not_your_turn'));
  await assert.rejects(o.send('move', { cell: 0 }), failsWith('cell_taken'));
  await assert.rejects(o.send('move', { cell: 9 }), failsWith('invalid_payload'));
  await assert.rejects(o.send('move', { cell: 1.5 }), failsWith('invalid_payload'));
  await assert.rejects(o.send('rematch', {}), failsWith('game_not_over'));

  // X takes the top row.
  const won = await play([
    [o, 3],
    [x, 1],
    [o, 4],
    [x, 2],
  ]);
  assert.deepEqual(won, { status: 'won', turn: 'X', winner: 'X' });
  await until(() => watcher.state?.status === 'won' && o.state?.status === 'won', 'everyone sees the win');
  assert.deepEqual(watcher.state?.board, ['X', 'X', 'X', 'O', 'O', null, null, null, null]);
  assert.deepEqual(watcher.state?.line, [0, 1, 2]);
  assert.deepEqual(watcher.state?.wins, { [x.member!]: 1 });
  assert.deepEqual(x.state, watcher.state);
  assert.deepEqual(o.state, watcher.state);
  await assert.rejects(o.send('move', { cell: 5 }), failsWith('game_over'));
  await assert.rejects(watcher.send('rematch', {}), failsWith('spectator'));

  // A rematch starts once both players asked; O opens the second round.
  assert.deepEqual(await x.send('rematch', {}), { started: false });
  await until(() => o.state?.rematch.includes('X') === true, 'O sees that X wants a rematch');
  assert.deepEqual(await o.send('rematch', {}), { started: true });
  await until(() => watcher.state?.round === 2, 'the spectator sees round 2');
  assert.deepEqual(watcher.state?.board, Array(9).fill(null));
  assert.equal(watcher.state?.turn, 'O');
  assert.equal(watcher.state?.status, 'playing');
  await assert.rejects(x.send('move', { cell: 4 }), failsWith('not_your_turn'));

  // A draw: the board fills up without a line.
  const drawn = await play([
    [o, 0],
    [x, 1],
    [o, 2],
    [x, 4],
    [o, 3],
    [x, 5],
    [o, 7],
    [x, 6],
    [o, 8],
  ]);
  assert.equal(drawn.status, 'draw');
  assert.equal(drawn.winner, null);
  await until(() => watcher.state?.status === 'draw', 'the spectator sees the draw');
  assert.equal(watcher.state?.draws, 1);
  assert.equal(watcher.state?.line, null);
  assert.deepEqual(watcher.state?.wins, { [x.member!]: 1 });
  await assert.rejects(x.send('move', { cell: 0 }), failsWith('game_over'));

  // Names show to everyone.
  await watcher.send('name', { name: '  Grace ' });
  await until(() => x.state?.names[watcher.member!] === 'Grace', 'the name reaches the players');
  await assert.rejects(watcher.send('name', { name: '' }), failsWith('invalid_payload'));
});

test('the lobby lists the games: open ones (a seat free) first, full ones after', async () => {
  await using t = await startExampleServer();
  using a = player(t);
  using b = player(t);
  using c = player(t);
  const full: Game = a.join<TicTacToeState>({ kind: 'tictactoe', create: true });
  await full.ready;
  await b.join<TicTacToeState>({ room: full.id! }).ready;
  const open: Game = c.join<TicTacToeState>({ kind: 'tictactoe', create: true });
  await open.ready;
  const { games } = await a.request('tictactoe.games', {});
  assert.deepEqual(
    games.map((game) => [game.id, game.players, game.spectators, game.open]),
    [
      [open.id, 1, 0, true],
      [full.id, 2, 0, false],
    ],
  );
});

test('a player whose socket drops takes the seat back and sees the move made meanwhile', async () => {
  await using t = await startExampleServer();
  using a = player(t);
  using b = player(t);
  const x: Game = a.join<TicTacToeState>({ kind: 'tictactoe', create: true });
  await x.ready;
  const o: Game = b.join<TicTacToeState>({ room: x.id! });
  await o.ready;
  await x.send('move', { cell: 4 });
  const member = x.member!;

  // X's socket is destroyed (as by a network failure); O sees X away, then moves.
  const away = nextValue<{ action: string; member: { id: string } }>((callback) => o.on('member', callback), (change) => change.action === 'away');
  const back = nextValue<{ rejoined: boolean; recovered: boolean }>((callback) => x.on('joined', callback), undefined, 10_000);
  t.dropConnections((connection) => connection.id === a.connectionId);
  assert.equal((await away).member.id, member);
  await o.send('move', { cell: 0 });

  // X comes back to the same seat with the current board, and plays on.
  assert.equal((await back).rejoined, true);
  await until(() => x.state?.board[0] === 'O', 'X sees the move made while it was away');
  assert.equal(x.member, member);
  assert.equal(x.state?.players.X, member);
  assert.equal(x.state?.turn, 'X');
  assert.deepEqual(x.state, o.state);
  assert.deepEqual(await x.send('move', { cell: 8 }), { status: 'playing', turn: 'O', winner: null });
  await until(() => o.state?.board[8] === 'X', 'O sees the move');
});

test('a player who leaves: the first spectator takes the seat; with nobody watching the round waits; a full room refuses', async () => {
  await using t = await startExampleServer();
  using a = player(t);
  using b = player(t);
  using c = player(t);
  using d = player(t);
  const x: Game = a.join<TicTacToeState>({ kind: 'tictactoe', create: true });
  await x.ready;
  const o: Game = b.join<TicTacToeState>({ room: x.id! });
  await o.ready;
  const first: Game = c.join<TicTacToeState>({ room: x.id! });
  await first.ready;
  const second: Game = d.join<TicTacToeState>({ room: x.id! });
  await second.ready;
  await x.send('move', { cell: 0 });

  // O leaves mid-round: the first spectator plays O from here, on the same board.
  await o.leave();
  await until(() => x.state?.players.O === first.member, 'the first spectator takes the O seat');
  assert.deepEqual(x.state?.spectators, [second.member]);
  assert.equal(x.state?.status, 'playing');
  await first.send('move', { cell: 4 });
  await assert.rejects(second.send('move', { cell: 8 }), failsWith('spectator'));

  // With nobody left to take over, the round waits; the next member to come in takes the seat.
  await second.leave();
  await first.leave();
  await until(() => x.state?.status === 'waiting' && x.state.players.O === null, 'the round waits for a player');
  await assert.rejects(x.send('move', { cell: 8 }), failsWith('waiting_for_opponent'));
  using e = player(t);
  const newcomer: Game = e.join<TicTacToeState>({ room: x.id! });
  await newcomer.ready;
  assert.equal(newcomer.state?.players.O, newcomer.member);
  assert.equal(newcomer.state?.status, 'playing');
  assert.deepEqual(newcomer.state?.board, ['X', null, null, null, 'O', null, null, null, null]);

  // Ten members at most.
  const crowd = Array.from({ length: MAX_MEMBERS - 2 }, () => player(t));
  try {
    for (const client of crowd) await client.join({ room: x.id! }).ready;
    using late = player(t);
    await assert.rejects(late.join({ room: x.id! }).ready, failsWith('room_full'));
  } finally {
    for (const client of crowd) client.close();
  }
});
