// A tiny typed event emitter for browsers and Node (no node:events): `on` returns its own unsubscribe.

/** Listener arguments by event name, like Node's typed `EventEmitter<T>`. */
export type EventMap = { [name: string]: unknown[] };

/**
 * The listening half of an emitter: what the client exposes, so only the client itself can emit.
 *
 * @example
 * const off = client.events.on('state', ({ state }) => console.log(state));
 * off();
 */
export interface EventSource<Events extends EventMap> {
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events & string>(name: K, listener: (...args: Events[K]) => void): () => void;
  /** Adds a listener that is removed after its first call; returns a function that removes it sooner. */
  once<K extends keyof Events & string>(name: K, listener: (...args: Events[K]) => void): () => void;
  off<K extends keyof Events & string>(name: K, listener: (...args: Events[K]) => void): void;
}

type AnyListener = (...args: any[]) => void;

/**
 * A synchronous emitter. A listener that throws does not stop the others: its error is rethrown on a
 * microtask, where the host reports it (console in browsers, `uncaughtException` in Node).
 *
 * @example
 * const emitter = new Emitter<{ tick: [n: number] }>();
 * emitter.on('tick', (n) => console.log(n));
 * emitter.emit('tick', 1);
 */
export class Emitter<Events extends EventMap> implements EventSource<Events> {
  private readonly listeners = new Map<string, Set<AnyListener>>();

  on<K extends keyof Events & string>(name: K, listener: (...args: Events[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => this.off(name, listener);
  }

  once<K extends keyof Events & string>(name: K, listener: (...args: Events[K]) => void): () => void {
    const wrapper = (...args: Events[K]): void => {
      off();
      listener(...args);
    };
    const off = this.on(name, wrapper);
    return off;
  }

  off<K extends keyof Events & string>(name: K, listener: (...args: Events[K]) => void): void {
    const set = this.listeners.get(name);
    if (!set) return;
    set.delete(listener);
    if (set.size === 0) this.listeners.delete(name);
  }

  emit<K extends keyof Events & string>(name: K, ...args: Events[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of set) {
      try {
        listener(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** Whether anyone listens to `name`. */
  has(name: keyof Events & string): boolean {
    return this.listeners.has(name);
  }

  clear(): void {
    this.listeners.clear();
  }
}
