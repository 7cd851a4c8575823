// The tic-tac-toe page: the lobby (`tictactoe.games`), joining a game (a free seat plays, otherwise you watch),
// the board kept live from the room's state, moves and rematches sent to the room, and who is in it.
import { $, client, displayName, nameForm, savedName, setRoomInAddress, showConnection, showError, showNotice } from './common.js';

const ui = {
  status: $('status'),
  nameForm: $('name-form'),
  name: $('name'),
  lobby: $('lobby'),
  quickPlay: $('quick-play'),
  newGame: $('new-game'),
  games: $('games'),
  noGames: $('no-games'),
  game: $('game'),
  turn: $('turn'),
  board: $('board'),
  cells: [...document.querySelectorAll('#board button')],
  result: $('result'),
  rematch: $('rematch'),
  leave: $('leave'),
  share: $('share'),
  people: $('people'),
  players: $('players'),
  spectators: $('spectators'),
  spectatorCount: $('spectator-count'),
  noSpectators: $('no-spectators'),
  round: $('round'),
  score: $('score'),
};

/** How often the lobby asks for the list of games while it is shown. */
const LOBBY_REFRESH_MS = 3000;

/** The game joined (a RoomSession), or undefined in the lobby. */
let game;
let lobbyTimer;

showConnection(ui.status, (state) => {
  ui.quickPlay.disabled = ui.newGame.disabled = state !== 'open';
  if (state === 'open' && game === undefined) void refreshGames();
});

nameForm(ui.nameForm, ui.name, (name) => {
  if (game?.active) game.send('name', { name }).catch(showError);
});

// ---- the lobby

function showLobby() {
  game = undefined;
  setRoomInAddress(undefined);
  ui.game.hidden = ui.people.hidden = true;
  ui.lobby.hidden = false;
  clearInterval(lobbyTimer);
  lobbyTimer = setInterval(() => void refreshGames(), LOBBY_REFRESH_MS);
  void refreshGames();
}

async function refreshGames() {
  if (client.state !== 'open' || game !== undefined) return;
  try {
    const { games } = await client.request('tictactoe.games', {});
    renderGames(games);
  } catch (error) {
    showError(error);
  }
}

function renderGames(games) {
  ui.noGames.hidden = games.length > 0;
  ui.games.replaceChildren(
    ...games.map((summary) => {
      const item = document.createElement('li');
      item.dataset.room = summary.id;
      item.dataset.open = String(summary.open);
      const label = document.createElement('span');
      const watching = summary.spectators > 0 ? `, ${summary.spectators} watching` : '';
      label.textContent = `Game ${summary.id.slice(0, 6)} · ${summary.open ? 'waiting for a player' : 'playing'}${watching}`;
      const join = document.createElement('button');
      join.type = 'button';
      join.textContent = summary.open ? 'Join' : 'Watch';
      join.className = summary.open ? '' : 'secondary';
      join.addEventListener('click', () => void enter({ room: summary.id }));
      item.append(label, join);
      return item;
    }),
  );
}

ui.newGame.addEventListener('click', () => void enter({ kind: 'tictactoe', create: true }));

// Play: the free seat of a waiting game, or a new game when none waits.
ui.quickPlay.addEventListener('click', async () => {
  try {
    const { games } = await client.request('tictactoe.games', {});
    const waiting = games.find((summary) => summary.open);
    await enter(waiting ? { room: waiting.id } : { kind: 'tictactoe', create: true });
  } catch (error) {
    showError(error);
  }
});

// ---- a game

/** Joins `target` (`{ room }` or `{ kind, create }`) and shows it; back to the lobby when that fails. */
async function enter(target) {
  clearInterval(lobbyTimer);
  const session = client.join(target);
  game = session;
  session.on('state', (state) => session === game && render(state));
  session.on('member', () => session === game && render(session.state));
  session.on('joined', ({ rejoined }) => session === game && rejoined && showNotice('Back in the game.'));
  session.on('closed', ({ reason, message }) => {
    if (session !== game) return;
    showNotice(`The game ended (${message ?? reason}).`);
    showLobby();
  });
  try {
    await session.ready;
  } catch (error) {
    if (session !== game) return;
    showError(error);
    showLobby();
    return;
  }
  if (session !== game) return;
  setRoomInAddress(session.id);
  ui.share.value = location.href;
  ui.lobby.hidden = true;
  ui.game.hidden = ui.people.hidden = false;
  const name = savedName();
  if (name) session.send('name', { name }).catch(showError);
  render(session.state);
}

ui.leave.addEventListener('click', async () => {
  const leaving = game;
  showLobby();
  await leaving?.leave();
});

for (const cell of ui.cells) {
  cell.addEventListener('click', () => {
    // The server checks every rule; the page only keeps the buttons that would be refused disabled.
    game?.send('move', { cell: Number(cell.dataset.cell) }).catch(showError);
  });
}

ui.rematch.addEventListener('click', () => {
  game?.send('rematch', {}).catch(showError);
});

/** This member's mark, or undefined while watching. */
function myMark(state) {
  return ['X', 'O'].find((mark) => state.players[mark] === game.member);
}

function render(state) {
  if (state === undefined || game === undefined) return;
  const mine = myMark(state);
  const over = state.status === 'won' || state.status === 'draw';
  Object.assign(ui.game.dataset, {
    room: game.id,
    role: mine ?? 'spectator',
    status: state.status,
    turn: state.turn,
    winner: state.winner ?? '',
    round: String(state.round),
  });
  const myMove = mine !== undefined && state.status === 'playing' && state.turn === mine;
  state.board.forEach((mark, index) => {
    const cell = ui.cells[index];
    cell.dataset.mark = mark ?? '';
    cell.textContent = mark ?? '';
    cell.disabled = !myMove || mark !== null;
    cell.classList.toggle('win', state.line?.includes(index) === true);
    cell.classList.toggle('last', state.lastMove?.cell === index);
  });
  ui.turn.textContent = turnText(state, mine);
  ui.result.hidden = !over;
  ui.result.textContent = state.status === 'won' ? `${state.winner} wins!` : state.status === 'draw' ? 'Draw.' : '';
  ui.rematch.hidden = !over || mine === undefined;
  const asked = mine !== undefined && state.rematch.includes(mine);
  ui.rematch.disabled = asked;
  ui.rematch.textContent = asked ? 'Waiting for the other player…' : state.rematch.length > 0 ? 'Accept the rematch' : 'Rematch';
  renderPeople(state);
}

function turnText(state, mine) {
  const name = (mark) => (state.players[mark] === null ? mark : `${displayName(state.names, state.players[mark])} (${mark})`);
  switch (state.status) {
    case 'waiting':
      return 'Waiting for an opponent: send them the link below.';
    case 'playing':
      if (mine === undefined) return `${name(state.turn)} to move.`;
      return state.turn === mine ? `Your move (${mine}).` : `Waiting for ${name(state.turn)}…`;
    case 'won':
      return mine === undefined ? `${name(state.winner)} won.` : state.winner === mine ? 'You won!' : 'You lost.';
    case 'draw':
      return 'A draw: nobody got three in a row.';
    default:
      return '';
  }
}

function renderPeople(state) {
  const person = (id) => {
    const away = game.members.get(id)?.present === false;
    return `${displayName(state.names, id)}${id === game.member ? ' (you)' : ''}${away ? ' · away' : ''}`;
  };
  for (const item of ui.players.children) {
    const id = state.players[item.dataset.mark];
    item.querySelector('.who').textContent = id === null ? 'free seat' : person(id);
    item.dataset.member = id ?? '';
  }
  ui.spectators.replaceChildren(
    ...state.spectators.map((id) => {
      const item = document.createElement('li');
      item.dataset.member = id;
      item.textContent = person(id);
      return item;
    }),
  );
  ui.noSpectators.hidden = state.spectators.length > 0;
  ui.spectatorCount.textContent = state.spectators.length > 0 ? String(state.spectators.length) : '';
  ui.round.textContent = `round ${state.round}`;
  const wins = (mark) => (state.players[mark] === null ? 0 : (state.wins[state.players[mark]] ?? 0));
  ui.score.textContent = `X ${wins('X')} · O ${wins('O')} · draws ${state.draws}`;
}

// ---- start: a game from the address, or the lobby

const room = new URLSearchParams(location.search).get('room');
if (room) void enter({ room });
else showLobby();

// Closing or reloading the page gives the seat up at once; otherwise the room would hold it for a reconnect
// that never comes (a reload joins afresh: the SDK keeps its seat only while the page lives).
window.addEventListener('pagehide', () => void game?.leave());
