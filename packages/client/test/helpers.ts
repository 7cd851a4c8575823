// Test helpers for the client suites: await an event or a condition, with a bound on time.
import type { ClientEvents, EventSource } from '@switchboard/client';

/** Resolves with the first `name` event that matches, or rejects after `timeoutMs`. */
export function nextEvent<K extends keyof ClientEvents & string>(
  events: EventSource<ClientEvents>,
  name: K,
  match: (...args: ClientEvents[K]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<ClientEvents[K][0]> {
  return quiet(new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching "${name}" event within ${timeoutMs} ms`));
    }, timeoutMs).unref();
    const off = events.on(name, (...args) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      off();
      resolve(args[0]);
    });
  }));
}

/** A promise with its resolve function outside, for handlers that wait on the test. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

/** Resolves with the first value `subscribe` hands its callback, or rejects after `timeoutMs`. */
export function nextValue<T>(subscribe: (callback: (value: T) => void) => () => void, timeoutMs = 5000): Promise<T> {
  return quiet(new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no value within ${timeoutMs} ms`));
    }, timeoutMs).unref();
    const off = subscribe((value) => {
      clearTimeout(timer);
      off();
      resolve(value);
    });
  }));
}

/**
 * A waiter a failing test never reached must not outlive it: its timer does not hold the process open,
 * and its rejection is not reported as unhandled (awaiting it still throws).
 */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
