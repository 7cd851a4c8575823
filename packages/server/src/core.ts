// The server core: connection lifecycle, the inbound message pipeline, sending and fan-out.
import { EventEmitter } from 'node:events';
import { channel as diagnosticsChannel } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import {
  CloseCode,
  codecNameOf,
  ErrorCode,
  parseEnvelope,
  RESERVED_PREFIX,
  SystemType,
  type Codec,
  type Envelope,
  type ErrorPayload,
  type Issue,
  type RequestId,
} from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { BroadcastOptions, ChannelApi, GrantApi, GrantChangeOptions, PublishOptions, ServerApi } from './api.ts';
import type { Identity } from './auth/options.ts';
import { BROADCAST_TOPIC, type Bus, type BusMessage } from './bus/bus.ts';
import type { ResolvedOptions } from './config.ts';
import { Connection, type ConnectionOwner } from './connection.ts';
import { Context, type ContextOwner } from './context.ts';
import { MessageError } from './errors.ts';
import { Metrics } from './metrics.ts';
import type { HandleOutcome, Hooks, InboundMessage, Rejection } from './plug/define.ts';
import type { Manifest } from './plug/manifest.ts';
import { PlugRegistry, type HookEntry, type Route } from './plug/registry.ts';
import { RateVerdict, takeToken } from './rate-limit.ts';
import type { PreparedFrame, Transport, TransportHandlers, TransportSocket, UpgradeDecision } from './transport/transport.ts';

/** What an accepted upgrade carries into the connection (extended by authentication). */
export interface UpgradeContext {
  request: IncomingMessage;
  /** Set when the upgrade request carried valid credentials. */
  identity?: Identity;
}

/** Why a connection may not send a message: the error it gets instead (`grant` names a missing grant). */
export interface Refusal {
  code: string;
  message: string;
  grant?: string;
}

/** What `Core.admit` answers: undefined to let the message through; a promise only when an app hook must decide. */
export type Admission = Refusal | undefined | Promise<Refusal | undefined>;

/** Handles one protocol message type (`$…`); registered by the server's subsystems. */
export type SystemHandler = (connection: Connection, envelope: Envelope) => void | Promise<void>;

/** Events the server emits, for applications and tests. */
export interface ServerEvents {
  open: [connection: Connection];
  close: [connection: Connection, code: number, reason: string];
  'plug:loaded': [info: { name: string; version: string; file: string | undefined; previousVersion: string | undefined }];
  'plug:unloaded': [info: { name: string; version: string; file: string | undefined }];
  'plug:rejected': [info: { file: string | undefined; error: Error }];
}

const connectionChannel = diagnosticsChannel('switchboard:connection');
const SLOW_CONSUMER_GRACE_MS = 2_000;
const MAX_EARLY_FRAMES = 256;

function isRejection(value: unknown): value is Rejection {
  return typeof value === 'object' && value !== null && typeof (value as Rejection).reject === 'string';
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** zod issues → protocol issues (path and message only: no schema internals). */
function toIssues(issues: readonly { path: readonly PropertyKey[]; message: string; code?: string }[]): Issue[] {
  return issues.map((issue) => ({
    path: issue.path.map((key) => (typeof key === 'number' ? key : String(key))),
    message: issue.message,
    ...(issue.code ? { code: issue.code } : {}),
  }));
}

/**
 * The parts every connection shares. Only `server.ts` creates one; plugs see it through `ServerApi`.
 */
export class Core implements ConnectionOwner, ContextOwner, ServerApi, TransportHandlers<Connection, UpgradeContext> {
  readonly connectionsById = new Map<string, Connection>();
  readonly metrics = new Metrics();
  readonly events = new EventEmitter<ServerEvents>();
  readonly registry: PlugRegistry;
  readonly options: ResolvedOptions;
  readonly log: Logger;
  readonly transport: Transport;
  readonly bus: Bus;
  /** Protocol message handlers by type; subsystems (auth, channels) add theirs. */
  readonly system = new Map<string, SystemHandler>();
  /** Upgrade checks run in order before a handshake completes (authentication adds one). */
  readonly upgradeChecks: ((request: IncomingMessage, context: UpgradeContext) => Promise<UpgradeDecision<UpgradeContext>> | UpgradeDecision<UpgradeContext>)[] = [];
  /** Called when a connection opens (before onConnect hooks) and closes; subsystems keep their state here. */
  readonly openListeners: ((connection: Connection, context: UpgradeContext) => void)[] = [];
  readonly closeListeners: ((connection: Connection) => void)[] = [];
  /** Called once a connection is ready (onConnect hooks done, `$welcome` sent). */
  readonly readyListeners: ((connection: Connection) => void)[] = [];
  /** Extra fields for `$welcome` (identity, grants). */
  readonly welcomeFields: ((connection: Connection) => Record<string, unknown>)[] = [];
  /**
   * Checks every message (protocol and plug) before it is handled: authentication and grants set it.
   * Must be cheap and synchronous in the common case; it returns a promise only when an app hook decides.
   */
  admit: ((connection: Connection, type: string) => Admission) | undefined = undefined;
  /** The channel and grant subsystems behind ServerApi; server.ts installs them right after creating the core. */
  channelApi!: ChannelApi;
  grantApi!: GrantApi;
  shuttingDown = false;
  private readonly codecs: Map<string, Codec>;
  private readonly defaultCodec: Codec;
  private inFlight = 0;
  private drainWaiters: (() => void)[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastPingAt = 0;

  constructor(options: ResolvedOptions, log: Logger, transport: Transport, bus: Bus, codecs: Codec[], hooks: Hooks) {
    this.options = options;
    this.log = log;
    this.transport = transport;
    this.bus = bus;
    this.codecs = new Map(codecs.map((codec) => [codec.name, codec]));
    this.defaultCodec = codecs[0]!;
    this.registry = new PlugRegistry(hooks, this, log);
    this.system.set(SystemType.ping, (connection, envelope) => this.replySystem(connection, envelope, {}));
    this.system.set(SystemType.manifest, (connection, envelope) => this.replySystem(connection, envelope, this.registry.manifest));
    bus.subscribe(BROADCAST_TOPIC, this.onBroadcast);
  }

  get api(): ServerApi {
    return this;
  }

  // ---------------------------------------------------------------- ServerApi

  broadcast(type: string, data?: unknown, options?: BroadcastOptions): void {
    const except = options?.except;
    const message: BusMessage = { topic: BROADCAST_TOPIC, envelope: data === undefined ? { type } : { type, data } };
    if (except !== undefined) message.except = typeof except === 'string' ? except : except.id;
    this.bus.publish(message);
  }

  send(connectionId: string, type: string, data?: unknown): boolean {
    const connection = this.connectionsById.get(connectionId);
    return connection ? connection.send(type, data) : false;
  }

  connection(id: string): Connection | undefined {
    return this.connectionsById.get(id);
  }

  connections(): IterableIterator<Connection> {
    return this.connectionsById.values();
  }

  get connectionCount(): number {
    return this.connectionsById.size;
  }

  manifest(): Manifest {
    return this.registry.manifest;
  }

  publish(channel: string, event: string, data?: unknown, options?: PublishOptions): void {
    this.channelApi.publish(channel, event, data, options);
  }

  channels(): ReturnType<ChannelApi['channels']> {
    return this.channelApi.channels();
  }

  members(channel: string): ReturnType<ChannelApi['members']> {
    return this.channelApi.members(channel);
  }

  grant(identityId: string, grants: string[], options?: GrantChangeOptions): string[] {
    return this.grantApi.grant(identityId, grants, options);
  }

  revoke(identityId: string, grants: string[], options?: GrantChangeOptions): string[] {
    return this.grantApi.revoke(identityId, grants, options);
  }

  setGrants(identityId: string, grants: string[], options?: GrantChangeOptions): string[] {
    return this.grantApi.setGrants(identityId, grants, options);
  }

  resetGrants(identityId: string, options?: GrantChangeOptions): string[] {
    return this.grantApi.resetGrants(identityId, options);
  }

  grantsOf(identityId: string): string[] {
    return this.grantApi.grantsOf(identityId);
  }

  disableUser(identityId: string, reason?: string): number {
    return this.grantApi.disableUser(identityId, reason);
  }

  enableUser(identityId: string): boolean {
    return this.grantApi.enableUser(identityId);
  }

  // ---------------------------------------------------------------- transport handlers

  async upgrade(request: IncomingMessage): Promise<UpgradeDecision<UpgradeContext>> {
    if (this.shuttingDown) return { ok: false, status: 503, message: 'server is shutting down' };
    const max = this.options.limits.maxConnections;
    if (max > 0 && this.connectionsById.size >= max) {
      return { ok: false, status: 503, message: `server is at its connection limit (${max})` };
    }
    let context: UpgradeContext = { request };
    for (const check of this.upgradeChecks) {
      const decision = await check(request, context);
      if (!decision.ok) return decision;
      context = decision.context;
    }
    return { ok: true, context };
  }

  selectProtocol(offered: ReadonlySet<string>): string | false {
    for (const protocol of offered) {
      const name = codecNameOf(protocol);
      if (name !== undefined && this.codecs.has(name)) return protocol;
    }
    return false;
  }

  open(socket: TransportSocket, request: IncomingMessage, context: UpgradeContext): Connection {
    const codec = (socket.protocol && this.codecs.get(codecNameOf(socket.protocol) ?? '')) || this.defaultCodec;
    const connection = new Connection(
      socket,
      this,
      codec,
      request.socket.remoteAddress ?? '',
      request.headers['user-agent'] ?? '',
      this.options.limits.rateLimit.burst,
    );
    this.connectionsById.set(connection.id, connection);
    this.metrics.connectionsOpened++;
    for (const listener of this.openListeners) listener(connection, context);
    const hooks = this.registry.onConnect;
    if (hooks.length === 0) this.markReady(connection);
    else void this.runConnectHooks(connection, hooks);
    return connection;
  }

  message(connection: Connection, data: Buffer, isBinary: boolean): void {
    connection.bytesIn += data.length;
    connection.messagesIn++;
    if (connection.closed) return;
    if (!connection.ready) {
      const early = (connection.early ??= []);
      if (early.length >= MAX_EARLY_FRAMES) return this.closeConnection(connection, CloseCode.policyViolation, 'too many messages before the connection was ready');
      early.push([data, isBinary]);
      return;
    }
    this.handleFrame(connection, data, isBinary);
  }

  pong(connection: Connection): void {
    connection.alive = true;
  }

  close(connection: Connection, code: number, reason: string): void {
    if (connection.closed) return;
    connection.closed = true;
    this.connectionsById.delete(connection.id);
    this.metrics.connectionsClosed++;
    for (const listener of this.closeListeners) listener(connection);
    if (connectionChannel.hasSubscribers) connectionChannel.publish({ event: 'close', connection, code, reason });
    this.events.emit('close', connection, code, reason);
    for (const hook of this.registry.onDisconnect) {
      this.isolate(hook.owner, 'onDisconnect', () => hook.fn(connection, { code, reason }));
    }
  }

  // ---------------------------------------------------------------- connection lifecycle

  private async runConnectHooks(connection: Connection, hooks: HookEntry<'onConnect'>[]): Promise<void> {
    for (const hook of hooks) {
      try {
        await hook.fn(connection, this);
      } catch (error) {
        this.log.error({ err: error, hook: 'onConnect', owner: hook.owner, conn: connection.id }, 'hook threw');
      }
    }
    this.markReady(connection);
  }

  private markReady(connection: Connection): void {
    if (connection.closed) return;
    connection.ready = true;
    const welcome: Record<string, unknown> = {
      connectionId: connection.id,
      protocol: 1,
      codec: connection.codec.name,
      manifestVersion: this.registry.manifest.version,
      heartbeatMs: this.options.heartbeat.intervalMs,
      maxPayload: this.options.limits.maxPayload,
    };
    for (const fields of this.welcomeFields) Object.assign(welcome, fields(connection));
    this.sendTo(connection, { type: SystemType.welcome, data: welcome });
    for (const listener of this.readyListeners) listener(connection);
    if (connectionChannel.hasSubscribers) connectionChannel.publish({ event: 'open', connection });
    this.events.emit('open', connection);
    const early = connection.early;
    connection.early = undefined;
    if (early) for (const [data, isBinary] of early) this.handleFrame(connection, data, isBinary);
  }

  /** Closes a connection after what is queued for it has been sent. */
  closeConnection(connection: Connection, code: number, reason: string): void {
    if (connection.closed) return;
    connection.socket.close(code, reason);
  }

  private isolate(owner: string, hook: string, run: () => unknown): void {
    try {
      const result = run();
      if (isThenable(result)) {
        Promise.resolve(result).catch((error: unknown) => this.log.error({ err: error, hook, owner }, 'hook threw'));
      }
    } catch (error) {
      this.log.error({ err: error, hook, owner }, 'hook threw');
    }
  }

  // ---------------------------------------------------------------- inbound pipeline

  private handleFrame(connection: Connection, data: Buffer, isBinary: boolean): void {
    const now = performance.now();
    connection.lastMessageAt = now;
    connection.alive = true;
    const verdict = takeToken(connection, this.options.limits.rateLimit, now);
    if (verdict === RateVerdict.close) {
      this.log.warn({ conn: connection.id, remote: connection.remoteAddress }, 'closing connection: rate limit exceeded persistently');
      return this.closeConnection(connection, CloseCode.policyViolation, 'rate limit exceeded persistently');
    }
    let decoded: unknown;
    try {
      decoded = connection.codec.decode(data, isBinary);
    } catch (error) {
      this.metrics.inbound('(invalid)', data.length);
      return this.sendError(connection, undefined, undefined, ErrorCode.badFrame, (error as Error).message);
    }
    const parsed = parseEnvelope(decoded);
    if (!parsed.ok) {
      this.metrics.inbound('(invalid)', data.length);
      return this.sendError(connection, undefined, parsed.id, ErrorCode.badEnvelope, parsed.message);
    }
    const envelope = parsed.envelope;
    const { type, id } = envelope;
    if (verdict === RateVerdict.refuse) {
      const { messagesPerSecond, burst } = this.options.limits.rateLimit;
      return this.sendError(connection, type, id, ErrorCode.rateLimited, `rate limit exceeded (${messagesPerSecond} messages/s, bursts of ${burst}); message dropped`);
    }
    if (this.shuttingDown) {
      return this.sendError(connection, type, id, ErrorCode.shuttingDown, 'the server is shutting down; reconnect shortly');
    }
    if (type.startsWith(RESERVED_PREFIX)) {
      const handler = this.system.get(type);
      this.metrics.inbound(handler ? type : '(unknown)', data.length);
      if (!handler) return this.sendError(connection, type, id, ErrorCode.unknownType, `unknown protocol message "${type}"`);
      if (this.admit !== undefined) {
        const admission = this.admit(connection, type);
        if (admission !== undefined) return this.refuse(connection, envelope, admission);
      }
      return this.runSystem(connection, envelope, handler);
    }
    const route = this.registry.routes.get(type);
    if (!route) {
      this.metrics.inbound('(unknown)', data.length);
      return this.sendError(connection, type, id, ErrorCode.unknownType, `no plug handles message type "${type}"`);
    }
    this.metrics.inbound(type, data.length);
    if (this.admit !== undefined) {
      const admission = this.admit(connection, type);
      if (admission !== undefined) return this.refuse(connection, envelope, admission);
    }
    this.accept(connection, route, envelope);
  }

  private runSystem(connection: Connection, envelope: Envelope, handler: SystemHandler): void {
    const result = handler(connection, envelope);
    if (isThenable(result)) {
      Promise.resolve(result).catch((error: unknown) => this.failRequest(connection, envelope.type, envelope.id, error));
    }
  }

  /** A refused message gets its error; one an app hook is still deciding on waits, counted as in flight. */
  private refuse(connection: Connection, envelope: Envelope, admission: Refusal | Promise<Refusal | undefined>): void {
    const { type, id } = envelope;
    if (!isThenable(admission)) {
      return this.sendError(connection, type, id, admission.code, admission.message, admission.grant === undefined ? undefined : { grant: admission.grant });
    }
    if (this.tooBusy(connection, type, id)) return;
    // Waiting for the hook counts as in flight, so shutdown waits for it too.
    connection.inFlight++;
    this.inFlight++;
    admission.then(
      (refusal) => {
        this.done(connection);
        if (connection.closed) return;
        if (refusal !== undefined) return this.refuse(connection, envelope, refusal);
        if (this.shuttingDown) return this.sendError(connection, type, id, ErrorCode.shuttingDown, 'the server is shutting down; reconnect shortly');
        // Looked up again: a plug swap may have happened while the hook decided.
        if (type.startsWith(RESERVED_PREFIX)) {
          const handler = this.system.get(type);
          if (handler) this.runSystem(connection, envelope, handler);
          return;
        }
        const route = this.registry.routes.get(type);
        if (!route) return this.sendError(connection, type, id, ErrorCode.unknownType, `no plug handles message type "${type}"`);
        this.accept(connection, route, envelope);
      },
      (error: unknown) => {
        this.done(connection);
        this.failRequest(connection, type, id, error);
      },
    );
  }

  /** Refuses a message with rate_limited when its connection already has `maxInFlight` requests running. */
  private tooBusy(connection: Connection, type: string, id: RequestId | undefined): boolean {
    const max = this.options.limits.maxInFlight;
    if (connection.inFlight < max) return false;
    this.sendError(connection, type, id, ErrorCode.rateLimited, `too many requests in flight (at most ${max}); wait for replies`);
    return true;
  }

  private accept(connection: Connection, route: Route, envelope: Envelope): void {
    const { type, id } = envelope;
    if (this.tooBusy(connection, type, id)) return;
    const input = route.definition.input.safeParse(envelope.data);
    if (!input.success) {
      return this.sendError(connection, type, id, ErrorCode.invalidPayload, `invalid payload for "${type}"`, {
        issues: toIssues(input.error.issues),
      });
    }
    this.run(route, connection, id, input.data);
  }

  /**
   * Runs beforeHandle hooks, the handler and afterHandle hooks. Synchronous as long as each step returns a
   * plain value: a promise is only created (and awaited) where a hook or handler returns one, so a burst of
   * synchronous messages never piles up as in flight and costs no promise per message.
   */
  private run(route: Route, connection: Connection, id: RequestId | undefined, data: unknown): void {
    connection.inFlight++;
    this.inFlight++;
    const message: InboundMessage | undefined =
      route.beforeHandle.length > 0 || route.afterHandle.length > 0
        ? { type: route.type, id, data, connection, plug: route.plug.name }
        : undefined;
    this.before(route, connection, id, data, message, 0);
  }

  private before(route: Route, connection: Connection, id: RequestId | undefined, data: unknown, message: InboundMessage | undefined, from: number): void {
    const hooks = route.beforeHandle;
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i]!;
      let verdict: unknown;
      try {
        verdict = hook.fn(message!);
      } catch (error) {
        verdict = this.hookFailed(hook.owner, route.type, error);
      }
      if (isThenable(verdict)) {
        Promise.resolve(verdict).then(
          (settled) => {
            if (!this.refused(route, connection, id, settled)) this.before(route, connection, id, data, message, i + 1);
          },
          (error: unknown) => this.refused(route, connection, id, this.hookFailed(hook.owner, route.type, error)),
        );
        return;
      }
      if (this.refused(route, connection, id, verdict)) return;
    }
    this.invoke(route, connection, id, data, message);
  }

  private hookFailed(owner: string, type: string, error: unknown): Rejection {
    this.log.error({ err: error, hook: 'beforeHandle', owner, type }, 'hook threw; message refused');
    return { reject: 'the message was refused' };
  }

  /** Sends `rejected` and ends the message when a beforeHandle verdict refuses it. */
  private refused(route: Route, connection: Connection, id: RequestId | undefined, verdict: unknown): boolean {
    if (verdict !== false && !isRejection(verdict)) return false;
    const reason = isRejection(verdict) ? verdict.reject : 'the message was refused';
    this.sendError(connection, route.type, id, ErrorCode.rejected, reason);
    this.done(connection);
    return true;
  }

  private invoke(route: Route, connection: Connection, id: RequestId | undefined, data: unknown, message: InboundMessage | undefined): void {
    const context = new Context(this, connection, route, id);
    const started = performance.now();
    let result: unknown;
    try {
      result = route.definition.handler(data, context);
    } catch (error) {
      return this.complete(route, connection, context, message, started, false, error);
    }
    if (isThenable(result)) {
      Promise.resolve(result).then(
        (value) => this.complete(route, connection, context, message, started, true, value),
        (error: unknown) => this.complete(route, connection, context, message, started, false, error),
      );
      return;
    }
    this.complete(route, connection, context, message, started, true, result);
  }

  private complete(
    route: Route,
    connection: Connection,
    context: Context,
    message: InboundMessage | undefined,
    started: number,
    ok: boolean,
    result: unknown,
  ): void {
    const durationMs = performance.now() - started;
    this.metrics.handler(route.type, durationMs, ok);
    const id = context.id;
    if (!ok) this.failRequest(connection, route.type, id, result, route);
    else if (!context.replied && id !== undefined) {
      context.replied = true;
      this.replyTo(connection, route, id, result);
    }
    if (route.afterHandle.length === 0) return this.done(connection);
    const outcome = ok ? { ok, result, durationMs } : { ok, error: result, durationMs };
    this.after(route, connection, message!, outcome, 0);
  }

  private after(route: Route, connection: Connection, message: InboundMessage, outcome: HandleOutcome, from: number): void {
    const hooks = route.afterHandle;
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i]!;
      try {
        const done = hook.fn(message, outcome);
        if (isThenable(done)) {
          const next = () => this.after(route, connection, message, outcome, i + 1);
          Promise.resolve(done).then(next, (error: unknown) => {
            this.log.error({ err: error, hook: 'afterHandle', owner: hook.owner, type: route.type }, 'hook threw');
            next();
          });
          return;
        }
      } catch (error) {
        this.log.error({ err: error, hook: 'afterHandle', owner: hook.owner, type: route.type }, 'hook threw');
      }
    }
    this.done(connection);
  }

  /** A message finished: it no longer counts as in flight. */
  private done(connection: Connection): void {
    connection.inFlight--;
    if (--this.inFlight === 0 && this.drainWaiters.length > 0) {
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  /** A handler or protocol handler threw: MessageError goes to the client as is, anything else as handler_error. */
  private failRequest(connection: Connection, type: string, id: RequestId | undefined, error: unknown, route?: Route): void {
    if (error instanceof MessageError || (error instanceof Error && error.name === 'MessageError' && 'code' in error)) {
      const { code, message, details } = error as MessageError;
      return this.sendError(connection, type, id, code, message, details);
    }
    this.log.error({ err: error, type, plug: route?.plug.name, plugVersion: route?.plug.version, conn: connection.id }, 'handler threw');
    this.sendError(connection, type, id, ErrorCode.handlerError, `the handler for "${type}" failed; the server log has details`);
  }

  // ---------------------------------------------------------------- outbound

  replyTo(connection: Connection, route: Route, id: RequestId, data: unknown): void {
    let reply: unknown = data === undefined ? null : data;
    const output = route.definition.output;
    if (output) {
      const checked = output.safeParse(reply);
      if (!checked.success) {
        this.log.error(
          { type: route.type, plug: route.plug.name, plugVersion: route.plug.version, issues: toIssues(checked.error.issues) },
          'reply does not match its output schema',
        );
        return this.sendError(connection, route.type, id, ErrorCode.handlerError, `the handler for "${route.type}" failed; the server log has details`);
      }
      reply = checked.data;
    }
    this.deliver(connection, { type: route.type, id, data: reply }, route.beforeSend, route.afterSend);
  }

  pushFrom(connection: Connection, route: Route, type: string, data: unknown): boolean {
    return this.deliver(connection, data === undefined ? { type } : { type, data }, route.beforeSend, route.afterSend);
  }

  private replySystem(connection: Connection, envelope: Envelope, data: unknown): void {
    if (envelope.id !== undefined) this.sendTo(connection, { type: envelope.type, id: envelope.id, data });
  }

  /** Sends an error: as the reply when the message had an id, as a `$error` push otherwise. */
  sendError(
    connection: Connection,
    type: string | undefined,
    id: RequestId | undefined,
    code: string,
    message: string,
    extra?: Record<string, unknown>,
  ): void {
    const error: ErrorPayload = { ...extra, code, message };
    if (id !== undefined) {
      this.sendTo(connection, { type: type ?? SystemType.error, id, error });
    } else {
      if (type !== undefined) error.type = type;
      this.sendTo(connection, { type: SystemType.error, error });
    }
  }

  sendTo(connection: Connection, envelope: Envelope): boolean {
    return this.deliver(connection, envelope, this.registry.beforeSend, this.registry.afterSend);
  }

  private deliver(
    connection: Connection,
    envelope: Envelope,
    before: HookEntry<'beforeSend'>[],
    after: HookEntry<'afterSend'>[],
  ): boolean {
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
    }
    const frame = this.transport.prepare(encoded, connection.codec.binary);
    if (!this.write(connection, frame)) return false;
    this.metrics.outbound(out.type, frame.payloadLength);
    if (after.length > 0) this.runAfterSend(after, out, connection);
    return true;
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

  /** Queues a frame; a connection whose send buffer would overflow is closed as a slow consumer. */
  write(connection: Connection, frame: PreparedFrame): boolean {
    const socket = connection.socket;
    if (socket.bufferedAmount + frame.bytes.length > this.options.limits.maxBufferedBytes) {
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
    this.close(connection, CloseCode.slowConsumer, 'slow consumer');
  }

  /** Bus listener for the broadcast topic: deliver to every local connection. */
  private readonly onBroadcast = (message: BusMessage): void => {
    this.fanout(message, this.connectionsById.values());
  };

  /**
   * Delivers one message to many connections: send hooks run once, the envelope is encoded once per codec,
   * and the same frame bytes are queued for every recipient.
   */
  fanout(message: BusMessage, recipients: Iterable<Connection>): number {
    const hooks = this.registry.beforeSend;
    const envelope = hooks.length > 0 ? this.runBeforeSend(hooks, message.envelope, undefined) : message.envelope;
    if (!envelope) return 0;
    const except = message.except;
    const codec = this.defaultCodec;
    let frame: PreparedFrame | undefined;
    let others: Map<Codec, PreparedFrame> | undefined;
    let count = 0;
    for (const connection of recipients) {
      if (!connection.ready || connection.closed || connection.id === except) continue;
      let prepared: PreparedFrame;
      if (connection.codec === codec) {
        prepared = frame ??= this.transport.prepare(codec.encode(envelope), codec.binary);
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
    if (count > 0) this.metrics.outbound(envelope.type, (frame ?? others?.values().next().value)?.payloadLength ?? 0, count);
    if (this.registry.afterSend.length > 0) this.runAfterSend(this.registry.afterSend, envelope, undefined);
    return count;
  }

  // ---------------------------------------------------------------- heartbeats, idle, shutdown

  startSweeping(): void {
    const heartbeat = this.options.heartbeat.intervalMs;
    const idle = this.options.idleTimeoutMs;
    const period = Math.min(heartbeat > 0 ? heartbeat : Infinity, idle > 0 ? Math.max(50, idle / 4) : Infinity);
    if (period === Infinity) return;
    this.lastPingAt = performance.now();
    this.sweepTimer = setInterval(() => this.sweep(), period);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    const now = performance.now();
    const heartbeat = this.options.heartbeat.intervalMs;
    const ping = heartbeat > 0 && now - this.lastPingAt >= heartbeat - 5;
    if (ping) this.lastPingAt = now;
    const idle = this.options.idleTimeoutMs;
    for (const connection of this.connectionsById.values()) {
      if (idle > 0 && now - connection.lastMessageAt > idle) {
        this.closeConnection(connection, CloseCode.idleTimeout, `idle for more than ${idle} ms`);
        continue;
      }
      if (!ping) continue;
      if (!connection.alive) {
        this.log.info({ conn: connection.id, remote: connection.remoteAddress }, 'dropping dead connection: no pong');
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }

  /** Resolves when no handler is running. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  stopSweeping(): void {
    clearInterval(this.sweepTimer);
  }
}
