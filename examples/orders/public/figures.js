// The back office's running figures, computed from the orders it holds: plain functions the page and the tests share.

/** Every status an order can have, in the order an order goes through them (cancelled last). */
export const STATUSES = ['open', 'paid', 'shipped', 'cancelled'];

/**
 * A sum of money, rounded to the cent (totals are added up one order at a time, and 0.1 + 0.2 is not 0.3).
 *
 * @example
 * cents(0.1 + 0.2) // 0.3
 */
export function cents(amount) {
  return Math.round(amount * 100) / 100;
}

/**
 * The figures of a set of orders: how many, how many at each status, the revenue (paid and shipped orders),
 * what is still open (placed, not paid yet), and how many customers ordered.
 *
 * @example
 * figuresOf(orders.records.values())
 * // { count: 3, byStatus: { open: 1, paid: 1, shipped: 1, cancelled: 0 }, revenue: 57, openValue: 14.5, customers: 2 }
 */
export function figuresOf(orders) {
  const byStatus = Object.fromEntries(STATUSES.map((status) => [status, 0]));
  const customers = new Set();
  let count = 0;
  let revenue = 0;
  let openValue = 0;
  for (const order of orders) {
    count++;
    byStatus[order.status] = (byStatus[order.status] ?? 0) + 1;
    customers.add(order.customer);
    if (order.status === 'paid' || order.status === 'shipped') revenue += order.total;
    else if (order.status === 'open') openValue += order.total;
  }
  return { count, byStatus, revenue: cents(revenue), openValue: cents(openValue), customers: customers.size };
}

/**
 * Per customer: how many orders they placed and what they spent (paid and shipped orders), biggest spender first.
 *
 * @example
 * customersOf(orders.records.values()) // [{ customer: 'ada', orders: 2, spent: 57 }, …]
 */
export function customersOf(orders) {
  const byCustomer = new Map();
  for (const order of orders) {
    const entry = byCustomer.get(order.customer) ?? { customer: order.customer, orders: 0, spent: 0 };
    entry.orders++;
    if (order.status === 'paid' || order.status === 'shipped') entry.spent = cents(entry.spent + order.total);
    byCustomer.set(order.customer, entry);
  }
  return [...byCustomer.values()].sort((a, b) => b.spent - a.spent || a.customer.localeCompare(b.customer));
}
