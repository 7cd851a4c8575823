// The bus between the workers of one machine: publications go to the agent, which relays them to every worker subscribed to the topic.
import type { Bus, BusListener, ClusterListener, ClusterMessage } from '../bus/bus.ts';
import type { IpcLink } from './ipc-link.ts';

/**
 * A worker's bus in a cluster run by an agent (`switchboard start --workers N`). Each topic this worker
 * listens on is subscribed at the agent while it has a listener; `publish` sends the message to the agent,
 * which relays it to every worker subscribed to its topic, this one included, in the order it received
 * them. Messages of one topic therefore arrive everywhere in one order, whatever worker published them
 * (channel messages with history positions in the order of their offsets: the agent hands them out).
 *
 * Subscribing is asynchronous across workers, as with any networked bus: the agent delivers to a worker
 * once its subscription arrived. On one worker the channel keeps order, so a worker that subscribes then
 * publishes receives its own message; `settled()` resolves once every subscription change made so far
 * has reached the agent.
 *
 * @example
 * const cluster = joinCluster();           // in a worker the agent started
 * const server = createServer({ ...cluster.serverOptions(), port: 3000 });
 */
export class IpcBus implements Bus {
  private readonly link: IpcLink;
  private readonly topics = new Map<string, Set<BusListener | ClusterListener>>();
  private readonly onError: (error: unknown) => void;
  private closed = false;

  constructor(link: IpcLink, options: { onError?: (error: unknown) => void } = {}) {
    this.link = link;
    this.onError = options.onError ?? ((error) => console.error('[switchboard/cluster] bus listener failed:', error));
    link.setReceiver(this.receive);
  }

  /** Whether the agent can be reached (false once its IPC channel closed: the worker then exits). */
  get connected(): boolean {
    return !this.closed && this.link.connected;
  }

  publish(message: ClusterMessage): void {
    if (this.closed) return;
    this.link.send({ sb: 'pub', message });
  }

  subscribe(topic: string, listener: BusListener): void;
  subscribe(topic: string, listener: ClusterListener): void;
  subscribe(topic: string, listener: BusListener | ClusterListener): void {
    if (this.closed) return;
    let listeners = this.topics.get(topic);
    if (listeners === undefined) {
      listeners = new Set();
      this.topics.set(topic, listeners);
      this.link.send({ sb: 'sub', topic });
    }
    listeners.add(listener);
  }

  unsubscribe(topic: string, listener: BusListener): void;
  unsubscribe(topic: string, listener: ClusterListener): void;
  unsubscribe(topic: string, listener: BusListener | ClusterListener): void {
    const listeners = this.topics.get(topic);
    if (!listeners?.delete(listener) || listeners.size > 0) return;
    this.topics.delete(topic);
    if (!this.closed) this.link.send({ sb: 'unsub', topic });
  }

  /** Resolves once the agent has applied every subscribe and unsubscribe made so far. */
  settled(): Promise<void> {
    return this.link.sync();
  }

  /**
   * Stops delivery. First waits for the history calls still in flight on the same link: a channel message
   * whose append was answered is published before the bus closes, so a server shutting down does not lose
   * one it already acknowledged to its client.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    // The publication follows its append's answer in a promise continuation, and the next append of that
    // channel follows the publication: wait until a turn of the event loop ends with no call in flight.
    for (let round = 0; round < 1000; round++) {
      await this.link.idle();
      await new Promise((resolve) => setImmediate(resolve));
      if (!this.link.busy) break;
    }
    this.closed = true;
    for (const topic of this.topics.keys()) this.link.send({ sb: 'unsub', topic });
    this.topics.clear();
    this.link.setReceiver(undefined);
    await this.link.sync();
  }

  private readonly receive = (message: ClusterMessage): void => {
    if (this.closed) return;
    const listeners = this.topics.get(message.topic);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        (listener as ClusterListener)(message);
      } catch (error) {
        this.onError(error);
      }
    }
  };
}
