// The history of a cluster on one machine: every worker's calls go to one history the agent holds.
import type { History, StreamPage, StreamPosition, StreamReset } from '../stream/history.ts';
import type { IpcLink } from './ipc-link.ts';

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/**
 * A worker's history in a cluster run by an agent: each call goes to the history the agent holds (a
 * `MemoryHistory` bounded like `channels.history`), so every worker appends to and reads the same streams.
 * A client that reconnects to another worker recovers what it missed with `since`, as from a single server.
 * Every method answers with a promise; arguments are checked here, so a bad `limit` rejects with a
 * `RangeError` without a round trip.
 *
 * The streams live as long as the agent: a worker that restarts keeps them, an agent that restarts starts
 * new epochs (positions from before reset, as after a single server's restart).
 *
 * @example
 * const history = new IpcHistory(link);
 * const position = await history.append('orders.eu', { event: 'created', data: { id: 7 } });
 */
export class IpcHistory implements History {
  private readonly link: IpcLink;
  private closed = false;

  constructor(link: IpcLink) {
    this.link = link;
  }

  append(stream: string, data: unknown): Promise<StreamPosition> {
    return this.call('append', [stream, data]);
  }

  since(stream: string, position: StreamPosition, options: { limit?: number } = {}): Promise<StreamPage | StreamReset> {
    const limit = options.limit;
    if (limit !== undefined && limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 1)) {
      return Promise.reject(new RangeError(`limit must be a positive integer, got ${limit}`));
    }
    return this.call('since', limit === undefined ? [stream, position] : [stream, position, { limit }]);
  }

  latest(stream: string, n: number): Promise<StreamPage> {
    if (!isCount(n)) return Promise.reject(new RangeError(`n must be a non-negative integer, got ${n}`));
    return this.call('latest', [stream, n]);
  }

  position(stream: string): Promise<StreamPosition> {
    return this.call('position', [stream]);
  }

  trim(stream: string, keep: number): Promise<void> {
    if (!isCount(keep)) return Promise.reject(new RangeError(`keep must be a non-negative integer, got ${keep}`));
    return this.call('trim', [stream, keep]);
  }

  remove(stream: string): Promise<boolean> {
    return this.call('remove', [stream]);
  }

  /** Stops this worker's use of the history (the agent's streams stay); waits for the calls in flight. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.link.idle();
  }

  private call<T>(method: string, args: unknown[]): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`IpcHistory is closed: cannot call ${method}`));
    return this.link.call<T>('history', method, args);
  }
}
