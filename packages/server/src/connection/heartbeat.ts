// Heartbeats and idle timeouts: one timer for every connection, pinging live ones and dropping dead or idle ones.
import { CloseCode } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { Connection } from './connection.ts';

/** What the heartbeat is handed by `server.ts`. */
export interface HeartbeatOptions {
  /** Ping every connection this often; one that has not answered the previous ping is dropped. 0 = off. */
  intervalMs: number;
  /** Close connections that sent nothing for this long (4000). 0 = off. */
  idleTimeoutMs: number;
  log: Logger;
  connections(): Iterable<Connection>;
  closeConnection(connection: Connection, code: number, reason: string): void;
}

/**
 * One sweep timer for all connections (no timer per connection).
 *
 * @example
 * const heartbeat = new Heartbeat({ intervalMs: 30_000, idleTimeoutMs: 0, log, connections, closeConnection });
 * heartbeat.start();
 */
export class Heartbeat {
  private readonly options: HeartbeatOptions;
  private timer: NodeJS.Timeout | undefined;
  private lastPingAt = 0;

  constructor(options: HeartbeatOptions) {
    this.options = options;
  }

  start(): void {
    const { intervalMs, idleTimeoutMs } = this.options;
    const period = Math.min(intervalMs > 0 ? intervalMs : Infinity, idleTimeoutMs > 0 ? Math.max(50, idleTimeoutMs / 4) : Infinity);
    if (period === Infinity) return;
    this.lastPingAt = performance.now();
    this.timer = setInterval(() => this.sweep(), period);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    const { intervalMs, idleTimeoutMs, log } = this.options;
    const now = performance.now();
    const ping = intervalMs > 0 && now - this.lastPingAt >= intervalMs - 5;
    if (ping) this.lastPingAt = now;
    for (const connection of this.options.connections()) {
      if (idleTimeoutMs > 0 && now - connection.lastMessageAt > idleTimeoutMs) {
        this.options.closeConnection(connection, CloseCode.idleTimeout, `idle for more than ${idleTimeoutMs} ms`);
        continue;
      }
      if (!ping) continue;
      if (!connection.alive) {
        log.info({ conn: connection.id, remote: connection.remoteAddress }, 'dropping dead connection: no pong');
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }
}
