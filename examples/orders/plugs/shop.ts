// The shop: orders as live data in SQLite (customers see and change their own, the back office all of them),
// and the back office's actions: mark an order paid, ship it, put a customer's changes on hold and lift it.
import { fileURLToPath } from 'node:url';
import { definePlug, defineResource, ErrorCode, MessageError, sqliteSource, z, type Connection, type ResourceHandle, type WriteChange } from '@switchboard/server';
import { isBackOffice, signedInUser, WRITE_ORDERS, type User } from '../auth.ts';

/** What the shop sells. The server prices every order from this list; the customer page shows it (`shop.catalog`). */
export const productSchema = z.object({ id: z.string(), name: z.string(), price: z.number() });
export type Product = z.output<typeof productSchema>;
export const CATALOG: readonly Product[] = [
  { id: 'beans', name: 'Espresso beans, 1 kg', price: 18.5 },
  { id: 'tea', name: 'Green tea, 250 g', price: 7.25 },
  { id: 'mug', name: 'Stoneware mug', price: 12 },
  { id: 'grinder', name: 'Hand grinder', price: 45 },
];

/** An order goes open → paid → shipped (the back office moves it on), or open → cancelled (its customer). */
export const ORDER_STATUSES = ['open', 'paid', 'shipped', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const MAX_QUANTITY = 99;

/** One order: a record of the `orders` resource, keyed by `id`. */
export const orderSchema = z.object({
  /** Made by the page that places the order, so it can show the order before the server has answered. */
  id: z.string().min(1).max(64),
  /** The identity id of the customer; a customer's `scope` is `{ customer: <their id> }`. */
  customer: z.string().min(1).max(200),
  /** A product id from CATALOG. */
  item: z.string().min(1).max(64),
  quantity: z.number().int().min(1).max(MAX_QUANTITY),
  /** The product's price × quantity: checked on every customer write, so nobody sets their own price. */
  total: z.number().min(0),
  status: z.enum(ORDER_STATUSES),
  /** When the order was placed (ms since the epoch): pages list the newest first. */
  placedAt: z.number().int().min(0),
});
export type Order = z.output<typeof orderSchema>;

/** A customer whose changes are on hold: a record of the `holds` resource, keyed by `customer`. */
export const holdSchema = z.object({
  customer: z.string().min(1).max(200),
  /** The back-office user who put the hold on, and their name. */
  by: z.string(),
  byName: z.string(),
  since: z.number().int(),
});
export type Hold = z.output<typeof holdSchema>;

/**
 * The codes the shop's messages refuse with, besides the server's own (`forbidden` without the grant,
 * `not_found` for an order that does not exist, `conflict` when it changed while being moved on). Match on
 * these, not on the message text.
 */
export const ShopErrorCode = {
  /** The caller is not the back office (by the role in their token), even if a runtime grant lets them call shop.*. */
  backOfficeOnly: 'back_office_only',
  /** The order is not at the status the action moves on from: shipping an open order, paying a cancelled one. */
  wrongStatus: 'wrong_status',
  /** A back-office user tried to put their own account on hold. */
  ownAccount: 'own_account',
} as const;
export type ShopErrorCode = (typeof ShopErrorCode)[keyof typeof ShopErrorCode];

/**
 * What `quantity` of a product costs, rounded to the cent (the customer page computes it the same way).
 *
 * @example
 * totalFor(7.25, 3) // 21.75
 */
export function totalFor(price: number, quantity: number): number {
  return Math.round(price * quantity * 100) / 100;
}

/** Why an order's item or total is wrong, or undefined when the server would price it the same. */
function priceProblem(order: Order): string | undefined {
  const product = CATALOG.find((candidate) => candidate.id === order.item);
  if (product === undefined) return `The shop does not sell "${order.item}".`;
  const expected = totalFor(product.price, order.quantity);
  return order.total === expected ? undefined : `${order.quantity} × ${product.name} cost ${expected}, not ${order.total}.`;
}

/** Fields of an order its customer cannot change once it is placed (the id is the key: nobody changes that). */
const FIXED_FIELDS = ['customer', 'item', 'placedAt'] as const;

/**
 * The rules for a customer's own writes (the resource's `scope` already keeps them to their own orders):
 * they place open orders at the catalog price, change the quantity of an open order (its total with it) and
 * cancel an open order; nothing else. true, or the refusal the customer reads (`forbidden`).
 *
 * @example
 * customerMayWrite({ op: 'patch', key: 'o-1', before: open, after: { ...open, status: 'shipped' } })
 * // 'You can cancel an order; the shop marks it paid and ships it.'
 */
export function customerMayWrite(change: WriteChange<Order>): true | string {
  const { before, after } = change;
  if (after === undefined) return 'Orders are not deleted: cancel it instead.';
  if (before === undefined) {
    if (after.status !== 'open') return 'A new order is open: the shop marks it paid and ships it.';
    return priceProblem(after) ?? true;
  }
  if (before.status !== 'open') return `This order is ${before.status}: it can no longer be changed.`;
  for (const field of FIXED_FIELDS) {
    if (after[field] !== before[field]) return `The ${field} of an order cannot be changed: cancel it and place a new one.`;
  }
  if (after.status !== 'open' && after.status !== 'cancelled') return 'You can cancel an order; the shop marks it paid and ships it.';
  return priceProblem(after) ?? true;
}

/** The connection's user when it is the back office; `back_office_only` otherwise (the grant check ran before). */
function backOfficeUser(connection: Connection): User {
  const user = signedInUser(connection);
  if (user.role !== 'backoffice') throw new MessageError(ShopErrorCode.backOfficeOnly, 'Only the back office can do that.');
  return user;
}

/** How each back-office action reads in a refusal: "only paid orders can be shipped". */
const DONE: Record<OrderStatus, string> = { open: 'reopened', paid: 'marked paid', shipped: 'shipped', cancelled: 'cancelled' };

/**
 * Moves an order on from status `from` to `to` as the back office: a plug write, so no grant, scope or
 * `authorizeWrite` applies, but the schema does, and every live copy that holds the order sees the change.
 */
async function moveOn(orders: ResourceHandle<Order>, connection: Connection, id: string, from: OrderStatus, to: OrderStatus): Promise<Order> {
  backOfficeUser(connection);
  const record = orders.get(id);
  if (record === undefined) throw new MessageError(ErrorCode.notFound, `There is no order ${id}.`, { id });
  const status = record.value.status;
  if (status !== from) throw new MessageError(ShopErrorCode.wrongStatus, `Order ${id} is ${status}: only ${from} orders can be ${DONE[to]}.`, { id, status });
  // At the version just read: if its customer changed it in between (say, cancelled it), this is a conflict, not an overwrite.
  const reply = await orders.patch(id, [{ op: 'replace', path: '/status', value: to }], { ifVersion: record.version });
  return reply.value!;
}

/** Where `npm start` keeps the data: ORDERS_DB, or data/orders.db in this example (git-ignored). */
export const DEFAULT_DATABASE = process.env.ORDERS_DB || fileURLToPath(new URL('../data/orders.db', import.meta.url));

const orderRef = z.object({ id: z.string().min(1).max(64) });
const customerRef = z.object({ customer: z.string().trim().min(1).max(200) });
/** The outcome of a hold or a release: whether the customer is on hold now, and whether that changed. */
const holdResult = z.object({ customer: z.string(), onHold: z.boolean(), changed: z.boolean() });

/**
 * The shop plug with its data in the SQLite file `file` (created with its folder when missing); the default
 * export uses DEFAULT_DATABASE, the tests a temporary file. Orders and holds are two tables of that file.
 *
 * @example
 * const shop = createShop({ file: join(dir, 'orders.db') });
 */
export function createShop(options: { file: string } = { file: DEFAULT_DATABASE }) {
  const storage = sqliteSource({ file: options.file });

  const orders = defineResource({
    description: 'Orders: a customer sees and changes their own, the back office all of them',
    key: 'id',
    schema: orderSchema,
    source: storage,
    // Reading needs read:orders and writing write:orders (the default access); the scope narrows both.
    scope: (connection) => (isBackOffice(connection) ? undefined : { customer: connection.identity?.id ?? '' }),
    authorizeWrite: (change, connection) => (isBackOffice(connection) ? true : customerMayWrite(change)),
  });

  const holds = defineResource({
    description: 'Customers whose changes to their orders are on hold (shop.hold / shop.release)',
    key: 'customer',
    schema: holdSchema,
    source: storage,
    // The back office reads them (read:holds); only this plug writes them, together with the grant change.
    access: { read: 'grant', write: 'none' },
  });

  return definePlug({
    name: 'shop',
    resources: { orders, holds },
    messages: {
      'shop.catalog': {
        description: 'What the shop sells, with prices',
        input: z.object({}),
        output: z.object({ items: z.array(productSchema) }),
        handler: () => ({ items: [...CATALOG] }),
      },
      'shop.markPaid': {
        description: 'Back office: an open order was paid',
        input: orderRef,
        output: orderSchema,
        handler: ({ id }, ctx) => moveOn(ctx.resources.orders, ctx.connection, id, 'open', 'paid'),
      },
      'shop.ship': {
        description: 'Back office: a paid order was shipped',
        input: orderRef,
        output: orderSchema,
        handler: ({ id }, ctx) => moveOn(ctx.resources.orders, ctx.connection, id, 'paid', 'shipped'),
      },
      'shop.hold': {
        description: "Back office: puts a customer's changes on hold (takes write:orders away, on their open pages too)",
        input: customerRef,
        output: holdResult,
        async handler({ customer }, ctx) {
          const by = backOfficeUser(ctx.connection);
          if (customer === by.id) throw new MessageError(ShopErrorCode.ownAccount, 'You cannot put your own account on hold.');
          if (ctx.resources.holds.get(customer) !== undefined) return { customer, onHold: true, changed: false };
          // Stored first, so the hold outlives a restart (onLoad applies it again); then applied to live connections.
          await ctx.resources.holds.create({ customer, by: by.id, byName: by.name, since: Date.now() });
          ctx.server.revoke(customer, [WRITE_ORDERS], { reason: `changes put on hold by ${by.name}` });
          return { customer, onHold: true, changed: true };
        },
      },
      'shop.release': {
        description: "Back office: lifts a customer's hold (gives write:orders back)",
        input: customerRef,
        output: holdResult,
        async handler({ customer }, ctx) {
          const by = backOfficeUser(ctx.connection);
          if (ctx.resources.holds.get(customer) === undefined) return { customer, onHold: false, changed: false };
          await ctx.resources.holds.delete(customer);
          ctx.server.grant(customer, [WRITE_ORDERS], { reason: `hold lifted by ${by.name}` });
          return { customer, onHold: false, changed: true };
        },
      },
    },
    onLoad(server) {
      // Holds are stored, runtime grant changes are not: apply them again after a restart. After a hot swap
      // this changes nothing, and nobody is told anything.
      for (const { value } of server.resource<Hold>('holds').list()) {
        server.revoke(value.customer, [WRITE_ORDERS], { reason: `changes on hold (put on by ${value.byName})` });
      }
    },
  });
}

export default createShop();
