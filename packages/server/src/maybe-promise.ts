// The result type of back-end contracts that in-memory implementations answer synchronously.

/**
 * A value or a promise of it. In-memory back ends return the value, so the hot path allocates no
 * promise; networked back ends return a promise. Callers `await` it (or check for `then`).
 *
 * @example
 * const position = await history.append('orders.eu', data); // works for both
 */
export type MaybePromise<T> = T | Promise<T>;
