// The outbound path: send hooks, encoding, queueing with the slow-consumer limit, errors, and encode-once fan-out.
import { CloseCode, ErrorCode, SystemType, type Codec, type Envelope, type ErrorPayload, type RequestId } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { BusMessage } from '../bus/bus.ts';
import type { Connection } from '../connection/connection.ts';
import type { MessageTap } from '../observe/audit-tap.ts';
import { MetricLabel, type Metrics } from '../metrics.ts';
import type { PreparedFrame, Transport } from '../transport/transport.ts';
import type { HookEntry, RouteHooks } from '../plug/route.ts';

const SLOW_CONSUMER_GRACE_MS = 2_000;

/** What the outbound path is handed by `server.ts`. */
export interface OutboundOptions {
  transport: Transport;
  log: Logger;
  metrics: Metrics;
  defaultCodec: Codec;
  maxBufferedBytes: number;
  /** The global send hooks, for messages not sent from a plug's handler (broadcasts, server pushes). */
  hooks: Pick<RouteHooks, 'beforeSend' | 'afterSend'>;
  /** A slow consumer was closed: the lifecycle marks the connection gone now (the close event comes later). */
  onSlowConsumer(connection: Connection): void;
  /** Whether a type is one the server serves; an error reply to any other is counted as `(unknown)`, not by the client's string. */
  isRoute(type: string): boolean;
}

/**
 * Sends to connections. Every server → client message goes through `deliver` (one connection) or `fanout`
 * (many: hooks run once, encoded once per codec, the same bytes queued for every recipient).
 *
 * @example
 * outbound.sendTo(connection, { type: 'chat.message', data: { text: 'hi' } });
 */
export class Outbound {
  private readonly transport: Transport;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly defaultCodec: Codec;
  private readonly maxBufferedBytes: number;
  private readonly beforeSend: HookEntry<'beforeSend'>[];
  private readonly afterSend: HookEntry<'afterSend'>[];
  private readonly onSlowConsumer: (connection: Connection) => void;
  private readonly isRoute: (type: string) => boolean;
  /** Told of every message sent (auditing); set by the server when a recorder runs. */
  tap: MessageTap | undefined = undefined;

  constructor(options: OutboundOptions) {
    this.transport = options.transport;
    this.log = options.log;
    this.metrics = options.metrics;
    this.defaultCodec = options.defaultCodec;
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.beforeSend = options.hooks.beforeSend;
    this.afterSend = options.hooks.afterSend;
    this.onSlowConsumer = options.onSlowConsumer;
    this.isRoute = options.isRoute;
  }

  /** Sends one envelope through the global send hooks. */
  sendTo(connection: Connection, envelope: Envelope): boolean {
    return this.deliver(connection, envelope, this.beforeSend, this.afterSend);
  }

  /** Sends an error: as the reply when the message had an id, as a `$error` push otherwise. */
  sendError(connection: Connection, type: string | undefined, id: RequestId | undefined, code: string, message: string, extra?: Record<string, unknown>): void {
    const error: ErrorPayload = { ...extra, code, message };
    this.metrics.error(code);
    if (id !== undefined) {
      this.sendTo(connection, { type: type ?? SystemType.error, id, error });
    } else {
      if (type !== undefined) error.type = type;
      this.sendTo(connection, { type: SystemType.error, error });
    }
  }

  /** Sends one envelope through the given send hooks (a route's own, for replies and pushes from its handler). */
  deliver(connection: Connection, envelope: Envelope, before: HookEntry<'beforeSend'>[], after: HookEntry<'afterSend'>[]): boolean {
    if (connection.closed) return false;
    const out = before.length > 0 ? this.runBeforeSend(before, envelope, connection) : envelope;
    if (!out) return false;
    let encoded: string | Uint8Array;
    try {
      encoded = connection.codec.encode(out);
    } catch (error) {
      // Data the codec cannot represent (a cycle, a BigInt): the client gets handler_error, never a crash.
      this.log.error({ err: error, type: out.type, conn: connection.id }, 'message could not be encoded; not sent');
      if (out.id === undefined || out.error !== undefined) return false;
      const message = `the reply to "${out.type}" could not be encoded; the server log has details`;
      encoded = connection.codec.encode({ type: out.type, id: out.id, error: { code: ErrorCode.handlerError, message } });
      this.metrics.error(ErrorCode.handlerError);
    }
    const frame = this.transport.prepare(encoded, connection.codec.binary);
    if (!this.write(connection, frame)) return false;
    this.metrics.outbound(out.error !== undefined && !this.isRoute(out.type) ? MetricLabel.unknown : out.type, frame.payloadLength);
    this.tap?.outbound(connection, out, encoded, frame.payloadLength, 1);
    if (after.length > 0) this.runAfterSend(after, out, connection);
    return true;
  }

  /**
   * Delivers one message to many connections: send hooks run once, the envelope is encoded once per codec,
   * and the same frame bytes are queued for every recipient.
   */
  fanout(message: BusMessage, recipients: Iterable<Connection>): number {
    const hooks = this.beforeSend;
    const envelope = hooks.length > 0 ? this.runBeforeSend(hooks, message.envelope, undefined) : message.envelope;
    if (!envelope) return 0;
    const except = message.except;
    const codec = this.defaultCodec;
    let frame: PreparedFrame | undefined;
    let encoded: string | Uint8Array | undefined;
    let others: Map<Codec, PreparedFrame> | undefined;
    let count = 0;
    for (const connection of recipients) {
      if (!connection.ready || connection.closed || connection.id === except) continue;
      let prepared: PreparedFrame;
      if (connection.codec === codec) {
        prepared = frame ??= this.transport.prepare((encoded = codec.encode(envelope)), codec.binary);
      } else {
        others ??= new Map();
        let other = others.get(connection.codec);
        if (!other) {
          other = this.transport.prepare(connection.codec.encode(envelope), connection.codec.binary);
          others.set(connection.codec, other);
        }
        prepared = other;
      }
      if (this.write(connection, prepared)) count++;
    }
    if (count === 0) return 0; // nothing was queued: afterSend means "after the frame was queued"
    const bytes = (frame ?? others?.values().next().value)?.payloadLength ?? 0;
    this.metrics.outbound(envelope.type, bytes, count);
    // The default codec's encoding when it made one; without, the payload is recorded from the envelope.
    this.tap?.outbound(undefined, envelope, encoded, bytes, count);
    if (this.afterSend.length > 0) this.runAfterSend(this.afterSend, envelope, undefined);
    return count;
  }

  /** Queues a frame; a connection whose send buffer would overflow is closed as a slow consumer. */
  write(connection: Connection, frame: PreparedFrame): boolean {
    const socket = connection.socket;
    if (socket.bufferedAmount + frame.bytes.length > this.maxBufferedBytes) {
      this.dropSlowConsumer(connection);
      return false;
    }
    if (!socket.write(frame)) return false;
    connection.bytesOut += frame.payloadLength;
    connection.messagesOut++;
    return true;
  }

  private dropSlowConsumer(connection: Connection): void {
    if (connection.closed) return;
    this.log.warn(
      { conn: connection.id, remote: connection.remoteAddress, buffered: connection.socket.bufferedAmount },
      'closing slow consumer: send buffer full',
    );
    const socket = connection.socket;
    socket.close(CloseCode.slowConsumer, 'slow consumer: send buffer overflowed');
    setTimeout(() => socket.terminate(), SLOW_CONSUMER_GRACE_MS).unref();
    // Nothing more is queued for it: mark it gone for senders now; the transport's close event cleans up.
    this.onSlowConsumer(connection);
  }

  private runBeforeSend(hooks: HookEntry<'beforeSend'>[], envelope: Envelope, connection: Connection | undefined): Envelope | undefined {
    let current = envelope;
    for (const hook of hooks) {
      try {
        const result = hook.fn(current, connection);
        if (result === false) return undefined;
        if (result) current = result;
      } catch (error) {
        this.log.error({ err: error, hook: 'beforeSend', owner: hook.owner, type: current.type }, 'hook threw');
      }
    }
    return current;
  }

  private runAfterSend(hooks: HookEntry<'afterSend'>[], envelope: Envelope, connection: Connection | undefined): void {
    for (const hook of hooks) {
      try {
        hook.fn(envelope, connection);
      } catch (error) {
        this.log.error({ err: error, hook: 'afterSend', owner: hook.owner, type: envelope.type }, 'hook threw');
      }
    }
  }
}
