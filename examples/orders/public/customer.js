// The customer page: signs in as ?name=…, places orders, changes their quantity and cancels them over the socket
// (a live copy of `orders`, which the server scopes to this customer), and shows what the back office does, live.
import {
  $,
  batched,
  clearToasts,
  client,
  flash,
  money,
  nameFromAddress,
  newestFirst,
  newOrderId,
  placeRows,
  showConnection,
  showError,
  showLiveState,
  showNotice,
  signIn,
  STATUS_LABELS,
  statusBadge,
  WRITE_ORDERS,
} from './app.js';
import { cents, figuresOf } from './figures.js';

const ui = {
  status: $('status'),
  meName: $('me-name'),
  hold: $('hold'),
  form: $('order-form'),
  item: $('item'),
  quantity: $('quantity'),
  orderTotal: $('order-total'),
  place: $('place'),
  ordersState: $('orders-state'),
  rows: $('order-rows'),
  noOrders: $('no-orders'),
  spent: $('spent'),
  openValue: $('open-value'),
};

/** The most of one item an order may have (the schema's limit in plugs/shop.ts). */
const MAX_QUANTITY = 99;

/** The signed-in customer, `{ id, name, role, grants }`, once signed in. */
let me;
/** Whether this customer may write now: they hold `write:orders` (a hold takes it away, live). */
let canWrite = false;
/** Product id → `{ id, name, price }`, from `shop.catalog`. */
let catalog = new Map();
/** The live copy of this customer's orders. */
let orders;
/** Order key → its table row; the keys to highlight at the next render; the orders with a write on its way. */
const rows = new Map();
const flashes = new Set();
const saving = new Set();

const scheduleRender = batched(render);
showConnection(ui.status, () => updateControls());

// ---- start: sign in, read the catalog, follow the orders

async function main() {
  const name = nameFromAddress();
  if (name === undefined) {
    // The start page asks for a name: it is the user (the same name, the same orders, in every tab).
    location.replace('/');
    return;
  }
  ui.meName.textContent = name;
  document.title = `${name} · Switchboard shop`;
  me = await signIn(name, 'customer');
  setCanWrite(me.grants.includes(WRITE_ORDERS));

  const { items } = await client.request('shop.catalog', {});
  catalog = new Map(items.map((product) => [product.id, product]));
  ui.item.replaceChildren(...items.map((product) => new Option(`${product.name} (${money(product.price)})`, product.id)));
  updateTotal();

  // No filter: the server's scope for this connection ({ customer: <this customer> }) already keeps the
  // copy to this customer's orders, whatever a page asks for.
  orders = client.live('orders');
  showLiveState(orders, ui.ordersState);
  orders.on('change', onChange);
  orders.on('state', () => updateControls());
  orders.on('ended', ({ reason }) => showError(`The shop stopped sending your orders (${reason}). Reload the page.`, { persist: true }));
  await orders.ready;
  updateControls();
}

main().catch((error) => showError(error, { persist: true }));

/** One record changed in the copy: from the server (the back office, another tab), this page, or a refused write undone. */
function onChange({ key, value, previous, source }) {
  // A status this page did not set: the back office marked the order paid or shipped (or another tab cancelled it).
  if (source === 'server' && value !== undefined && previous !== undefined && value.status !== previous.status) {
    flashes.add(key);
    showNotice(`Your order of ${describe(value)} is now ${STATUS_LABELS[value.status].toLowerCase()}.`);
  }
  scheduleRender();
}

// ---- holds: the back office can take `write:orders` away (and give it back) while this page is open

client.events.on('grants', ({ grants, reason }) => {
  const allowed = grants.includes(WRITE_ORDERS);
  if (allowed === canWrite) return;
  // Signing in (again, after a reconnect) is no news; a hold put on or lifted by the back office is.
  const news = reason !== 'authenticated' && reason !== 'token_refreshed';
  setCanWrite(allowed, news ? reason : undefined);
  if (allowed && news) showNotice(`You can place and change orders again (${reason}).`);
});

/** Shows or hides the hold banner, and enables the controls that write, or not. */
function setCanWrite(allowed, reason) {
  canWrite = allowed;
  ui.hold.hidden = allowed;
  if (!allowed) {
    ui.hold.textContent = `On hold: you can see your orders, but not place or change any until the shop lifts the hold${reason ? ` (${reason})` : ''}.`;
  }
  updateControls();
}

/** Whether this page can send a write now: connected, live, and allowed to. */
function writable() {
  return canWrite && client.state === 'open' && orders?.state === 'live';
}

function updateControls() {
  ui.place.disabled = !writable() || catalog.size === 0;
  scheduleRender();
}

// ---- placing an order: a create, shown at once (optimistically) and confirmed by the server

function updateTotal() {
  const product = catalog.get(ui.item.value);
  const quantity = Number(ui.quantity.value);
  ui.orderTotal.textContent = product !== undefined && Number.isInteger(quantity) && quantity >= 1 ? money(cents(product.price * quantity)) : '–';
}

ui.item.addEventListener('change', updateTotal);
ui.quantity.addEventListener('input', updateTotal);

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  clearToasts();
  const product = catalog.get(ui.item.value);
  const quantity = Number(ui.quantity.value);
  if (product === undefined || !Number.isInteger(quantity) || quantity < 1 || quantity > MAX_QUANTITY) {
    showError(`Pick an item and a quantity from 1 to ${MAX_QUANTITY}.`);
    return;
  }
  // The server checks the total against its own catalog: computed the same way here (figures.js cents).
  const order = { id: newOrderId(), customer: me.id, item: product.id, quantity, total: cents(product.price * quantity), status: 'open', placedAt: Date.now() };
  flashes.add(order.id);
  write(order.id, orders.create(order));
  ui.quantity.value = '1';
  updateTotal();
});

// ---- changing and cancelling: JSON Patches of one order, shown at once, undone if the server refuses

ui.rows.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  const key = button?.closest('tr')?.dataset.key;
  const order = key === undefined ? undefined : orders.get(key);
  if (order === undefined) return;
  clearToasts();
  if (button.classList.contains('cancel')) {
    write(key, orders.patch(key, [{ op: 'replace', path: '/status', value: 'cancelled' }]));
  } else if (button.classList.contains('less') || button.classList.contains('more')) {
    const product = catalog.get(order.item);
    if (product === undefined) return showError('That item is no longer sold: cancel the order and place a new one.');
    const quantity = order.quantity + (button.classList.contains('more') ? 1 : -1);
    // The quantity and the total change together, in one patch: the server validates the result as a whole.
    write(
      key,
      orders.patch(key, [
        { op: 'replace', path: '/quantity', value: quantity },
        { op: 'replace', path: '/total', value: cents(product.price * quantity) },
      ]),
    );
  }
});

/** Marks the order as saving until the server answers; a refusal is shown (the copy has undone the change). */
function write(key, promise) {
  saving.add(key);
  scheduleRender();
  promise
    .catch(showError)
    .finally(() => {
      saving.delete(key);
      scheduleRender();
    });
}

// ---- the table of orders, drawn from the live copy

function describe(order) {
  return `${order.quantity} × ${catalog.get(order.item)?.name ?? order.item}`;
}

function render() {
  if (orders === undefined) return;
  const list = [...orders.records.values()].sort(newestFirst);
  for (const order of list) updateRow(rows.get(order.id) ?? newRow(order.id), order);
  for (const key of rows.keys()) if (!orders.records.has(key)) rows.delete(key);
  placeRows(ui.rows, list.map((order) => order.id), rows);
  for (const key of flashes) if (rows.has(key)) flash(rows.get(key));
  flashes.clear();
  ui.noOrders.hidden = list.length > 0;
  const figures = figuresOf(list);
  ui.spent.textContent = money(figures.revenue);
  ui.openValue.textContent = money(figures.openValue);
}

function newRow(key) {
  const row = document.createElement('tr');
  row.dataset.key = key;
  row.innerHTML = `
    <td class="item"></td>
    <td class="quantity"><button type="button" class="less step" aria-label="One fewer">−</button><span class="count"></span><button type="button" class="more step" aria-label="One more">+</button></td>
    <td class="number total"></td>
    <td class="order-status"></td>
    <td class="actions"><button type="button" class="cancel secondary">Cancel</button></td>`;
  rows.set(key, row);
  return row;
}

function updateRow(row, order) {
  const editable = writable() && order.status === 'open';
  row.dataset.status = order.status;
  row.classList.toggle('saving', saving.has(order.id));
  row.querySelector('.item').textContent = catalog.get(order.item)?.name ?? order.item;
  row.querySelector('.count').textContent = String(order.quantity);
  row.querySelector('.total').textContent = money(order.total);
  const status = row.querySelector('.order-status');
  if (status.firstChild?.dataset?.status !== order.status) status.replaceChildren(statusBadge(order.status));
  // Only an open order can change (the others show their quantity without the buttons: style.css).
  row.querySelector('.less').disabled = !editable || order.quantity <= 1;
  row.querySelector('.more').disabled = !editable || order.quantity >= MAX_QUANTITY;
  const cancel = row.querySelector('.cancel');
  cancel.hidden = order.status !== 'open';
  cancel.disabled = !editable;
}
