// Tic-tac-toe as a room: the first two members play X and O, turn by turn, with every rule checked on the
// server; later members watch. `tictactoe.games` lists the games running, for the page's lobby.
import { definePlug, defineRoom, MessageError, z, type RoomMember } from '@switchboard/server';

export type Mark = 'X' | 'O';
export const MARKS: readonly Mark[] = ['X', 'O'];
/** A cell of the board: empty, or the mark played there. */
export type Cell = Mark | null;
/**
 * `waiting`: a seat is free (a new game, or a player left and nobody was watching to take over);
 * `playing`: both seats taken, `turn` moves; `won` / `draw`: the round is over, `rematch` starts the next one.
 */
export type GameStatus = 'waiting' | 'playing' | 'won' | 'draw';

/** What every member sees: the whole game (nothing is hidden in tic-tac-toe). */
export interface TicTacToeState {
  /** Nine cells, row by row: 0 1 2 / 3 4 5 / 6 7 8. */
  board: Cell[];
  status: GameStatus;
  /** Whose move it is (while `playing`; the mark that would move next otherwise). */
  turn: Mark;
  /** The winner of this round, and the three cells that won it. */
  winner: Mark | null;
  line: number[] | null;
  /** The member id in each seat; null while it is free. */
  players: Record<Mark, string | null>;
  /** The members watching, in the order they came: the first of them takes a seat a player gives up. */
  spectators: string[];
  /** Display names members chose (`name`), by member id; the page shows a short id for the others. */
  names: Record<string, string>;
  /** The players who asked for another round since this one ended. */
  rematch: Mark[];
  /** 1 for the first game; each rematch adds one. X starts odd rounds, O even ones. */
  round: number;
  /** Rounds won, by member id, and rounds drawn, in this room. */
  wins: Record<string, number>;
  draws: number;
  /** The last move, for the page to highlight. */
  lastMove: { cell: number; mark: Mark } | null;
}

/** The codes the room's messages refuse with (besides the server's own, such as `invalid_payload`). */
export const TicTacToeErrorCode = {
  /** A spectator tried to move or ask for a rematch. */
  spectator: 'spectator',
  /** It is the other player's move. */
  notYourTurn: 'not_your_turn',
  /** The cell has a mark already. */
  cellTaken: 'cell_taken',
  /** The round is over (won or drawn): ask for a `rematch`. */
  gameOver: 'game_over',
  /** Only one seat is taken: there is nobody to play against yet. */
  waitingForOpponent: 'waiting_for_opponent',
  /** A rematch was asked for while the round is still being played. */
  gameNotOver: 'game_not_over',
} as const;
export type TicTacToeErrorCode = (typeof TicTacToeErrorCode)[keyof typeof TicTacToeErrorCode];

/** Members at most: two players and eight spectators. */
export const MAX_MEMBERS = 10;

/** The eight lines that win: three rows, three columns, two diagonals. */
export const LINES: readonly (readonly [number, number, number])[] = [
  [0, 1, 2],
  [3, 4, 5],
  [6, 7, 8],
  [0, 3, 6],
  [1, 4, 7],
  [2, 5, 8],
  [0, 4, 8],
  [2, 4, 6],
];

/**
 * How a board stands: a winner with its line, a draw (full, no line), or undefined while it is still open.
 *
 * @example
 * outcome(['X', 'X', 'X', null, 'O', 'O', null, null, null]) // { winner: 'X', line: [0, 1, 2] }
 */
export function outcome(board: readonly Cell[]): { winner: Mark; line: number[] } | 'draw' | undefined {
  for (const line of LINES) {
    const [a, b, c] = line;
    const mark = board[a];
    if (mark && board[b] === mark && board[c] === mark) return { winner: mark, line: [...line] };
  }
  return board.every((cell) => cell !== null) ? 'draw' : undefined;
}

/** The mark a member plays, or undefined for a spectator. */
export function markOf(state: TicTacToeState, memberId: string): Mark | undefined {
  return MARKS.find((mark) => state.players[mark] === memberId);
}

function other(mark: Mark): Mark {
  return mark === 'X' ? 'O' : 'X';
}

/** The mark that opens a round: X in odd rounds, O in even ones, so that each player starts in turn. */
function starter(round: number): Mark {
  return round % 2 === 1 ? 'X' : 'O';
}

function newGame(): TicTacToeState {
  return {
    board: Array<Cell>(9).fill(null),
    status: 'waiting',
    turn: 'X',
    winner: null,
    line: null,
    players: { X: null, O: null },
    spectators: [],
    names: {},
    rematch: [],
    round: 1,
    wins: {},
    draws: 0,
    lastMove: null,
  };
}

/** A free seat goes to `memberId`; with both seats taken, an unfinished round goes on (or starts). */
function seat(state: TicTacToeState, memberId: string, mark: Mark): void {
  state.players[mark] = memberId;
  if (state.status === 'waiting' && state.players.X !== null && state.players.O !== null) state.status = 'playing';
}

/** The mark of the sender, or a refusal: spectators do not play. */
function playerMark(state: TicTacToeState, member: RoomMember): Mark {
  const mark = markOf(state, member.id);
  if (mark === undefined) throw new MessageError(TicTacToeErrorCode.spectator, 'spectators watch: only the two players move');
  return mark;
}

/** The room kind `tictactoe`. */
export const tictactoe = defineRoom({
  description: 'Tic-tac-toe: two players, X and O, turn by turn; everyone else watches',
  access: 'public',
  maxMembers: MAX_MEMBERS,
  // A player whose connection drops keeps their seat this long (the SDK takes it back on reconnect).
  seatHoldMs: 20_000,
  emptyTimeoutMs: 60_000,
  create: (): TicTacToeState => newGame(),
  onJoin(member, ctx) {
    if (ctx.rejoined) return;
    const free = MARKS.find((mark) => ctx.state.players[mark] === null);
    if (free !== undefined) seat(ctx.state, member.id, free);
    else ctx.state.spectators.push(member.id);
  },
  onLeave(member, ctx) {
    const state = ctx.state;
    delete state.names[member.id];
    state.spectators = state.spectators.filter((id) => id !== member.id);
    const mark = markOf(state, member.id);
    if (mark === undefined) return;
    state.players[mark] = null;
    state.rematch = state.rematch.filter((asked) => asked !== mark);
    // The first spectator takes the seat over, mid-round; with nobody watching the round waits for a player.
    const next = state.spectators.shift();
    if (next !== undefined) {
      seat(state, next, mark);
      return;
    }
    if (state.status === 'playing') state.status = 'waiting';
  },
  messages: {
    move: {
      description: 'Puts your mark in an empty cell (0 to 8, row by row) when it is your turn',
      input: z.object({ cell: z.number().int().min(0).max(8) }),
      handler({ cell }, ctx) {
        const state = ctx.state;
        const mark = playerMark(state, ctx.member);
        if (state.status === 'won' || state.status === 'draw') throw new MessageError(TicTacToeErrorCode.gameOver, 'this round is over: ask for a rematch');
        if (state.status === 'waiting') throw new MessageError(TicTacToeErrorCode.waitingForOpponent, 'waiting for an opponent to take the other seat');
        if (state.turn !== mark) throw new MessageError(TicTacToeErrorCode.notYourTurn, `it is ${state.turn}'s move`);
        if (state.board[cell] !== null) throw new MessageError(TicTacToeErrorCode.cellTaken, `cell ${cell} is taken`);
        state.board[cell] = mark;
        state.lastMove = { cell, mark };
        const result = outcome(state.board);
        if (result === 'draw') {
          state.status = 'draw';
          state.draws++;
        } else if (result !== undefined) {
          state.status = 'won';
          state.winner = result.winner;
          state.line = result.line;
          const winner = state.players[result.winner]!;
          state.wins[winner] = (state.wins[winner] ?? 0) + 1;
        } else {
          state.turn = other(mark);
        }
        return { status: state.status, turn: state.turn, winner: state.winner };
      },
    },
    rematch: {
      description: 'Asks for another round once this one is over; it starts when both players asked',
      input: z.object({}),
      handler(_data, ctx) {
        const state = ctx.state;
        const mark = playerMark(state, ctx.member);
        if (state.status !== 'won' && state.status !== 'draw') throw new MessageError(TicTacToeErrorCode.gameNotOver, 'the round is still being played');
        if (!state.rematch.includes(mark)) state.rematch.push(mark);
        const bothAsked = MARKS.every((each) => state.rematch.includes(each) && state.players[each] !== null);
        if (!bothAsked) return { started: false };
        state.round++;
        state.board = Array<Cell>(9).fill(null);
        state.status = 'playing';
        state.turn = starter(state.round);
        state.winner = null;
        state.line = null;
        state.rematch = [];
        state.lastMove = null;
        return { started: true };
      },
    },
    name: {
      description: 'Sets the name the other members see for you',
      input: z.object({ name: z.string().trim().min(1).max(32) }),
      handler({ name }, ctx) {
        ctx.state.names[ctx.member.id] = name;
        return { name };
      },
    },
  },
});

/** A game as the lobby lists it. */
export const gameSummarySchema = z.object({
  id: z.string(),
  /** Seats taken (the first two members play). */
  players: z.number().int(),
  spectators: z.number().int(),
  /** Whether a seat is free: joining it plays, otherwise joining watches. */
  open: z.boolean(),
  createdAt: z.string(),
});
export type GameSummary = z.output<typeof gameSummarySchema>;

export default definePlug({
  name: 'tictactoe',
  rooms: { tictactoe },
  messages: {
    'tictactoe.games': {
      description: 'The tic-tac-toe games running, newest first: those with a free seat, then the others',
      input: z.object({}),
      output: z.object({ games: z.array(gameSummarySchema) }),
      handler(_data, ctx) {
        // A seat a player gives up goes to the first spectator, so the first two members are always the players.
        const games = ctx.server
          .rooms()
          .filter((room) => room.kind === 'tictactoe')
          .map((room) => ({
            id: room.id,
            players: Math.min(room.members.length, 2),
            spectators: Math.max(room.members.length - 2, 0),
            open: room.members.length < 2,
            createdAt: room.createdAt,
          }))
          .sort((a, b) => Number(b.open) - Number(a.open) || b.createdAt.localeCompare(a.createdAt));
        return { games };
      },
    },
  },
});
