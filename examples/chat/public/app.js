// The chat page's behaviour: demo sign-in, chat, who is online, and the staff-only ops room, through the SDK.
import { connect } from '/switchboard.js';

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  signin: $('signin'),
  name: $('name'),
  role: $('role'),
  signinButton: $('signin-button'),
  me: $('me'),
  meName: $('me-name'),
  meRole: $('me-role'),
  signout: $('signout'),
  messages: $('messages'),
  empty: $('empty'),
  lobby: $('lobby'),
  lobbyCount: $('lobby-count'),
  lobbyHint: $('lobby-hint'),
  ops: $('ops'),
  opsLocked: $('ops-locked'),
  opsRoom: $('ops-room'),
  opsFeed: $('ops-feed'),
  opsComposer: $('ops-composer'),
  opsText: $('ops-text'),
  opsAccess: $('ops-access'),
  opsMember: $('ops-member'),
  composer: $('composer'),
  text: $('text'),
  send: $('send'),
  notice: $('notice'),
  error: $('error'),
};

const LOBBY_CHANNEL = 'presence-lobby';
const OPS_CHANNEL = 'private-ops';
const SAVED_USER = 'chat.user';

const client = connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
// Exposed so the client can be poked at from the browser console while developing.
window.chat = { client };

/** The signed-in user, `{ id, name, role }`, or undefined while anonymous. */
let me;

// ---- connection state

const STATE_LABELS = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'offline' };

client.events.on('state', ({ state }) => {
  ui.status.dataset.state = state;
  ui.status.textContent = STATE_LABELS[state] ?? state;
  updateControls();
});

// The client only gives up for good on codes where retrying cannot help, such as an expired token (4003).
client.events.on('close', ({ code, willReconnect }) => {
  if (!willReconnect) showError(`Disconnected (${code}). Reload the page to sign in again.`);
});

// Every (re)connect may have missed messages: fetch the history again; seq drops what is already shown.
client.events.on('welcome', () => {
  client.request('chat.history', {}).then(({ messages }) => messages.forEach(showMessage), showError);
});

function updateControls() {
  const open = client.state === 'open';
  ui.signinButton.disabled = !open;
  ui.send.disabled = !open || me === undefined;
  ui.text.placeholder = me ? 'Write a message' : 'Sign in to write';
}

// ---- sign-in
//
// DEMO ONLY: `demo.signIn` hands out a token for any name and role (see plugs/demo.ts). In a real app the
// token comes from your identity provider; everything after that — `client.authenticate(token)`, the
// grants it carries, the channels it opens — stays exactly as below.

async function signIn(name, role) {
  const { token } = await client.request('demo.signIn', { name, role });
  // Authenticates this connection, and re-sends the token after every reconnect.
  const { identity } = await client.authenticate(token);
  me = { id: identity.id, name: String(identity.info.name ?? identity.id), role: String(identity.info.role ?? 'customer') };
  localStorage.setItem(SAVED_USER, JSON.stringify({ name: me.name, role: me.role }));
  ui.signin.hidden = true;
  ui.me.hidden = false;
  ui.meName.textContent = me.name;
  ui.meRole.textContent = me.role;
  updateControls();
  for (const item of ui.messages.children) item.classList.toggle('mine', item.dataset.from === me.id);
  joinLobby();
  // Customers try too: the server is the one that decides, and the page shows its answer.
  openOps();
  ui.text.focus();
}

ui.signin.addEventListener('submit', (event) => {
  event.preventDefault();
  showError(undefined);
  ui.signinButton.disabled = true;
  signIn(ui.name.value, ui.role.value).catch((error) => {
    updateControls();
    showError(error);
  });
});

// A connection keeps its identity (`$auth` can refresh it but not switch users): start a new page instead.
ui.signout.addEventListener('click', () => {
  localStorage.removeItem(SAVED_USER);
  location.reload();
});

// Tokens are short-lived: when the server warns that this one is expiring, get a fresh one.
client.events.on('auth', (event) => {
  if (event.kind !== 'expiring' || me === undefined) return;
  client
    .request('demo.signIn', { name: me.name, role: me.role })
    .then(({ token }) => client.authenticate(token))
    .catch(showError);
});

// Grants change live (ops.grant / ops.revoke): no reload, the page just follows.
client.events.on('grants', ({ added, removed, reason }) => {
  if (me !== undefined && added.includes(`subscribe:${OPS_CHANNEL}`)) openOps();
  if (reason !== 'authenticated' && reason !== 'token_refreshed' && added.length + removed.length > 0) showNotice(`Your access changed: ${reason}.`);
});

function savedUser() {
  try {
    const saved = JSON.parse(localStorage.getItem(SAVED_USER) ?? 'null');
    return typeof saved?.name === 'string' && typeof saved?.role === 'string' ? saved : undefined;
  } catch {
    return undefined;
  }
}

// ---- who is online (a presence channel: one entry per user, however many tabs they have open)

let lobby;

function joinLobby() {
  lobby = client.subscribe(LOBBY_CHANNEL);
  // `subscribed` also fires after a reconnect, when the member list is replaced.
  for (const event of ['subscribed', 'join', 'leave']) lobby.on(event, renderLobby);
  lobby.ready.catch(showError);
}

function renderLobby() {
  const members = [...lobby.members]
    .map(([id, info]) => ({ id, name: String(info.name ?? id), role: info.role }))
    .sort((a, b) => a.name.localeCompare(b.name));
  ui.lobby.replaceChildren(
    ...members.map((member) => {
      const item = document.createElement('li');
      item.dataset.id = member.id;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = member.name;
      item.append(name);
      if (member.role === 'staff') item.append(badge('staff'));
      if (member.id === me?.id) item.append(' (you)');
      return item;
    }),
  );
  ui.lobbyCount.textContent = String(members.length);
  ui.lobbyHint.hidden = true;
  // The access form offers everyone else who is online.
  const selected = ui.opsMember.value;
  const others = members.filter((member) => member.id !== me?.id);
  ui.opsMember.replaceChildren(...others.map((member) => new Option(member.name, member.id)));
  if (others.some((member) => member.id === selected)) ui.opsMember.value = selected;
}

function nameOf(id) {
  return String(lobby?.members.get(id)?.name ?? id);
}

// ---- the ops room (a private channel: only connections with `subscribe:private-ops` get in)

let ops;

function openOps() {
  if (ops?.active) return;
  setOps('joining', 'Joining…');
  ops = client.subscribe(OPS_CHANNEL, showOpsEvent);
  ops.on('subscribed', () => setOps('open'));
  // Both a refused subscribe (forbidden) and a later removal (grant_revoked) end here, with the grant named.
  ops.on('unsubscribed', ({ reason, grant }) => setOps(reason, lockedText(reason, grant)));
}

/** Shows the room, or why it is locked; `state` is `open` or the server's code, for styling and tests. */
function setOps(state, locked) {
  ui.ops.dataset.state = state;
  ui.opsRoom.hidden = state !== 'open';
  ui.opsLocked.hidden = state === 'open';
  if (state !== 'open') {
    ui.opsLocked.textContent = locked;
    // What was said in the room is not for people who have lost access to it.
    ui.opsFeed.replaceChildren();
  }
}

function lockedText(reason, grant) {
  switch (reason) {
    case 'forbidden':
      return `Staff only: the server answered forbidden (missing ${grant}).`;
    case 'grant_revoked':
      return `Your ops access was revoked: the server removed you from the room (${grant}).`;
    default:
      return `The ops room closed (${reason}).`;
  }
}

function showOpsEvent(data, { event, from }) {
  const item = document.createElement('li');
  if (event === 'access') {
    item.className = 'access';
    item.textContent = `${data.byName} ${data.change} ops access ${data.change === 'granted' ? 'to' : 'from'} ${nameOf(data.userId)}`;
  } else {
    // Clients publish here directly (`publish:private-ops`), so the data is whatever they sent.
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = from === undefined ? 'server' : nameOf(from);
    item.append(name, `: ${typeof data?.text === 'string' ? data.text : JSON.stringify(data)}`);
  }
  ui.opsFeed.append(item);
  item.scrollIntoView({ block: 'nearest' });
}

ui.opsComposer.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = ui.opsText.value.trim();
  if (!text) return;
  ui.opsText.value = '';
  try {
    await client.publish(OPS_CHANNEL, 'note', { text });
  } catch (error) {
    ui.opsText.value = text;
    showError(error);
  }
});

ui.opsAccess.addEventListener('submit', async (event) => {
  event.preventDefault();
  const type = event.submitter?.value === 'revoke' ? 'ops.revoke' : 'ops.grant';
  showError(undefined);
  try {
    await client.request(type, { userId: ui.opsMember.value });
  } catch (error) {
    showError(error);
  }
});

// ---- messages

const shown = new Set();

function showMessage(message) {
  if (shown.has(message.seq)) return;
  shown.add(message.seq);
  const item = document.createElement('li');
  item.className = message.from === me?.id ? 'message mine' : 'message';
  item.dataset.seq = String(message.seq);
  item.dataset.from = message.from;
  const meta = document.createElement('div');
  meta.className = 'meta';
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = message.name;
  const time = document.createElement('time');
  time.dateTime = message.at;
  time.textContent = new Date(message.at).toLocaleTimeString();
  meta.append(name);
  if (message.role === 'staff') meta.append(badge('staff'));
  meta.append(time);
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

ui.composer.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = ui.text.value;
  ui.text.value = '';
  showError(undefined);
  try {
    await client.request('chat.send', { text });
  } catch (error) {
    ui.text.value = text;
    showError(error);
  }
});

// ---- notices and errors

function badge(text) {
  const element = document.createElement('span');
  element.className = 'badge';
  element.textContent = text;
  return element;
}

function showNotice(text) {
  ui.notice.hidden = false;
  ui.notice.textContent = text;
}

function showError(error) {
  ui.error.hidden = error === undefined;
  if (error === undefined) return;
  if (typeof error === 'string') {
    ui.error.textContent = error;
    return;
  }
  // RequestError carries a stable code; invalid_payload lists the fields, forbidden names the missing grant.
  const fields = error.issues?.map((issue) => issue.path.join('.')).join(', ');
  const grant = error.details?.grant;
  ui.error.textContent = fields
    ? `Please check: ${fields}`
    : grant
      ? `Not allowed: ${error.code} (missing ${grant})`
      : `Something went wrong (${error.code ?? error.message})`;
}

// ---- start

const saved = savedUser();
if (saved) {
  // Signed in before (in this tab or another): sign in again, as the same user.
  ui.name.value = saved.name;
  ui.role.value = saved.role;
  ui.signinButton.disabled = true;
  signIn(saved.name, saved.role).catch((error) => {
    updateControls();
    showError(error);
  });
} else {
  ui.name.focus();
}
