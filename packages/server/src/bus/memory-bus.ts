// The in-memory bus: one process, synchronous delivery; the reference every other bus is tested against.
import type { Bus, BusListener, ClusterListener, ClusterMessage } from './bus.ts';

/**
 * A bus for a single process. Carries every message kind as the same object, synchronously.
 *
 * @example
 * const server = createServer({ bus: new MemoryBus() }); // the default
 */
export class MemoryBus implements Bus {
  private readonly topics = new Map<string, Set<BusListener | ClusterListener>>();
  private closed = false;

  publish(message: ClusterMessage): void {
    if (this.closed) return;
    const listeners = this.topics.get(message.topic);
    if (!listeners) return;
    // Publication topics carry only publications, so a BusListener there gets what it expects.
    for (const listener of listeners) (listener as ClusterListener)(message);
  }

  subscribe(topic: string, listener: BusListener | ClusterListener): void {
    let listeners = this.topics.get(topic);
    if (!listeners) {
      listeners = new Set();
      this.topics.set(topic, listeners);
    }
    listeners.add(listener);
  }

  unsubscribe(topic: string, listener: BusListener | ClusterListener): void {
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
