// The chat page's behaviour: connect through the SDK, show history and live messages, send what is typed.
import { connect } from '/switchboard.js';

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  messages: $('messages'),
  empty: $('empty'),
  composer: $('composer'),
  name: $('name'),
  text: $('text'),
  send: $('send'),
  error: $('error'),
};

const client = connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
// Exposed so the client can be poked at from the browser console while developing.
window.chat = { client };

// ---- connection state

const STATE_LABELS = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'offline' };

client.events.on('state', ({ state }) => {
  ui.status.dataset.state = state;
  ui.status.textContent = STATE_LABELS[state] ?? state;
  ui.send.disabled = state !== 'open';
});

// Every (re)connect may have missed messages: fetch the history again; seq drops what is already shown.
client.events.on('welcome', () => {
  client.request('chat.history', {}).then(({ messages }) => messages.forEach(showMessage), showError);
});

// ---- messages

const shown = new Set();

function showMessage(message) {
  if (shown.has(message.seq)) return;
  shown.add(message.seq);
  const item = document.createElement('li');
  item.className = message.name === ui.name.value.trim() ? 'message mine' : 'message';
  item.dataset.seq = String(message.seq);
  const meta = document.createElement('div');
  meta.className = 'meta';
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = message.name;
  const time = document.createElement('time');
  time.dateTime = message.at;
  time.textContent = new Date(message.at).toLocaleTimeString();
  meta.append(name, time);
  const text = document.createElement('p');
  text.className = 'text';
  text.textContent = message.text;
  item.append(meta, text);
  // History and pushes can interleave after a reconnect; insert in seq order.
  const later = [...ui.messages.children].find((other) => Number(other.dataset.seq) > message.seq);
  ui.messages.insertBefore(item, later ?? null);
  ui.empty.hidden = true;
  item.scrollIntoView({ block: 'end' });
}

client.on('chat.message', showMessage);

// ---- composer

ui.name.value = localStorage.getItem('chat.name') ?? '';
ui.name.addEventListener('change', () => localStorage.setItem('chat.name', ui.name.value.trim()));

ui.composer.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = ui.text.value;
  ui.text.value = '';
  showError(undefined);
  try {
    await client.request('chat.send', { name: ui.name.value, text });
  } catch (error) {
    ui.text.value = text;
    showError(error);
  }
});

function showError(error) {
  ui.error.hidden = error === undefined;
  if (error === undefined) return;
  // RequestError carries a stable code; invalid_payload lists the fields that were wrong.
  const fields = error.issues?.map((issue) => issue.path.join('.')).join(', ');
  ui.error.textContent = fields ? `Please check: ${fields}` : `Could not send (${error.code ?? error.message})`;
}

if (!ui.name.value) ui.name.focus();
else ui.text.focus();
