// The back office: every order live (the back office has no scope), running figures computed from that copy as it
// changes, the actions that move orders on (shop.markPaid, shop.ship), and holds on customers (shop.hold / shop.release).
import {
  $,
  batched,
  clearToasts,
  client,
  flash,
  money,
  nameFromAddress,
  newestFirst,
  placeRows,
  showConnection,
  showError,
  showLiveState,
  signIn,
  statusBadge,
} from './app.js';
import { customersOf, figuresOf, STATUSES } from './figures.js';

const ui = {
  status: $('status'),
  meName: $('me-name'),
  ordersState: $('orders-state'),
  rows: $('order-rows'),
  noOrders: $('no-orders'),
  customers: $('customers'),
  noCustomers: $('no-customers'),
  figure: (name) => $(`figure-${name}`),
};

/** Product id → `{ id, name, price }`, from `shop.catalog`. */
let catalog = new Map();
/** Live copies: every order, and the customers on hold. */
let orders;
let holds;
/** Order key → row, customer id → list item; keys to highlight at the next render; what has a request on its way. */
const rows = new Map();
const customerItems = new Map();
const flashes = new Set();
const busy = new Set();

const scheduleRender = batched(render);
showConnection(ui.status, () => scheduleRender());

// ---- start: sign in, read the catalog, follow the orders and the holds

async function main() {
  const name = nameFromAddress() ?? 'Back office';
  ui.meName.textContent = name;
  await signIn(name, 'backoffice');
  const { items } = await client.request('shop.catalog', {});
  catalog = new Map(items.map((product) => [product.id, product]));

  orders = client.live('orders');
  holds = client.live('holds');
  showLiveState(orders, ui.ordersState);
  orders.on('change', ({ key, source }) => {
    // Highlight what changed while the page is live; not the records of a (re)loaded snapshot.
    if (source === 'server' && orders.state === 'live') flashes.add(key);
    scheduleRender();
  });
  holds.on('change', scheduleRender);
  for (const live of [orders, holds]) {
    live.on('state', scheduleRender);
    live.on('ended', ({ reason }) => showError(`The server stopped sending ${live.resource} (${reason}). Reload the page.`, { persist: true }));
  }
  await Promise.all([orders.ready, holds.ready]);
  scheduleRender();
}

main().catch((error) => showError(error, { persist: true }));

// ---- actions: the shop's messages for orders, live writes for removing one, and holds on customers

ui.rows.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  const key = button?.closest('tr')?.dataset.key;
  if (key === undefined) return;
  clearToasts();
  if (button.classList.contains('pay')) act(key, client.request('shop.markPaid', { id: key }));
  else if (button.classList.contains('ship')) act(key, client.request('shop.ship', { id: key }));
  // The back office may write any order directly (authorizeWrite lets it): here, delete a cancelled one.
  else if (button.classList.contains('remove')) act(key, orders.delete(key));
});

ui.customers.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  const customer = button?.closest('li')?.dataset.customer;
  if (customer === undefined) return;
  clearToasts();
  const type = button.classList.contains('release') ? 'shop.release' : 'shop.hold';
  act(`customer:${customer}`, client.request(type, { customer }));
});

/** Marks `what` busy (its buttons disabled) until the request settles; a refusal is shown in words. */
function act(what, promise) {
  busy.add(what);
  scheduleRender();
  promise
    .catch(showError)
    .finally(() => {
      busy.delete(what);
      scheduleRender();
    });
}

// ---- drawing: the figures, the orders and the customers, from the live copies

function render() {
  if (orders === undefined) return;
  const list = [...orders.records.values()].sort(newestFirst);
  renderFigures(list);
  for (const order of list) updateRow(rows.get(order.id) ?? newRow(order.id), order);
  for (const key of rows.keys()) if (!orders.records.has(key)) rows.delete(key);
  placeRows(ui.rows, list.map((order) => order.id), rows);
  for (const key of flashes) if (rows.has(key)) flash(rows.get(key));
  flashes.clear();
  ui.noOrders.hidden = list.length > 0;
  renderCustomers(list);
}

/** The running figures (figures.js), recomputed from every order held: a few hundred orders take well under a millisecond. */
function renderFigures(list) {
  const figures = figuresOf(list);
  ui.figure('count').textContent = String(figures.count);
  for (const status of STATUSES) ui.figure(status).textContent = String(figures.byStatus[status]);
  ui.figure('revenue').textContent = money(figures.revenue);
  ui.figure('open-value').textContent = money(figures.openValue);
  ui.figure('customers').textContent = String(figures.customers);
}

function newRow(key) {
  const row = document.createElement('tr');
  row.dataset.key = key;
  row.innerHTML = `
    <td class="placed"></td>
    <td class="customer"></td>
    <td class="item"></td>
    <td class="number quantity"></td>
    <td class="number total"></td>
    <td class="order-status"></td>
    <td class="actions">
      <button type="button" class="pay">Mark paid</button>
      <button type="button" class="ship">Ship</button>
      <button type="button" class="remove secondary">Remove</button>
    </td>`;
  rows.set(key, row);
  return row;
}

function updateRow(row, order) {
  const disabled = client.state !== 'open' || orders.state !== 'live' || busy.has(order.id);
  row.dataset.status = order.status;
  row.dataset.customer = order.customer;
  row.querySelector('.placed').textContent = new Date(order.placedAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  row.querySelector('.customer').textContent = order.customer;
  row.querySelector('.item').textContent = catalog.get(order.item)?.name ?? order.item;
  row.querySelector('.quantity').textContent = String(order.quantity);
  row.querySelector('.total').textContent = money(order.total);
  const status = row.querySelector('.order-status');
  if (status.firstChild?.dataset?.status !== order.status) status.replaceChildren(statusBadge(order.status));
  // One next step per status: open → paid → shipped; a cancelled order can be removed.
  for (const [name, shown] of [
    ['pay', order.status === 'open'],
    ['ship', order.status === 'paid'],
    ['remove', order.status === 'cancelled'],
  ]) {
    const button = row.querySelector(`.${name}`);
    button.hidden = !shown;
    button.disabled = disabled;
  }
}

/** Every customer who ordered, and every customer on hold, with their figures and a hold button. */
function renderCustomers(list) {
  const entries = customersOf(list);
  for (const customer of holds?.records.keys() ?? []) {
    if (!entries.some((entry) => entry.customer === customer)) entries.push({ customer, orders: 0, spent: 0 });
  }
  for (const entry of entries) updateCustomer(customerItems.get(entry.customer) ?? newCustomer(entry.customer), entry);
  const shown = new Set(entries.map((entry) => entry.customer));
  for (const customer of customerItems.keys()) if (!shown.has(customer)) customerItems.delete(customer);
  placeRows(ui.customers, [...shown], customerItems);
  ui.noCustomers.hidden = entries.length > 0;
}

function newCustomer(customer) {
  const item = document.createElement('li');
  item.dataset.customer = customer;
  item.innerHTML = `
    <div><span class="name"></span> <span class="meta"></span></div>
    <div class="hold-note"></div>
    <button type="button" class="hold secondary">Put on hold</button>
    <button type="button" class="release">Lift hold</button>`;
  item.querySelector('.name').textContent = customer;
  customerItems.set(customer, item);
  return item;
}

function updateCustomer(item, { customer, orders: count, spent }) {
  const hold = holds?.get(customer);
  item.dataset.hold = hold === undefined ? 'off' : 'on';
  item.querySelector('.meta').textContent = `${count} order${count === 1 ? '' : 's'} · ${money(spent)} paid`;
  const note = item.querySelector('.hold-note');
  note.hidden = hold === undefined;
  if (hold !== undefined) note.textContent = `On hold since ${new Date(hold.since).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}, by ${hold.byName}`;
  const disabled = client.state !== 'open' || holds.state !== 'live' || busy.has(`customer:${customer}`);
  item.querySelector('.hold').hidden = hold !== undefined;
  item.querySelector('.release').hidden = hold === undefined;
  for (const button of item.querySelectorAll('button')) button.disabled = disabled;
}
