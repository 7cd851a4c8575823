// The server API plugs and applications call: broadcast, send, connections, manifest.
import type { Logger } from 'pino';
import type { Connection } from './connection.ts';
import type { Manifest } from './plug/manifest.ts';

/** Who a broadcast skips. */
export interface BroadcastOptions {
  /** A connection (or its id) that must not receive the message: "to all but the sender". */
  except?: string | Connection;
}

/**
 * What plugs reach as `ctx.server` and applications as the server object.
 *
 * @example
 * ctx.server.broadcast('chat.message', { text }, { except: ctx.connection });
 */
export interface ServerApi {
  /** Sends a message to every connection (on every node, through the bus). */
  broadcast(type: string, data?: unknown, options?: BroadcastOptions): void;
  /** Sends a message to one connection of this node; false when it is not (or no longer) here. */
  send(connectionId: string, type: string, data?: unknown): boolean;
  connection(id: string): Connection | undefined;
  connections(): IterableIterator<Connection>;
  readonly connectionCount: number;
  /** What the server accepts now: every message type with its schemas and plug version. */
  manifest(): Manifest;
  readonly log: Logger;
}
