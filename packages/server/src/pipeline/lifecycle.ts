// The connection lifecycle: upgrade checks, open, onConnect hooks and `$welcome`, early frames, close.
import { EventEmitter } from 'node:events';
import { channel as diagnosticsChannel } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { CloseCode, codecNameOf, SystemType, type Codec, type Envelope } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { ServerApi, ServerEvents } from '../api.ts';
import type { FeatureList, UpgradeContext } from '../feature.ts';
import type { Metrics } from '../metrics.ts';
import { runAs } from '../observe/faults.ts';
import type { HookEntry, RouteOwner } from '../plug/route.ts';
import type { TransportHandlers, TransportSocket, UpgradeDecision } from '../transport/transport.ts';
import { Connection, type ConnectionInfo, type ConnectionOwner } from '../connection/connection.ts';
import { isThenable } from '../maybe-promise.ts';

const connectionChannel = diagnosticsChannel('switchboard:connection');

/** What the lifecycle is handed by `server.ts`. */
export interface LifecycleOptions {
  log: Logger;
  metrics: Metrics;
  features: FeatureList;
  codecs: readonly Codec[];
  maxConnections: number;
  burst: number;
  /** Frames and bytes a connection may send before `$welcome`; past either it is closed with 1008 once they are handled. */
  maxEarlyFrames: number;
  maxEarlyBytes: number;
  /** `$welcome`'s fixed fields. */
  welcome(connection: Connection): Record<string, unknown>;
  /** The onConnect / onDisconnect hooks now (they change with plug swaps). */
  hooks(): { onConnect: HookEntry<'onConnect'>[]; onDisconnect: HookEntry<'onDisconnect'>[] };
  /** Who owns a hook, for attributing faults. */
  ownerOf(name: string): RouteOwner | undefined;
  /** The facade handed to onConnect hooks. */
  api(): ServerApi;
  /** Per-address admission of a new connection (HTTP 429 when refused), and its accounting. */
  /** The client's address of an upgrade request (the socket's peer, or the trusted proxy's X-Forwarded-For). */
  addressOf(request: IncomingMessage): string;
  admitAddress(address: string): { ok: true } | { ok: false; status: number; message: string };
  addressOpened(address: string): void;
  addressClosed(address: string): void;
  /** Handed in rather than imported, so lifecycle → inbound → outbound has no cycle. */
  handleFrame(connection: Connection, data: Buffer, isBinary: boolean): void;
  /** The server's own messages (`$welcome`). */
  sendTo(connection: Connection, envelope: Envelope): boolean;
  /** What an application sends with `connection.send` (checked against its declared push in development). */
  push(connection: Connection, envelope: Envelope): boolean;
  shuttingDown(): boolean;
}



/**
 * The table of open connections and their lifecycle, as the transport drives it.
 *
 * @example
 * transport.attach(http, transportOptions, lifecycle);
 */
export class Lifecycle implements TransportHandlers<Connection, UpgradeContext>, ConnectionOwner {
  readonly byId = new Map<string, Connection>();
  readonly events = new EventEmitter<ServerEvents>();
  private readonly options: LifecycleOptions;
  private readonly codecs: Map<string, Codec>;
  private readonly defaultCodec: Codec;

  constructor(options: LifecycleOptions) {
    this.options = options;
    this.codecs = new Map(options.codecs.map((codec) => [codec.name, codec]));
    this.defaultCodec = options.codecs[0]!;
  }

  // ---------------------------------------------------------------- transport handlers

  async upgrade(request: IncomingMessage): Promise<UpgradeDecision<UpgradeContext>> {
    const options = this.options;
    if (options.shuttingDown()) return { ok: false, status: 503, message: 'server is shutting down' };
    const max = options.maxConnections;
    if (max > 0 && this.byId.size >= max) return { ok: false, status: 503, message: `server is at its connection limit (${max})` };
    const address = options.admitAddress(options.addressOf(request));
    if (!address.ok) return address;
    return options.features.upgrade(request);
  }

  selectProtocol(offered: ReadonlySet<string>): string | false {
    for (const protocol of offered) {
      const name = codecNameOf(protocol);
      if (name !== undefined && this.codecs.has(name)) return protocol;
    }
    return false;
  }

  open(socket: TransportSocket, request: IncomingMessage, context: UpgradeContext): Connection {
    const options = this.options;
    const codec = (socket.protocol && this.codecs.get(codecNameOf(socket.protocol) ?? '')) || this.defaultCodec;
    const connection = new Connection(socket, this, codec, options.addressOf(request), request.headers['user-agent'] ?? '', options.burst);
    this.byId.set(connection.id, connection);
    options.addressOpened(connection.remoteAddress);
    options.metrics.connectionsOpened++;
    options.features.open(connection, context);
    const hooks = options.hooks().onConnect;
    if (hooks.length === 0) this.markReady(connection);
    else void this.runConnectHooks(connection, hooks);
    return connection;
  }

  message(connection: Connection, data: Buffer, isBinary: boolean): void {
    connection.bytesIn += data.length;
    connection.messagesIn++;
    if (connection.closed) return;
    if (!connection.ready) return this.hold(connection, data, isBinary);
    this.options.handleFrame(connection, data, isBinary);
  }

  pong(connection: Connection): void {
    connection.alive = true;
  }

  close(connection: Connection, code: number, reason: string): void {
    if (connection.closed) return;
    connection.closed = true;
    const options = this.options;
    this.byId.delete(connection.id);
    options.addressClosed(connection.remoteAddress);
    options.metrics.connectionsClosed++;
    options.features.close(connection);
    if (connectionChannel.hasSubscribers) connectionChannel.publish({ event: 'close', connection, code, reason });
    this.events.emit('close', connection, code, reason);
    for (const hook of options.hooks().onDisconnect) {
      this.isolate(hook, 'onDisconnect', connection, { code, reason });
    }
  }

  // ---------------------------------------------------------------- ConnectionOwner

  sendTo(connection: Connection, envelope: Envelope): boolean {
    return this.options.push(connection, envelope);
  }

  /** Closes a connection after what is queued for it has been sent. */
  closeConnection(connection: Connection, code: number, reason: string): void {
    if (connection.closed) return;
    connection.socket.close(code, reason);
  }

  describe(connection: Connection): Partial<ConnectionInfo> {
    return this.options.features.describe(connection);
  }

  // ---------------------------------------------------------------- ready

  /**
   * Frames that arrive before `$welcome` wait, bounded in count and bytes. Past the bound the frames held so
   * far are still handled once the connection is ready, and then it is closed with 1008; later frames are not kept.
   */
  private hold(connection: Connection, data: Buffer, isBinary: boolean): void {
    const early = (connection.early ??= []);
    const options = this.options;
    if (connection.earlyBytes < 0) return; // over the bound already: closing once ready
    if (early.length >= options.maxEarlyFrames || connection.earlyBytes + data.length > options.maxEarlyBytes) {
      connection.earlyBytes = -1;
      options.log.warn({ conn: connection.id, remote: connection.remoteAddress, frames: early.length }, 'too many messages before the connection was ready');
      return;
    }
    connection.earlyBytes += data.length;
    early.push([data, isBinary]);
  }

  private async runConnectHooks(connection: Connection, hooks: HookEntry<'onConnect'>[]): Promise<void> {
    const api = this.options.api();
    for (const hook of hooks) {
      try {
        const owner = this.options.ownerOf(hook.owner);
        await (owner ? runAs(owner, hook.fn, connection, api) : hook.fn(connection, api));
      } catch (error) {
        this.options.log.error({ err: error, hook: 'onConnect', owner: hook.owner, conn: connection.id }, 'hook threw');
      }
    }
    this.markReady(connection);
  }

  private markReady(connection: Connection): void {
    if (connection.closed) return;
    const options = this.options;
    connection.ready = true;
    const welcome = options.features.welcome(connection, options.welcome(connection));
    options.sendTo(connection, { type: SystemType.welcome, data: welcome });
    options.features.ready(connection);
    if (connectionChannel.hasSubscribers) connectionChannel.publish({ event: 'open', connection });
    this.events.emit('open', connection);
    const early = connection.early;
    const overflowed = connection.earlyBytes < 0;
    connection.early = undefined;
    connection.earlyBytes = 0;
    if (early) for (const [data, isBinary] of early) options.handleFrame(connection, data, isBinary);
    if (overflowed) this.closeConnection(connection, CloseCode.policyViolation, 'too many messages before the connection was ready');
  }

  private isolate(hook: HookEntry<'onDisconnect'>, name: string, connection: Connection, info: { code: number; reason: string }): void {
    const log = this.options.log;
    try {
      const owner = this.options.ownerOf(hook.owner);
      const result = owner ? runAs(owner, hook.fn, connection, info) : hook.fn(connection, info);
      if (isThenable(result)) {
        Promise.resolve(result).catch((error: unknown) => log.error({ err: error, hook: name, owner: hook.owner }, 'hook threw'));
      }
    } catch (error) {
      log.error({ err: error, hook: name, owner: hook.owner }, 'hook threw');
    }
  }
}
