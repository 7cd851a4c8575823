// Puts a channel's messages in the order of their history offsets when several workers publish to it at once.
import type { BusMessage } from '../bus/bus.ts';
import type { StreamPosition } from '../stream/history.ts';

/** One stream's offsets handed out and not yet seen published, and the messages held back behind them. */
interface StreamOrder {
  epoch: string;
  waiting: Map<number, { owner: object; at: number }>;
  held: Map<number, BusMessage>;
}

/**
 * A worker publishes a channel message with history in two steps: it appends to the agent's history (which
 * hands out the offset), then publishes the message with its position. Two workers publishing to one
 * channel at once may get offsets 5 and 6 and have 6 arrive first. The sequencer holds 6 back until 5 is
 * published, or until the worker that got 5 is gone (`forget`), or `holdMs` passed (it never published
 * it: a resource's stream, say, whose operations are not channel messages).
 *
 * Only `$message` publications whose offset the sequencer saw handed out are ever held; everything else
 * passes at once.
 *
 * @example
 * const sequencer = new Sequencer(1000, (message) => relay(message));
 * sequencer.issued('orders', position, worker);
 * sequencer.publish('orders', position, message); // relayed now, or once the offsets before it are
 */
export class Sequencer {
  private readonly holdMs: number;
  private readonly release: (message: BusMessage) => void;
  private readonly streams = new Map<string, StreamOrder>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(holdMs: number, release: (message: BusMessage) => void, now: () => number = Date.now) {
    this.holdMs = holdMs;
    this.release = release;
    this.now = now;
  }

  /** An append answered `position` to `owner`: its publication will come. */
  issued(stream: string, position: StreamPosition, owner: object): void {
    let order = this.streams.get(stream);
    if (order !== undefined && order.epoch !== position.epoch) {
      // The stream started again: nothing of the old epoch is worth waiting for.
      this.flush(order);
      order = undefined;
    }
    if (order === undefined) {
      order = { epoch: position.epoch, waiting: new Map(), held: new Map() };
      this.streams.set(stream, order);
    }
    order.waiting.set(position.offset, { owner, at: this.now() });
    this.arm();
  }

  /** A channel message with a position: relayed now when nothing before it is awaited, else held. */
  publish(stream: string, position: StreamPosition, message: BusMessage): void {
    const order = this.streams.get(stream);
    if (order === undefined || order.epoch !== position.epoch) return this.release(message);
    order.waiting.delete(position.offset);
    if (position.offset > this.lowestWaiting(order)) {
      order.held.set(position.offset, message);
      return;
    }
    this.release(message);
    this.drain(stream, order);
  }

  /** `owner` is gone: its offsets will never be published. */
  forget(owner: object): void {
    for (const [stream, order] of this.streams) {
      for (const [offset, entry] of order.waiting) if (entry.owner === owner) order.waiting.delete(offset);
      this.drain(stream, order);
    }
  }

  /** Releases everything held, in order, and stops. */
  close(): void {
    for (const order of this.streams.values()) this.flush(order);
    this.streams.clear();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private lowestWaiting(order: StreamOrder): number {
    let lowest = Infinity;
    for (const offset of order.waiting.keys()) if (offset < lowest) lowest = offset;
    return lowest;
  }

  /** Releases the held messages nothing awaited comes before; drops the stream once it waits for nothing. */
  private drain(stream: string, order: StreamOrder): void {
    if (order.held.size > 0) {
      const lowest = this.lowestWaiting(order);
      for (const offset of [...order.held.keys()].sort((a, b) => a - b)) {
        if (offset > lowest) break;
        this.release(order.held.get(offset)!);
        order.held.delete(offset);
      }
    }
    if (order.waiting.size === 0 && order.held.size === 0) this.streams.delete(stream);
  }

  private flush(order: StreamOrder): void {
    order.waiting.clear();
    for (const offset of [...order.held.keys()].sort((a, b) => a - b)) this.release(order.held.get(offset)!);
    order.held.clear();
  }

  /** While anything is awaited, offsets awaited longer than `holdMs` are given up on, every `holdMs`. */
  private arm(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      const stale = this.now() - this.holdMs;
      for (const [stream, order] of this.streams) {
        for (const [offset, entry] of order.waiting) if (entry.at <= stale) order.waiting.delete(offset);
        this.drain(stream, order);
      }
      if (this.streams.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }, this.holdMs);
    this.timer.unref();
  }
}
