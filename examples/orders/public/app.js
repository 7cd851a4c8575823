// What the customer page and the back office share: the connection, the demo sign-in, status labels, notices, and errors in words.
import { connect, ErrorCode } from '/switchboard.js';

export const $ = (id) => document.getElementById(id);

export const client = connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
// Exposed so the client and the live copies can be poked at from the browser console while developing.
window.shop = { client };

/** The grant a hold takes away (plugs/shop.ts): without it, the customer's writes to `orders` are refused. */
export const WRITE_ORDERS = 'write:orders';
/** How long a notice or an error stays up, unless the next action clears it first. */
const NOTICE_MS = 6000;

// ---- who is signing in: the name comes from the address (`?name=Ada`), so a reload is the same user

/** The `name` in the page's address, trimmed, or undefined. */
export function nameFromAddress() {
  const name = new URLSearchParams(location.search).get('name')?.trim();
  return name ? name.slice(0, 32) : undefined;
}

// ---- sign-in
//
// DEMO ONLY: `demo.signIn` hands out a token for any name and role (see plugs/demo.ts). In a real app the
// token comes from your identity provider; everything after that — `client.authenticate(token)`, the
// grants it carries, the live copies it may open — stays exactly as below.

/**
 * Signs in as `name` with `role`: a token from the demo sign-in, then `client.authenticate` (the SDK sends
 * it again after every reconnect, and this gets a fresh one when the server says it is expiring).
 * Resolves with `{ id, name, role, grants }`.
 */
export async function signIn(name, role) {
  const { token } = await client.request('demo.signIn', { name, role });
  const { identity, grants } = await client.authenticate(token);
  client.events.on('auth', (event) => {
    if (event.kind !== 'expiring') return;
    client
      .request('demo.signIn', { name, role })
      .then(({ token: fresh }) => client.authenticate(fresh))
      .catch(showError);
  });
  return { id: identity.id, name: String(identity.info.name ?? identity.id), role, grants };
}

// ---- connection and live copy states, as labels (the `data-state` attributes are for styling and tests)

const CONNECTION_LABELS = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'offline' };

/** Keeps `element` showing the connection's state; `onChange` runs after every change. */
export function showConnection(element, onChange = () => undefined) {
  const show = (state) => {
    element.dataset.state = state;
    element.textContent = CONNECTION_LABELS[state] ?? state;
    onChange(state);
  };
  client.events.on('state', ({ state }) => show(state));
  // The client only gives up for good on codes where retrying cannot help, such as an expired token.
  client.events.on('close', ({ code, willReconnect }) => {
    if (!willReconnect) showError(`Disconnected (${code}). Reload the page to sign in again.`, { persist: true });
  });
  show(client.state);
}

const LIVE_LABELS = {
  snapshot: 'loading…',
  live: 'live',
  stale: 'offline: last known',
  recovering: 'catching up…',
  ended: 'stopped',
};

/** Keeps `element` showing where a live copy stands: `live`, `stale` while the connection is down, … */
export function showLiveState(live, element) {
  const show = (state) => {
    element.dataset.state = state;
    element.textContent = LIVE_LABELS[state] ?? state;
  };
  live.on('state', ({ state }) => show(state));
  show(live.state);
}

// ---- orders, for people

export const STATUS_LABELS = { open: 'Open', paid: 'Paid', shipped: 'Shipped', cancelled: 'Cancelled' };

const euros = new Intl.NumberFormat('en-IE', { style: 'currency', currency: 'EUR' });

/** 12.5 → "€12.50". */
export function money(amount) {
  return euros.format(amount);
}

/** A badge for an order's status. */
export function statusBadge(status) {
  const badge = document.createElement('span');
  badge.className = 'badge status-badge';
  badge.dataset.status = status;
  badge.textContent = STATUS_LABELS[status] ?? status;
  return badge;
}

/** An id for a new order, made in the page so the order shows before the server has answered. */
export function newOrderId() {
  // crypto.randomUUID needs a secure context (https or localhost); getRandomValues works everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `o-${Date.now().toString(36)}-${[...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** Orders newest first. */
export function newestFirst(a, b) {
  return b.placedAt - a.placedAt || (a.id < b.id ? -1 : 1);
}

/**
 * Puts `rows` (key → element) into `parent` in the order of `keys`, moving nothing when they already are
 * (moving an element would take the focus away from a button in it).
 */
export function placeRows(parent, keys, rows) {
  const wanted = keys.map((key) => rows.get(key));
  const current = [...parent.children];
  if (wanted.length === current.length && wanted.every((row, index) => row === current[index])) return;
  parent.replaceChildren(...wanted);
}

/** Plays the row's "just changed" highlight (again, if it is still playing). */
export function flash(element) {
  element.classList.remove('flash');
  void element.offsetWidth; // restarts the animation
  element.classList.add('flash');
}

/**
 * Calls `render` once after the current batch of events: a snapshot brings one change event per record,
 * and the page is drawn once for all of them.
 */
export function batched(render) {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      render();
    });
  };
}

// ---- notices and errors: they go away after a few seconds, or at the next thing the user does

const toastTimers = new Map();

function toast(element, text, { persist = false } = {}) {
  clearTimeout(toastTimers.get(element));
  element.textContent = text;
  element.dataset.kind = persist ? 'persist' : '';
  element.hidden = false;
  if (!persist) toastTimers.set(element, setTimeout(() => (element.hidden = true), NOTICE_MS));
}

export function clearToasts() {
  for (const element of [$('notice'), $('error')]) {
    if (element.dataset.kind === 'persist') continue;
    clearTimeout(toastTimers.get(element));
    element.hidden = true;
  }
}

export function showNotice(text, options) {
  toast($('notice'), text, options);
}

export function showError(error, options) {
  toast($('error'), errorText(error), options);
}

/** What went wrong, for people: RequestError codes are stable, so the pages map them to words. */
export function errorText(error) {
  if (typeof error === 'string') return error;
  switch (error.code) {
    case ErrorCode.forbidden:
      // A refusal of the shop's rules (authorizeWrite) is already written for people; a missing grant is not.
      if (error.details?.grant === WRITE_ORDERS) return 'Your account is on hold: you cannot place or change orders right now.';
      if (typeof error.details?.grant === 'string') return 'You are not allowed to do that.';
      if (error.details?.scope === true) return 'That order is not yours.';
      return error.message || 'You are not allowed to do that.';
    case ErrorCode.conflict:
      return 'That order changed in the meantime: look again, and try again.';
    case ErrorCode.invalidPayload:
      return `Please check: ${(error.issues ?? []).map((issue) => issue.path.at(-1) ?? 'the input').join(', ')}`;
    case ErrorCode.notFound:
      return 'That order no longer exists.';
    case ErrorCode.unauthenticated:
      return 'Sign in first.';
    case ErrorCode.timeout:
    case ErrorCode.disconnected:
      return 'The server did not answer. Try again in a moment.';
    case ErrorCode.rateLimited:
      return 'Too fast: wait a moment and try again.';
    default:
      // The shop's own codes (wrong_status, back_office_only, own_account) come with a message for people.
      return error.message || `Something went wrong (${error.code}).`;
  }
}
