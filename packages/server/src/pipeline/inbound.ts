// The one inbound pipeline, for protocol and plug routes alike:
// decode → envelope → rate limit → route → authorize → validate → beforeHandle → invoke → reply → afterHandle.
import { CloseCode, ErrorCode, parseEnvelope, type Envelope, type Issue, type RequestId } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { ServerApi } from '../api.ts';
import type { Connection } from '../connection/connection.ts';
import { RateVerdict, takeToken, type RateLimitOptions } from '../connection/rate-limit.ts';
import { MessageError } from '../errors.ts';
import type { FeatureList, Refusal } from '../feature.ts';
import type { Metrics } from '../metrics.ts';
import { FaultCode, runAs, type Faults } from '../observe/faults.ts';
import type { HandleOutcome, Rejection } from '../plug/define.ts';
import { Context, type ContextOwner } from './context.ts';
import type { InFlight } from './drain.ts';
import type { Outbound } from './outbound.ts';
import type { Route } from '../plug/route.ts';
import type { MessageTap } from '../observe/audit-tap.ts';
import { isThenable, settledValue } from '../maybe-promise.ts';

/** The owner name of global hooks (see plug/route.ts). */
const GLOBAL = 'global';
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A frame's text, or undefined when it is not valid UTF-8 (the codec, given the bytes, then says why). */
function textOf(frame: Buffer): string | undefined {
  try {
    return utf8.decode(frame);
  } catch {
    return undefined;
  }
}

function isRejection(value: unknown): value is Rejection {
  return typeof value === 'object' && value !== null && typeof (value as Rejection).reject === 'string';
}


/** zod issues → protocol issues (path and message only: no schema internals). */
export function toIssues(issues: readonly { path: readonly PropertyKey[]; message: string; code?: string }[]): Issue[] {
  return issues.map((issue) => ({
    path: issue.path.map((key) => (typeof key === 'number' ? key : String(key))),
    message: issue.message,
    ...(issue.code ? { code: issue.code } : {}),
  }));
}

/** What the inbound pipeline is handed by `server.ts`. */
export interface InboundOptions {
  log: Logger;
  metrics: Metrics;
  outbound: Outbound;
  inFlight: InFlight;
  features: FeatureList;
  faults: Faults;
  /** The facade plugs reach as `ctx.server`. */
  api: ServerApi;
  rateLimit: RateLimitOptions;
  maxInFlight: number;
  /** A handler that has not settled after this long fails with `timeout`. 0 = no deadline. */
  handlerTimeoutMs: number;
  /** The route of a message type now: the protocol's table for `$…`, the plug registry's otherwise. */
  lookup(type: string, connection: Connection): Route | undefined;
  /** Whether the server is shutting down (new messages get `shutting_down`). */
  shuttingDown(): boolean;
  /** The shared message budget of the connection's address; false refuses the message. */
  takeAddressToken(connection: Connection): boolean;
  closeConnection(connection: Connection, code: number, reason: string): void;
  /** Checks a push's data against its declared schema (development); returns what to send. Throws SB_PUSH_INVALID. */
  checkPush?(type: string, data: unknown): unknown;
  /** Told of every frame (auditing). */
  tap?: MessageTap;
}

// The one timer callback of every handler deadline: no closure per message.
function onHandlerTimeout(inbound: Inbound, context: Context): void {
  inbound.timedOut(context);
}

/**
 * The inbound pipeline. Synchronous as long as each step returns a plain value: a promise is only created
 * (and awaited) where a feature, hook or handler returns one, so a burst of synchronous messages never piles
 * up as in flight and costs no promise per message.
 *
 * @example
 * inbound.frame(connection, data, isBinary);
 */
export class Inbound implements ContextOwner {
  readonly api: ServerApi;
  readonly log: Logger;
  private readonly options: InboundOptions;
  private readonly metrics: Metrics;
  private readonly outbound: Outbound;
  private readonly inFlight: InFlight;
  private readonly features: FeatureList;
  private readonly faults: Faults;

  constructor(options: InboundOptions) {
    this.options = options;
    this.api = options.api;
    this.log = options.log;
    this.metrics = options.metrics;
    this.outbound = options.outbound;
    this.inFlight = options.inFlight;
    this.features = options.features;
    this.faults = options.faults;
  }

  /** One frame from a ready connection. */
  frame(connection: Connection, data: Buffer, isBinary: boolean): void {
    const now = performance.now();
    connection.lastMessageAt = now;
    connection.alive = true;
    const options = this.options;
    let verdict = takeToken(connection, options.rateLimit, now);
    if (verdict === RateVerdict.close) {
      this.log.warn({ conn: connection.id, remote: connection.remoteAddress }, 'closing connection: rate limit exceeded persistently');
      return options.closeConnection(connection, CloseCode.policyViolation, 'rate limit exceeded persistently');
    }
    const addressRefused = verdict === RateVerdict.allow && !options.takeAddressToken(connection);
    if (addressRefused) verdict = RateVerdict.refuse;
    // Audited, a text frame is decoded to its text once, here: the codec reads the text and the tap records it.
    const text = options.tap !== undefined && !isBinary && !connection.codec.binary ? textOf(data) : undefined;
    let decoded: unknown;
    try {
      decoded = connection.codec.decode(text ?? data, isBinary);
    } catch (error) {
      this.metrics.inbound('(invalid)', data.length);
      options.tap?.inbound(connection, undefined, data, isBinary, ErrorCode.badFrame, text);
      return this.outbound.sendError(connection, undefined, undefined, ErrorCode.badFrame, (error as Error).message);
    }
    const parsed = parseEnvelope(decoded);
    if (!parsed.ok) {
      this.metrics.inbound('(invalid)', data.length);
      options.tap?.inbound(connection, undefined, data, isBinary, ErrorCode.badEnvelope, text);
      return this.outbound.sendError(connection, undefined, parsed.id, ErrorCode.badEnvelope, parsed.message);
    }
    const envelope = parsed.envelope;
    const { type, id } = envelope;
    if (verdict === RateVerdict.refuse) {
      this.metrics.inbound('(refused)', data.length);
      options.tap?.inbound(connection, envelope, data, isBinary, ErrorCode.rateLimited, text);
      const { messagesPerSecond, burst } = options.rateLimit;
      const message = addressRefused
        ? 'rate limit of your address exceeded (all its connections together); message dropped'
        : `rate limit exceeded (${messagesPerSecond} messages/s, bursts of ${burst}); message dropped`;
      return this.outbound.sendError(connection, type, id, ErrorCode.rateLimited, message);
    }
    if (options.shuttingDown()) {
      this.metrics.inbound('(refused)', data.length);
      options.tap?.inbound(connection, envelope, data, isBinary, ErrorCode.shuttingDown, text);
      return this.outbound.sendError(connection, type, id, ErrorCode.shuttingDown, 'the server is shutting down; reconnect shortly');
    }
    const route = options.lookup(type, connection);
    // Types that are not routes share one label, so a client cannot grow the metrics table.
    this.metrics.inbound(route ? type : '(unknown)', data.length);
    options.tap?.inbound(connection, envelope, data, isBinary, route ? 'ok' : ErrorCode.unknownType, text);
    const admission = this.features.authorize(connection, type, route);
    if (admission !== undefined) return this.refuse(connection, envelope, admission);
    if (route === undefined) return this.unknown(connection, type, id);
    this.accept(connection, route, envelope);
  }

  private unknown(connection: Connection, type: string, id: RequestId | undefined): void {
    const message = type.charCodeAt(0) === 36 /* $ */ ? `unknown protocol message "${type}"` : `no plug handles message type "${type}"`;
    this.outbound.sendError(connection, type, id, ErrorCode.unknownType, message);
  }

  /** A refused message gets its error; one a feature is still deciding on waits, counted as in flight. */
  private refuse(connection: Connection, envelope: Envelope, admission: Refusal | Promise<Refusal | undefined>): void {
    const { type, id } = envelope;
    if (!isThenable(admission)) {
      return this.outbound.sendError(connection, type, id, admission.code, admission.message, admission.grant === undefined ? undefined : { grant: admission.grant });
    }
    if (this.tooBusy(connection, type, id)) return;
    // Waiting for the hook counts as in flight, so shutdown waits for it too.
    this.inFlight.start(connection);
    admission.then(
      (refusal) => {
        this.inFlight.done(connection);
        if (connection.closed) return;
        if (refusal !== undefined) return this.refuse(connection, envelope, refusal);
        // Looked up again: a plug swap may have happened while the hook decided.
        const route = this.options.lookup(type, connection);
        if (!route) return this.unknown(connection, type, id);
        this.accept(connection, route, envelope);
      },
      (error: unknown) => {
        this.inFlight.done(connection);
        this.fail(connection, type, id, error, undefined);
      },
    );
  }

  /** Refuses a message with rate_limited when its connection already has `maxInFlight` requests running. */
  private tooBusy(connection: Connection, type: string, id: RequestId | undefined): boolean {
    const max = this.options.maxInFlight;
    if (connection.inFlight < max) return false;
    this.outbound.sendError(connection, type, id, ErrorCode.rateLimited, `too many requests in flight (at most ${max}); wait for replies`);
    return true;
  }

  private accept(connection: Connection, route: Route, envelope: Envelope): void {
    const { type, id } = envelope;
    if (this.tooBusy(connection, type, id)) return;
    const input = route.definition.input.safeParse(envelope.data);
    const extra = route.checkKeys?.(envelope.data);
    if (!input.success) {
      const issues = toIssues(input.error.issues);
      if (extra !== undefined) issues.push(extra);
      return this.outbound.sendError(connection, type, id, ErrorCode.invalidPayload, `invalid payload for "${type}"`, { issues });
    }
    if (extra !== undefined) {
      return this.outbound.sendError(connection, type, id, ErrorCode.invalidPayload, `invalid payload for "${type}": ${extra.message}`, { issues: [extra] });
    }
    const context = new Context(this, connection, route, id, input.data);
    this.inFlight.start(connection);
    this.before(context, 0);
  }

  /** Runs the beforeHandle hooks from `from` on; a hook that returns a promise resumes the chain when it settles. */
  private before(context: Context, from: number): void {
    const hooks = context.route.beforeHandle;
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i]!;
      let verdict: unknown;
      try {
        // A plug's own hook runs as its code (faults are attributed to it); a global hook is the application's.
        verdict = hook.owner === GLOBAL ? hook.fn(context.message) : runAs(context.route.plug, hook.fn, context.message);
      } catch (error) {
        verdict = this.hookFailed(hook.owner, context.type, error);
      }
      if (isThenable(verdict)) {
        Promise.resolve(verdict).then(
          (settled) => {
            if (!this.refused(context, settled)) this.before(context, i + 1);
          },
          (error: unknown) => this.refused(context, this.hookFailed(hook.owner, context.type, error)),
        );
        return;
      }
      if (this.refused(context, verdict)) return;
    }
    this.invoke(context);
  }

  private hookFailed(owner: string, type: string, error: unknown): Rejection {
    this.log.error({ err: error, hook: 'beforeHandle', owner, type }, 'hook threw; message refused');
    return { reject: 'the message was refused' };
  }

  /** Sends `rejected` and ends the message when a beforeHandle verdict refuses it. */
  private refused(context: Context, verdict: unknown): boolean {
    if (verdict !== false && !isRejection(verdict)) return false;
    const reason = isRejection(verdict) ? verdict.reject : 'the message was refused';
    this.outbound.sendError(context.connection, context.type, context.id, ErrorCode.rejected, reason);
    this.finish(context);
    return true;
  }

  private invoke(context: Context): void {
    const route = context.route;
    const started = performance.now();
    context.started = started;
    let result: unknown;
    let ok = true;
    try {
      result = runAs(route.plug, route.definition.handler, context.data, context);
    } catch (error) {
      ok = false;
      result = error;
    }
    // How long the handler held the loop (its synchronous part): the stall monitor names the worst one.
    const ended = performance.now();
    const faults = this.faults;
    if (ended - started > faults.worstMs) faults.noteBlocking(route, ended - started);
    if (!ok) return this.complete(context, false, result, ended);
    const known = settledValue(result);
    if (known !== undefined) return this.complete(context, true, known.value, ended);
    if (isThenable(result)) {
      const deadline = this.options.handlerTimeoutMs;
      if (deadline > 0) {
        context.timer = setTimeout(onHandlerTimeout, deadline, this, context);
        context.timer.unref();
      }
      Promise.resolve(result).then(
        (value) => this.complete(context, true, value),
        (error: unknown) => this.complete(context, false, error),
      );
      return;
    }
    this.complete(context, true, result, ended);
  }

  /** @internal a handler's deadline passed: the client gets `timeout`, and the message stops counting in flight. */
  timedOut(context: Context): void {
    if (context.settled) return;
    const ms = this.options.handlerTimeoutMs;
    const route = context.route;
    this.metrics.handler(route.type, performance.now() - context.started, false);
    this.log.warn(
      { code: FaultCode.handlerTimeout, type: route.type, plug: route.plug.name, plugVersion: route.plug.version, conn: context.connection.id, ms },
      `${FaultCode.handlerTimeout}: the handler for "${route.type}" did not finish within ${ms} ms`,
    );
    if (!context.replied) {
      context.replied = true;
      this.outbound.sendError(context.connection, route.type, context.id, ErrorCode.timeout, `the handler for "${route.type}" did not finish within ${ms} ms`);
    }
    this.finish(context);
  }

  private complete(context: Context, ok: boolean, result: unknown, ended = performance.now()): void {
    if (context.settled) return; // timed out already: the late outcome is dropped
    clearTimeout(context.timer);
    const route = context.route;
    const durationMs = ended - context.started;
    this.metrics.handler(route.type, durationMs, ok);
    if (!ok) {
      if (!context.replied) {
        context.replied = true;
        this.fail(context.connection, route.type, context.id, result, route);
      } else {
        this.log.error({ err: result, type: route.type, plug: route.plug.name, conn: context.connection.id }, 'handler threw after replying');
      }
    } else if (!context.replied && context.id !== undefined) {
      context.replied = true;
      this.replyTo(context, result);
    }
    if (route.afterHandle.length === 0) return this.finish(context);
    const outcome: HandleOutcome = ok ? { ok, result, durationMs } : { ok, error: result, durationMs };
    this.after(context, outcome, 0);
  }

  private after(context: Context, outcome: HandleOutcome, from: number): void {
    const hooks = context.route.afterHandle;
    for (let i = from; i < hooks.length; i++) {
      const hook = hooks[i]!;
      try {
        const done = hook.owner === GLOBAL ? hook.fn(context.message, outcome) : runAs(context.route.plug, hook.fn, context.message, outcome);
        if (isThenable(done)) {
          const next = () => this.after(context, outcome, i + 1);
          Promise.resolve(done).then(next, (error: unknown) => {
            this.log.error({ err: error, hook: 'afterHandle', owner: hook.owner, type: context.type }, 'hook threw');
            next();
          });
          return;
        }
      } catch (error) {
        this.log.error({ err: error, hook: 'afterHandle', owner: hook.owner, type: context.type }, 'hook threw');
      }
    }
    this.finish(context);
  }

  /** The message is done: it no longer counts as in flight. */
  private finish(context: Context): void {
    if (context.settled) return;
    context.settled = true;
    this.inFlight.done(context.connection);
  }

  /** A handler failed: MessageError goes to the client as is, anything else as handler_error. */
  private fail(connection: Connection, type: string, id: RequestId | undefined, error: unknown, route: Route | undefined): void {
    if (error instanceof MessageError || (error instanceof Error && error.name === 'MessageError' && 'code' in error)) {
      const { code, message, details } = error as MessageError;
      return this.outbound.sendError(connection, type, id, code, message, details);
    }
    this.log.error({ err: error, type, plug: route?.plug.name, plugVersion: route?.plug.version, conn: connection.id }, 'handler threw');
    this.outbound.sendError(connection, type, id, ErrorCode.handlerError, `the handler for "${type}" failed; the server log has details`);
  }

  // ---------------------------------------------------------------- ContextOwner

  replyTo(context: Context, data: unknown): void {
    const route = context.route;
    let reply: unknown = data === undefined ? null : data;
    const output = route.definition.output;
    if (output) {
      const checked = output.safeParse(reply);
      if (!checked.success) {
        this.log.error(
          { type: route.type, plug: route.plug.name, plugVersion: route.plug.version, issues: toIssues(checked.error.issues) },
          'reply does not match its output schema',
        );
        return this.outbound.sendError(context.connection, route.type, context.id, ErrorCode.handlerError, `the handler for "${route.type}" failed; the server log has details`);
      }
      reply = checked.data;
    }
    this.outbound.deliver(context.connection, { type: route.type, id: context.id!, data: reply }, route.beforeSend, route.afterSend);
  }

  pushFrom(context: Context, type: string, data: unknown): boolean {
    const route = context.route;
    const checkPush = this.options.checkPush;
    if (checkPush !== undefined) data = checkPush(type, data);
    return this.outbound.deliver(context.connection, data === undefined ? { type } : { type, data }, route.beforeSend, route.afterSend);
  }
}
