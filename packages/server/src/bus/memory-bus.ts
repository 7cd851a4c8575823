// The in-memory bus: one process, synchronous delivery; the reference every other bus is tested against.
import type { Bus, BusListener, BusMessage } from './bus.ts';

/**
 * A bus for a single process.
 *
 * @example
 * const server = createServer({ bus: new MemoryBus() }); // the default
 */
export class MemoryBus implements Bus {
  private readonly topics = new Map<string, Set<BusListener>>();
  private closed = false;

  publish(message: BusMessage): void {
    if (this.closed) return;
    const listeners = this.topics.get(message.topic);
    if (!listeners) return;
    for (const listener of listeners) listener(message);
  }

  subscribe(topic: string, listener: BusListener): void {
    let listeners = this.topics.get(topic);
    if (!listeners) {
      listeners = new Set();
      this.topics.set(topic, listeners);
    }
    listeners.add(listener);
  }

  unsubscribe(topic: string, listener: BusListener): void {
    const listeners = this.topics.get(topic);
    if (!listeners) return;
    listeners.delete(listener);
    if (listeners.size === 0) this.topics.delete(topic);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.topics.clear();
  }
}
