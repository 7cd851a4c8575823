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

const SETTLED: unique symbol = Symbol('switchboard.settled');

/**
 * A promise of a value that is known already, marked so. Application code sees an ordinary promise (its
 * `then` answers in a microtask, as always); the message pipeline reads the mark and completes the message
 * at once, so a handler that returns, say, a memory resource's write does not hold its message in flight
 * until a microtask (and a burst from one connection is not refused past `limits.maxInFlight`).
 *
 * @example
 * return isThenable(result) ? Promise.resolve(result) : settled(result);
 */
export function settled<T>(value: T): Promise<T> {
  const promise = Promise.resolve(value);
  (promise as Promise<T> & { [SETTLED]?: { value: T } })[SETTLED] = { value };
  return promise;
}

/** The value of a promise made by `settled`, or undefined for any other value. */
export function settledValue(value: unknown): { value: unknown } | undefined {
  return typeof value === 'object' && value !== null ? (value as { [SETTLED]?: { value: unknown } })[SETTLED] : undefined;
}
