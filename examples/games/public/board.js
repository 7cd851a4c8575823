// The whiteboard page: joins the shared board (or `?room=<id>`, or a new one), draws its notes from the room's
// state, and sends every change (add, drag, edit, recolour, remove, clear) to the room, which checks it.
import { $, client, displayName, nameForm, savedName, setRoomInAddress, showConnection, showError, showNotice } from './common.js';

const ui = {
  status: $('status'),
  title: $('board-title'),
  nameForm: $('name-form'),
  name: $('name'),
  newTitle: $('new-title'),
  newBoard: $('new-board'),
  noteForm: $('note-form'),
  noteText: $('note-text'),
  noteColor: $('note-color'),
  add: $('add'),
  clear: $('clear'),
  surface: $('surface'),
  emptyBoard: $('empty-board'),
  noteCount: $('note-count'),
  share: $('share'),
  members: $('members'),
  memberCount: $('member-count'),
};

/** The board's limit (MAX_NOTES in plugs/board.ts): shown, and checked by the server. */
const MAX_NOTES = 500;
const COLORS = ['yellow', 'pink', 'blue', 'green'];

/** The board joined (a RoomSession). */
let board;
/** Note id → its element on the surface. */
const elements = new Map();
/** The note being dragged: the room's position of it is not drawn until the drag ends. */
let dragging;

showConnection(ui.status, () => updateControls());

nameForm(ui.nameForm, ui.name, (name) => {
  if (board?.active) board.send('name', { name }).catch(showError);
});

function updateControls() {
  const ready = client.state === 'open' && board?.state !== undefined && board.active;
  ui.add.disabled = ui.clear.disabled = !ready;
}

// ---- joining

/** Joins `target` (`'board'`, `{ room }` or `{ kind, create, options }`) in place of the board shown. */
async function enter(target) {
  const previous = board;
  const session = client.join(target);
  board = session;
  ui.surface.dataset.state = 'joining';
  updateControls();
  void previous?.leave();
  session.on('state', (state) => session === board && render(state));
  session.on('member', () => session === board && renderMembers(session.state));
  session.on('message', (type, data) => {
    if (session === board && type === 'cleared') showNotice(`${displayName(session.state?.names, data.by)} cleared the board (${data.removed} notes).`);
  });
  session.on('closed', ({ reason, message }) => {
    if (session !== board) return;
    showNotice(`This board ended (${message ?? reason}); you are on the shared board now.`);
    void enter('board');
  });
  try {
    await session.ready;
  } catch (error) {
    if (session !== board) return;
    showError(error);
    // A board from an old link may have ended: fall back to the shared one.
    if (typeof target !== 'string') void enter('board');
    return;
  }
  if (session !== board) return;
  setRoomInAddress(session.id);
  ui.share.value = location.href;
  ui.surface.dataset.state = 'joined';
  ui.surface.dataset.room = session.id;
  const name = savedName();
  if (name) session.send('name', { name }).catch(showError);
  render(session.state);
}

ui.newBoard.addEventListener('click', () => {
  const title = ui.newTitle.value.trim();
  ui.newTitle.value = '';
  void enter({ kind: 'board', create: true, options: title ? { title } : {} });
});

// ---- drawing the state

function render(state) {
  if (state === undefined) return;
  ui.title.textContent = state.title;
  document.title = `${state.title} · Switchboard games`;
  const notes = Object.values(state.notes);
  for (const [id, element] of elements) {
    if (state.notes[id] !== undefined) continue;
    element.remove();
    elements.delete(id);
  }
  for (const note of notes) drawNote(note, state);
  ui.emptyBoard.hidden = notes.length > 0;
  ui.noteCount.textContent = `${notes.length} of ${MAX_NOTES} notes.`;
  renderMembers(state);
  updateControls();
}

function drawNote(note, state) {
  let element = elements.get(note.id);
  if (element === undefined) {
    element = newNoteElement(note.id);
    elements.set(note.id, element);
    ui.surface.append(element);
  }
  element.dataset.color = note.color;
  element.style.zIndex = String(note.z);
  if (dragging?.id !== note.id) {
    element.style.left = `${note.x * 100}%`;
    element.style.top = `${note.y * 100}%`;
  }
  const text = element.querySelector('.text');
  if (!text.isContentEditable) text.textContent = note.text;
  element.querySelector('.author').textContent = displayName(state.names, note.author);
}

function newNoteElement(id) {
  const element = document.createElement('div');
  element.className = 'note';
  element.dataset.id = id;
  const text = document.createElement('p');
  text.className = 'text';
  const footer = document.createElement('div');
  footer.className = 'note-footer';
  const author = document.createElement('span');
  author.className = 'author';
  const recolor = noteButton('recolor', '●', 'Next colour');
  const remove = noteButton('remove', '×', 'Remove this note');
  footer.append(author, recolor, remove);
  element.append(text, footer);

  recolor.addEventListener('click', () => {
    const current = board.state?.notes[id]?.color ?? 'yellow';
    const next = COLORS[(COLORS.indexOf(current) + 1) % COLORS.length];
    board.send('edit', { id, color: next }).catch(showError);
  });
  remove.addEventListener('click', () => board.send('remove', { id }).catch(showError));
  text.addEventListener('dblclick', () => startEditing(id, text));
  element.addEventListener('pointerdown', (event) => startDrag(event, id, element));
  return element;
}

function noteButton(name, label, title) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = name;
  button.textContent = label;
  button.title = title;
  button.setAttribute('aria-label', title);
  return button;
}

function renderMembers(state) {
  if (state === undefined) return;
  ui.members.replaceChildren(
    ...[...board.members.values()].map((member) => {
      const item = document.createElement('li');
      item.dataset.member = member.id;
      item.textContent = `${displayName(state.names, member.id)}${member.id === board.member ? ' (you)' : ''}${member.present ? '' : ' · away'}`;
      return item;
    }),
  );
  ui.memberCount.textContent = String(board.members.size);
}

// ---- changing the board

ui.noteForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.noteText.value.trim();
  if (text === '' || board === undefined) return;
  // New notes go in rows of four from the top left (then again, a little offset), so that several added in a
  // row do not hide each other; drag them where they belong.
  const count = Object.keys(board.state?.notes ?? {}).length;
  const offset = (Math.floor(count / 12) % 5) * 0.02;
  const x = 0.03 + (count % 4) * 0.22 + offset;
  const y = 0.04 + (Math.floor(count / 4) % 3) * 0.3 + offset;
  board
    .send('add', { text, color: ui.noteColor.value, x, y })
    .then(() => (ui.noteText.value = ''))
    .catch(showError);
});

ui.clear.addEventListener('click', () => {
  const count = Object.keys(board?.state?.notes ?? {}).length;
  if (count === 0 || !confirm(`Take all ${count} notes off the board, for everyone?`)) return;
  board.send('clear', {}).catch(showError);
});

/** Edits a note's text in place: Enter or leaving the note saves, Escape gives up. */
function startEditing(id, text) {
  const before = text.textContent;
  text.contentEditable = 'true';
  text.focus();
  document.getSelection()?.selectAllChildren(text);
  const finish = (save) => {
    text.removeEventListener('keydown', onKey);
    text.removeEventListener('blur', onBlur);
    text.contentEditable = 'false';
    const after = text.textContent.trim();
    if (!save || after === before || after === '') {
      text.textContent = board.state?.notes[id]?.text ?? before;
      return;
    }
    board.send('edit', { id, text: after }).catch((error) => {
      text.textContent = board.state?.notes[id]?.text ?? before;
      showError(error);
    });
  };
  const onKey = (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      finish(true);
    } else if (event.key === 'Escape') {
      finish(false);
    }
  };
  const onBlur = () => finish(true);
  text.addEventListener('keydown', onKey);
  text.addEventListener('blur', onBlur);
}

/** Drags a note with the pointer; where it is let go goes to the room as a fraction of the board. */
function startDrag(event, id, element) {
  if (event.button !== 0 || event.target.closest('button') || event.target.isContentEditable) return;
  const surface = ui.surface.getBoundingClientRect();
  const box = element.getBoundingClientRect();
  const offset = { x: event.clientX - box.left, y: event.clientY - box.top };
  const place = (moveEvent) => {
    const x = clamp((moveEvent.clientX - offset.x - surface.left) / surface.width);
    const y = clamp((moveEvent.clientY - offset.y - surface.top) / surface.height);
    element.style.left = `${x * 100}%`;
    element.style.top = `${y * 100}%`;
    return { x, y };
  };
  dragging = { id, moved: false };
  element.setPointerCapture(event.pointerId);
  element.classList.add('dragging');
  const onMove = (moveEvent) => {
    dragging.moved = true;
    place(moveEvent);
  };
  const onUp = (upEvent) => {
    element.removeEventListener('pointermove', onMove);
    element.removeEventListener('pointerup', onUp);
    element.removeEventListener('pointercancel', onUp);
    element.classList.remove('dragging');
    const moved = dragging.moved;
    const where = place(upEvent);
    const settle = () => {
      dragging = undefined;
      render(board.state);
    };
    if (!moved) return settle();
    board.send('move', { id, ...where }).catch(showError).finally(settle);
  };
  element.addEventListener('pointermove', onMove);
  element.addEventListener('pointerup', onUp);
  element.addEventListener('pointercancel', onUp);
}

/** A note's corner stays on the board: 0 to 1, with room for the note itself. */
function clamp(value) {
  return Math.min(0.92, Math.max(0, value));
}

// ---- start: the board from the address, or the shared one

const room = new URLSearchParams(location.search).get('room');
void enter(room ? { room } : 'board');

// Closing or reloading the page gives the seat up at once, instead of the room holding it for a while.
window.addEventListener('pagehide', () => void board?.leave());
