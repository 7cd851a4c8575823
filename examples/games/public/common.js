// What the game pages share: the connection (the SDK from /switchboard.js), its state badge, the name you
// play under, members' names, notices, and errors in words.
import { connect, ErrorCode } from '/switchboard.js';

export const $ = (id) => document.getElementById(id);

export const client = connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
// Exposed so the client can be poked at from the browser console while developing.
window.games = { client };

/** How long a notice or an error stays up, unless the next one replaces it. */
const NOTICE_MS = 6000;
const NAME_KEY = 'games.name';
const STATE_LABELS = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'offline' };

/** Keeps the badge `element` in step with the connection; `onChange` runs after every change too. */
export function showConnection(element, onChange = () => {}) {
  const show = (state) => {
    element.dataset.state = state;
    element.textContent = STATE_LABELS[state] ?? state;
    onChange(state);
  };
  show(client.state);
  client.events.on('state', ({ state }) => show(state));
}

// ---- names: no sign-in here, so a name is just what you type, kept in this browser

/** The name saved in this browser, or '' for none. */
export function savedName() {
  return localStorage.getItem(NAME_KEY) ?? '';
}

/**
 * Wires the name form: shows the saved name, saves a new one and hands it to `onName` (which tells the room).
 *
 * @example
 * nameForm($('name-form'), $('name'), (name) => room?.send('name', { name }));
 */
export function nameForm(form, input, onName) {
  input.value = savedName();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (name === '') return;
    localStorage.setItem(NAME_KEY, name);
    onName(name);
  });
}

/** A member as people see it: the name they chose, or "Guest" and a few letters of their member id. */
export function displayName(names, memberId) {
  const chosen = names?.[memberId];
  if (chosen) return chosen;
  return `Guest ${memberId.replace(/^guest-/, '').slice(0, 4)}`;
}

/** Keeps `?room=<id>` in the address, so the page can be shared and reloaded; undefined takes it out. */
export function setRoomInAddress(id) {
  const url = new URL(location.href);
  if (id === undefined) url.searchParams.delete('room');
  else url.searchParams.set('room', id);
  history.replaceState(null, '', url);
}

// ---- notices and errors

const toastTimers = new Map();

function toast(element, text) {
  clearTimeout(toastTimers.get(element));
  element.textContent = text;
  element.hidden = false;
  toastTimers.set(element, setTimeout(() => (element.hidden = true), NOTICE_MS));
}

export function showNotice(text) {
  toast($('notice'), text);
}

export function showError(error) {
  toast($('error'), errorText(error));
}

/** Sentences for the codes the pages may meet: the server's, and the rooms' own. */
const WORDS = {
  // tictactoe (plugs/tictactoe.ts)
  not_your_turn: 'Not your move yet: wait for the other player.',
  cell_taken: 'That cell is taken.',
  game_over: 'This round is over: ask for a rematch.',
  spectator: 'You are watching this game: only the two players move.',
  waiting_for_opponent: 'Waiting for an opponent: share the link to this game.',
  game_not_over: 'Finish this round first.',
  // board (plugs/board.ts)
  board_full: 'The board is full: remove some notes first.',
  no_such_note: 'That note is gone: someone removed it.',
  // the server's
  [ErrorCode.roomFull]: 'That room is full.',
  [ErrorCode.unknownRoom]: 'That room has ended (or never existed).',
  [ErrorCode.notMember]: 'You are no longer in that room.',
  [ErrorCode.rateLimited]: 'Too fast: wait a moment and try again.',
  [ErrorCode.timeout]: 'The server did not answer. Try again in a moment.',
  [ErrorCode.disconnected]: 'The server did not answer. Try again in a moment.',
  [ErrorCode.handlerError]: 'Something went wrong on the server.',
};

/** What went wrong, for people: RequestError codes are stable, so the page maps them to words. */
export function errorText(error) {
  if (typeof error === 'string') return error;
  if (error.code === ErrorCode.invalidPayload) {
    return `Please check: ${(error.issues ?? []).map((issue) => issue.path.join('.') || 'the input').join(', ')}`;
  }
  return WORDS[error.code] ?? error.message ?? `Something went wrong (${error.code}).`;
}
