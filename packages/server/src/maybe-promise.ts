// The result type of back-end contracts that in-memory implementations answer synchronously.

/**
 * A value or a promise of it. In-memory back ends return the value, so the hot path allocates no
 * promise; networked back ends return a promise. Callers `await` it (or check for `then`).
 *
 * @example
 * const position = await history.append('orders.eu', data); // works for both
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Whether a value is a promise (anything with `then`): the check that lets a caller of a `MaybePromise`
 * stay synchronous when the back end answered at once.
 *
 * @example
 * const page = history.since(stream, at);
 * if (isThenable(page)) return page.then(reply); else reply(page);
 */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<T>).then === 'function';
}
