// The chat page's behaviour: demo sign-in, chat, who is online, the ops room, and following the server's plugs live.
import { connect, ErrorCode } from '/switchboard.js';

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
  opsManage: $('ops-manage'),
  opsAccess: $('ops-access'),
  opsMember: $('ops-member'),
  opsNobody: $('ops-nobody'),
  actions: $('actions'),
  actionList: $('action-list'),
  composer: $('composer'),
  text: $('text'),
  send: $('send'),
  notice: $('notice'),
  error: $('error'),
};

const LOBBY_CHANNEL = 'presence-lobby';
const OPS_CHANNEL = 'private-ops';
/** Per tab (sessionStorage, not localStorage): each tab is its own user, and keeps it across a reload. */
const SESSION_KEY = 'chat.session';
/** The chat messages and pushes this page has its own screens for; other `chat.*` ones get generic forms. */
const KNOWN_MESSAGES = new Set(['chat.send', 'chat.history']);
const KNOWN_PUSHES = new Set(['chat.message']);
/** How long a notice or an error stays up, unless the next action clears it first. */
const NOTICE_MS = 6000;

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
  if (!willReconnect) showError(`Disconnected (${code}). Reload the page to sign in again.`, { persist: true });
});

// Every (re)connect may have missed messages: fetch the history again; seq drops what is already shown.
client.events.on('welcome', () => loadHistory());

function updateControls() {
  const open = client.state === 'open';
  const canSend = available('chat.send');
  ui.signinButton.disabled = !open;
  ui.send.disabled = !open || me === undefined || !canSend;
  ui.text.placeholder = !canSend ? 'Sending is not available on the server right now' : me ? 'Write a message' : 'Sign in to write';
  for (const button of ui.actionList.querySelectorAll('button')) button.disabled = !open || me === undefined;
  ui.empty.textContent = me ? 'No messages yet. Say hello!' : 'No messages yet. Sign in to say hello.';
}

// ---- sign-in
//
// DEMO ONLY: `demo.signIn` hands out a token for any name and role (see plugs/demo.ts). In a real app the
// token comes from your identity provider; everything after that — `client.authenticate(token)`, the
// grants it carries, the channels it opens — stays exactly as below.

/** Gets a token from the demo sign-in and authenticates this connection with it. */
async function signIn(name, role) {
  const { token } = await client.request('demo.signIn', { name, role });
  await startSession(token);
}

/** Authenticates with `token` (the SDK sends it again after every reconnect) and shows the signed-in page. */
async function startSession(token) {
  const { identity } = await client.authenticate(token);
  me = { id: identity.id, name: String(identity.info.name ?? identity.id), role: String(identity.info.role ?? 'customer') };
  saveSession({ name: me.name, role: me.role, token });
  ui.signin.hidden = true;
  ui.me.hidden = false;
  ui.meName.textContent = me.name;
  ui.meName.title = me.name;
  ui.meRole.textContent = me.role;
  ui.opsManage.hidden = me.role !== 'staff';
  updateControls();
  for (const item of ui.messages.querySelectorAll('.message')) item.classList.toggle('mine', item.dataset.from === me.id);
  joinLobby();
  // Customers try too: the server is the one that decides, and the page shows its answer.
  openOps();
  ui.text.focus();
}

/** After a reload: the tab's saved token if the server still takes it, else a fresh demo sign-in as the same user. */
async function resumeSession(saved) {
  try {
    await startSession(saved.token);
  } catch (error) {
    if (!TOKEN_PROBLEMS.has(error.code)) throw error;
    await signIn(saved.name, saved.role);
  }
}

const TOKEN_PROBLEMS = new Set([ErrorCode.tokenExpired, ErrorCode.tokenInvalid, ErrorCode.tokenMalformed, ErrorCode.tokenAlgorithm, ErrorCode.authFailed]);

ui.signin.addEventListener('submit', (event) => {
  event.preventDefault();
  clearToasts();
  ui.signinButton.disabled = true;
  signIn(ui.name.value, ui.role.value).catch((error) => {
    updateControls();
    showError(error);
  });
});

// A connection keeps its identity (`$auth` can refresh it but not switch users): start a new page instead.
ui.signout.addEventListener('click', () => {
  sessionStorage.removeItem(SESSION_KEY);
  location.reload();
});

// Tokens are short-lived: when the server warns that this one is expiring, get a fresh one.
client.events.on('auth', (event) => {
  if (event.kind !== 'expiring' || me === undefined) return;
  client
    .request('demo.signIn', { name: me.name, role: me.role })
    .then(({ token }) => client.authenticate(token).then(() => saveSession({ name: me.name, role: me.role, token })))
    .catch(showError);
});

// Grants change live (ops.grant / ops.revoke): no reload, the page just follows, and says so in words.
client.events.on('grants', ({ added, removed, reason }) => {
  if (me !== undefined && added.includes(`subscribe:${OPS_CHANNEL}`)) openOps();
  if (reason === 'authenticated' || reason === 'token_refreshed' || added.length + removed.length === 0) return;
  const parts = [];
  if (added.length > 0) parts.push(`You can now ${describeGrants(added)}`);
  if (removed.length > 0) parts.push(`You can no longer ${describeGrants(removed)}`);
  showNotice(`${parts.join('. ')} (${reason}).`);
});

function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

function savedSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    return typeof saved?.name === 'string' && typeof saved?.role === 'string' && typeof saved?.token === 'string' ? saved : undefined;
  } catch {
    return undefined;
  }
}

// ---- grants, in words (people read "post in the ops room", not "publish:private-ops")

const GRANT_WORDS = {
  [`subscribe:${OPS_CHANNEL}`]: 'read the ops room',
  [`publish:${OPS_CHANNEL}`]: 'post in the ops room',
  'call:ops.*': 'manage access to the ops room',
  'call:ops.grant': 'give access to the ops room',
  'call:ops.revoke': 'take access to the ops room away',
  [`subscribe:${LOBBY_CHANNEL}`]: 'see who is online',
  'call:chat.*': 'write in the chat',
  'call:chat.send': 'write in the chat',
  'call:chat.history': 'read the chat',
  'call:demo.signIn': 'sign in',
};

function describeGrant(grant) {
  return GRANT_WORDS[grant] ?? (grant.startsWith('call:chat.') ? 'use this chat feature' : 'do that');
}

/** `['subscribe:private-ops', 'publish:private-ops']` → "read and post in the ops room". */
function describeGrants(grants) {
  const rest = new Set(grants);
  const words = [];
  const room = [`subscribe:${OPS_CHANNEL}`, `publish:${OPS_CHANNEL}`];
  if (room.every((grant) => rest.has(grant))) {
    words.push('read and post in the ops room');
    for (const grant of room) rest.delete(grant);
  }
  for (const grant of rest) words.push(describeGrant(grant));
  const unique = [...new Set(words)];
  return unique.length <= 1 ? (unique[0] ?? '') : `${unique.slice(0, -1).join(', ')} and ${unique.at(-1)}`;
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
    .map(([id, info]) => ({ id, name: String(info.name ?? id), role: info.role === 'staff' ? 'staff' : 'customer' }))
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
  ui.lobbyHint.hidden = members.length > 1;
  ui.lobbyHint.textContent = 'No one else is online yet. Open another tab and sign in as someone else.';
  // Staff manage the access of customers who are online: staff have it by role, and nobody changes their own.
  const selected = ui.opsMember.value;
  const customers = members.filter((member) => member.id !== me?.id && member.role !== 'staff');
  ui.opsMember.replaceChildren(...customers.map((member) => new Option(member.name, member.id)));
  if (customers.some((member) => member.id === selected)) ui.opsMember.value = selected;
  ui.opsAccess.hidden = customers.length === 0;
  ui.opsNobody.hidden = customers.length > 0;
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
  ops.on('unsubscribed', ({ reason }) => setOps(reason, lockedText(reason)));
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

function lockedText(reason) {
  switch (reason) {
    case ErrorCode.forbidden:
      return 'The ops room is for staff. A staff member can give you access.';
    case 'grant_revoked':
      return 'Your access to the ops room was taken away.';
    case 'token_expired':
      return 'Your sign-in expired, so you left the ops room. Sign in again to come back.';
    default:
      return `The ops room closed (${reason}).`;
  }
}

function showOpsEvent(data, { event, from }) {
  const item = document.createElement('li');
  if (event === 'access') {
    item.className = 'access';
    item.textContent =
      data.change === 'granted'
        ? `${data.byName} gave ${data.userName} access to the ops room`
        : `${data.byName} took away ${data.userName}'s access to the ops room`;
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
  clearToasts();
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
  clearToasts();
  const granting = event.submitter?.value !== 'revoke';
  const userId = ui.opsMember.value;
  const name = nameOf(userId);
  try {
    const { changed } = await client.request(granting ? 'ops.grant' : 'ops.revoke', { userId });
    if (granting) showNotice(changed ? `${name} can now read and post in the ops room.` : `${name} already has access to the ops room.`);
    else showNotice(changed ? `${name} no longer has access to the ops room.` : `${name} had no access to the ops room.`);
  } catch (error) {
    showError(error);
  }
});

// ---- messages
//
// `seq` numbers the messages of one run of the chat plug; `epoch` names the run. A server restart starts a
// new epoch with seq 1 again, so what this page shows from the old one is cleared rather than mistaken for
// the new messages (which would drop them as already shown).

let epoch;
const shown = new Set();

function loadHistory() {
  client.request('chat.history', {}).then(({ epoch: current, messages }) => {
    adoptEpoch(current);
    messages.forEach(showMessage);
  }, showError);
}

/** Starts over when the chat's epoch changed; returns whether it did. */
function adoptEpoch(next) {
  if (next === epoch) return false;
  const restarted = epoch !== undefined;
  epoch = next;
  shown.clear();
  ui.messages.replaceChildren();
  ui.empty.hidden = false;
  if (restarted) showNotice('The server restarted: the chat starts afresh.');
  return restarted;
}

client.on('chat.message', (message) => {
  // A push from a new run before the history came back: show it, and fetch the rest of that run.
  if (message.epoch !== epoch && adoptEpoch(message.epoch)) loadHistory();
  showMessage(message);
});

function showMessage(message) {
  if (message.epoch !== epoch || shown.has(message.seq)) return;
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
  const later = [...ui.messages.querySelectorAll('.message')].find((other) => Number(other.dataset.seq) > message.seq);
  ui.messages.insertBefore(item, later ?? null);
  ui.empty.hidden = true;
  item.scrollIntoView({ block: 'end' });
}

// ---- composer

ui.composer.addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = ui.text.value;
  ui.text.value = '';
  clearToasts();
  try {
    await client.request('chat.send', { text });
  } catch (error) {
    ui.text.value = text;
    showError(error);
  }
});

// ---- following the server's plugs: the manifest says what the server accepts now
//
// The SDK fetches the manifest after connecting and the server pushes a new one whenever a plug's message
// types or schemas change (a hot swap of plugs/chat.ts). The page says what changed and offers a form for
// every `chat.*` message it has no screen of its own for, built from the message's JSON Schema.

/** type → the manifest entry, from the last manifest; undefined until the first arrives. */
let messageTypes;
/** The push types of the last manifest, and those this page listens to (a listener stays once added). */
let pushTypes = new Set();
const listenedPushes = new Set();

function available(type) {
  return messageTypes === undefined || messageTypes.has(type);
}

client.events.on('manifest', (manifest) => {
  const next = new Map(manifest.messages.map((entry) => [entry.type, entry]));
  if (messageTypes !== undefined) {
    const added = [...next.keys()].filter((type) => !messageTypes.has(type));
    const removed = [...messageTypes.keys()].filter((type) => !next.has(type));
    const changed = [...next.keys()].filter(
      (type) => messageTypes.has(type) && JSON.stringify(messageTypes.get(type).input) !== JSON.stringify(next.get(type).input),
    );
    const parts = [];
    if (added.length > 0) parts.push(`new ${added.join(', ')}`);
    if (removed.length > 0) parts.push(`removed ${removed.join(', ')}`);
    if (changed.length > 0) parts.push(`changed input of ${changed.join(', ')}`);
    if (parts.length > 0) showNotice(`The server was updated: ${parts.join('; ')}.`, { kind: 'update' });
  }
  const firstManifest = messageTypes === undefined;
  messageTypes = next;
  renderActions(manifest.messages.filter((entry) => entry.type.startsWith('chat.') && !KNOWN_MESSAGES.has(entry.type)), !firstManifest);
  if (!firstManifest) ui.actionList.querySelector('.action.new')?.scrollIntoView({ block: 'nearest' });
  // New pushes of the chat plug: shown as they come, in the message list, while the manifest lists them.
  pushTypes = new Set(manifest.pushes.map((push) => push.type));
  for (const type of pushTypes) {
    if (!type.startsWith('chat.') || KNOWN_PUSHES.has(type) || listenedPushes.has(type)) continue;
    listenedPushes.add(type);
    client.on(type, (data) => {
      if (pushTypes.has(type)) showPush(type, data);
    });
  }
  updateControls();
});

/** The forms of `entries`; with `markNew`, the ones that were not there before are marked as new. */
function renderActions(entries, markNew) {
  ui.actions.hidden = entries.length === 0;
  // Keep the forms of types whose schema did not change, so what someone was typing survives an update.
  const existing = new Map([...ui.actionList.children].map((form) => [form.dataset.type, form]));
  ui.actionList.replaceChildren(
    ...entries.map((entry) => {
      const form = existing.get(entry.type);
      if (form?.dataset.schema === JSON.stringify(entry.input)) {
        form.classList.remove('new');
        return form;
      }
      const fresh = actionForm(entry);
      // Marked while it is the latest change, so it stands out from the forms that were there before.
      if (markNew) fresh.classList.add('new');
      return fresh;
    }),
  );
}

/** A form for one message type: a field per property of a flat object schema (strings, numbers, booleans, enums). */
function actionForm(entry) {
  const form = document.createElement('form');
  form.className = 'action';
  form.dataset.type = entry.type;
  form.dataset.schema = JSON.stringify(entry.input);
  form.autocomplete = 'off';
  const title = document.createElement('h3');
  title.textContent = entry.type;
  form.append(title);
  if (entry.description) {
    const description = document.createElement('p');
    description.className = 'hint';
    description.textContent = entry.description;
    form.append(description);
  }
  const fields = formFields(entry.input);
  const output = document.createElement('output');
  if (fields === undefined) {
    output.textContent = 'Its input is more than this page can build a form for: see /admin/manifest.';
    form.append(output);
    return form;
  }
  form.append(...fields.map((field) => field.label));
  const button = document.createElement('button');
  button.type = 'submit';
  button.textContent = 'Send';
  button.disabled = client.state !== 'open' || me === undefined;
  form.append(button, output);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearToasts();
    output.className = '';
    output.textContent = '…';
    try {
      const reply = await client.request(entry.type, Object.fromEntries(fields.flatMap((field) => field.value())));
      output.textContent = reply === undefined || reply === null ? 'Done.' : `Reply: ${JSON.stringify(reply)}`;
    } catch (error) {
      output.className = 'failed';
      output.textContent = errorText(error);
    }
  });
  return form;
}

/** `{ label, value() }` per property, where value() is `[[name, value]]` or `[]` for an empty optional field; undefined when the schema is not flat. */
function formFields(schema) {
  if (schema?.type !== 'object') return undefined;
  const required = new Set(schema.required ?? []);
  const fields = [];
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const label = document.createElement('label');
    label.append(name);
    if (property.description) label.title = property.description;
    let input;
    let read;
    if (Array.isArray(property.enum) && property.enum.every((option) => typeof option === 'string')) {
      input = document.createElement('select');
      input.append(...property.enum.map((option) => new Option(option, option)));
      if (typeof property.default === 'string') input.value = property.default;
      read = () => input.value;
    } else if (property.type === 'boolean') {
      input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = property.default === true;
      read = () => input.checked;
    } else if (property.type === 'number' || property.type === 'integer') {
      input = document.createElement('input');
      input.type = 'number';
      input.step = property.type === 'integer' ? '1' : 'any';
      if (typeof property.minimum === 'number') input.min = String(property.minimum);
      if (typeof property.maximum === 'number') input.max = String(property.maximum);
      if (typeof property.default === 'number') input.value = String(property.default);
      read = () => (input.value === '' ? undefined : Number(input.value));
    } else if (property.type === 'string') {
      input = document.createElement('input');
      if (typeof property.maxLength === 'number') input.maxLength = property.maxLength;
      if (typeof property.default === 'string') input.value = property.default;
      read = () => (input.value === '' ? undefined : input.value);
    } else {
      return undefined;
    }
    input.name = name;
    if (required.has(name) && property.type !== 'boolean') input.required = true;
    label.append(input);
    fields.push({ label, value: () => (read() === undefined ? [] : [[name, read()]]) });
  }
  return fields;
}

/** A push of a type this page does not know, as a line in the message list. */
function showPush(type, data) {
  const item = document.createElement('li');
  item.className = 'push';
  item.dataset.type = type;
  const name = document.createElement('code');
  name.textContent = type;
  item.append(name, ` ${JSON.stringify(data)}`);
  ui.messages.append(item);
  ui.empty.hidden = true;
  item.scrollIntoView({ block: 'end' });
}

// ---- notices and errors: they go away after a few seconds, or at the next thing the user does

function badge(text) {
  const element = document.createElement('span');
  element.className = 'badge';
  element.textContent = text;
  return element;
}

const toastTimers = new Map();

function toast(element, text, { persist = false, kind = '' } = {}) {
  clearTimeout(toastTimers.get(element));
  element.textContent = text;
  element.dataset.kind = kind;
  element.hidden = false;
  if (!persist) toastTimers.set(element, setTimeout(() => (element.hidden = true), NOTICE_MS));
}

function clearToasts() {
  for (const element of [ui.notice, ui.error]) {
    if (element.dataset.kind === 'persist') continue;
    clearTimeout(toastTimers.get(element));
    element.hidden = true;
  }
}

function showNotice(text, options) {
  toast(ui.notice, text, options);
}

function showError(error, { persist = false } = {}) {
  toast(ui.error, errorText(error), { persist, kind: persist ? 'persist' : '' });
}

/** What went wrong, for people: RequestError codes are stable, so the page maps them to words. */
function errorText(error) {
  if (typeof error === 'string') return error;
  const grant = error.details?.grant;
  switch (error.code) {
    case ErrorCode.invalidPayload:
      return `Please check: ${(error.issues ?? []).map((issue) => issue.path.join('.') || 'the input').join(', ')}`;
    case ErrorCode.forbidden:
      return typeof grant === 'string' ? `You are not allowed to ${describeGrant(grant)}.` : 'You are not allowed to do that.';
    case ErrorCode.unauthenticated:
      return 'Sign in first.';
    case ErrorCode.timeout:
    case ErrorCode.disconnected:
      return 'The server did not answer. Try again in a moment.';
    case ErrorCode.rateLimited:
      return 'Too fast: wait a moment and try again.';
    case ErrorCode.unknownType:
      return 'The server no longer offers this.';
    case ErrorCode.handlerError:
      return 'Something went wrong on the server.';
    default:
      // The plugs' own codes (ops: staff_only, own_access, staff_member, user_offline) come with a message for people.
      return error.message ?? `Something went wrong (${error.code}).`;
  }
}

// ---- start

const saved = savedSession();
if (saved) {
  // Signed in before in this tab: the same user again, with the saved token while it is valid.
  ui.name.value = saved.name;
  ui.role.value = saved.role;
  ui.signinButton.disabled = true;
  resumeSession(saved).catch((error) => {
    sessionStorage.removeItem(SESSION_KEY);
    updateControls();
    showError(error);
  });
} else {
  ui.name.focus();
}
