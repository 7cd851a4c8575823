// The transport contract: how the server accepts WebSocket connections and writes frames, whatever the library.
import type { IncomingMessage, Server as HttpServer } from 'node:http';

/** A frame encoded once and shareable by every connection it goes to (see `Transport.prepare`). */
export interface PreparedFrame {
  /** The exact bytes on the wire, header included. */
  readonly bytes: Uint8Array;
  /** The payload's length, for statistics. */
  readonly payloadLength: number;
}

/** One accepted WebSocket, as the server sees it. */
export interface TransportSocket {
  /** The subprotocol the handshake agreed on ('' when none). */
  readonly protocol: string;
  /**
   * Queues a prepared frame. Frames queued in one event-loop turn go out in one write.
   * Returns false when the socket is no longer open.
   */
  write(frame: PreparedFrame): boolean;
  /** Bytes queued but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  ping(): void;
  /** Sends a close frame after whatever is queued. */
  close(code: number, reason: string): void;
  /** Drops the socket at once (dead peers). */
  terminate(): void;
}

/**
 * The answer to an upgrade request: accept (with what the server learned) or refuse with an HTTP status;
 * `code` (an ErrorCode such as `token_expired`) goes into the JSON body and the `X-Switchboard-Error` header.
 */
export type UpgradeDecision<A> = { ok: true; context: A } | { ok: false; status: number; message: string; code?: string };

/** What the transport calls back into; `C` is the server's per-connection object. */
export interface TransportHandlers<C, A> {
  /** Decides on an upgrade before the handshake (authentication, limits, shutdown). */
  upgrade(request: IncomingMessage): Promise<UpgradeDecision<A>> | UpgradeDecision<A>;
  /** Picks one of the client's offered subprotocols, or false for none. */
  selectProtocol(offered: ReadonlySet<string>): string | false;
  open(socket: TransportSocket, request: IncomingMessage, context: A): C;
  message(connection: C, data: Buffer, isBinary: boolean): void;
  pong(connection: C): void;
  close(connection: C, code: number, reason: string): void;
}

/** Transport options the server passes on. */
export interface TransportOptions {
  /** URL path that accepts upgrades. */
  path: string;
  /** Path prefixes that accept upgrades too (`/socket/` for connections bound to a room). */
  prefixes?: readonly string[];
  /** Largest frame accepted; larger ones close the connection with 1009. */
  maxPayload: number;
  /**
   * Milliseconds a new TCP connection has to send a complete request head and, for an upgrade, finish the
   * WebSocket handshake; after that it is answered 408 and closed. Upgraded WebSockets are never affected.
   * Default `DEFAULT_UPGRADE_TIMEOUT_MS` (5000) when undefined; 0 turns the deadline off.
   */
  upgradeTimeoutMs?: number;
  /**
   * Called once for every upgrade request the transport answers, for the access log: `status` 101 when the
   * handshake completed, else the HTTP status it refused with (499 when the client went away first), with
   * the response body's length and `Date.now()` when the request arrived. A transport may leave it uncalled.
   */
  upgradeAnswered?(request: IncomingMessage, status: number, bodyBytes: number, startedAt: number): void;
}

/** The upgrade deadline applied when `TransportOptions.upgradeTimeoutMs` is undefined. */
export const DEFAULT_UPGRADE_TIMEOUT_MS = 5000;

/** A WebSocket transport: today `ws`; a faster one can implement the same contract. */
export interface Transport {
  attach<C, A>(server: HttpServer, options: TransportOptions, handlers: TransportHandlers<C, A>): void;
  /** Encodes a payload as one frame, once, for any number of sockets. */
  prepare(payload: string | Uint8Array, binary: boolean): PreparedFrame;
  /** Stops accepting upgrades. Open sockets are the server's to close. */
  close(): void;
}
