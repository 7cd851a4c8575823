// Types of figures.js, for the tests that check the back office's figures with the page's own code.

export type OrderStatus = 'open' | 'paid' | 'shipped' | 'cancelled';

/** What the figures read of an order. */
export interface OrderLike {
  customer: string;
  total: number;
  status: OrderStatus;
}

export interface Figures {
  count: number;
  byStatus: Record<OrderStatus, number>;
  /** Paid and shipped orders. */
  revenue: number;
  /** Open orders: placed, not paid yet. */
  openValue: number;
  /** How many customers ordered. */
  customers: number;
}

export interface CustomerFigures {
  customer: string;
  orders: number;
  /** Paid and shipped orders. */
  spent: number;
}

export declare const STATUSES: readonly OrderStatus[];
export declare function cents(amount: number): number;
export declare function figuresOf(orders: Iterable<OrderLike>): Figures;
export declare function customersOf(orders: Iterable<OrderLike>): CustomerFigures[];
