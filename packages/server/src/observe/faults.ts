// Contained plug faults: errors that escape plug code (timers, listeners, unawaited promises) and event-loop stalls.
import { AsyncLocalStorage } from 'node:async_hooks';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';

/** What the server does when plug code fails outside a handler's own call. See docs/plugs.md. */
export const FaultPolicy = {
  /** Log it (SB_PLUG_FAULT), count it, keep serving. The default. */
  keepServing: 'keep-serving',
  /** Log it, count it, and unload the plug that failed (its clients are told through the manifest). */
  unloadPlug: 'unload-plug',
  /** Log it and exit with status 1, for supervisors that prefer to restart the process. */
  exit: 'exit',
} as const;
export type FaultPolicy = (typeof FaultPolicy)[keyof typeof FaultPolicy];

/** Log codes of the fault handler. */
export const FaultCode = {
  /** Plug code threw or left a rejection unhandled outside a handler's own call. */
  plugFault: 'SB_PLUG_FAULT',
  /** An error escaped code that is no plug's (the application's, or Switchboard's own). */
  uncaught: 'SB_UNCAUGHT_ERROR',
  /** The event loop was blocked for longer than the stall threshold. */
  stall: 'SB_EVENT_LOOP_STALL',
  /** A handler did not settle before its deadline. */
  handlerTimeout: 'SB_HANDLER_TIMEOUT',
  /** A room instance's code failed outside a handler: restarted from its last good state, or stopped past its restart limit. */
  roomFault: 'SB_ROOM_FAULT',
  /** The store refused a write: records go to the spool until it answers again. */
  storeUnavailable: 'SB_STORE_UNAVAILABLE',
  /** The store answers again: the spooled records were written. */
  storeAvailable: 'SB_STORE_AVAILABLE',
  /** Audit records were dropped: the store was away and the spool full or off. */
  auditDropped: 'SB_AUDIT_DROPPED',
  /** A cluster's worker exited without being asked to: the agent restarts it (within the restart intensity). */
  workerExited: 'SB_WORKER_EXITED',
  /** More workers crashed within the window than the restart intensity allows: the agent stops, exit code 1. */
  restartsExceeded: 'SB_WORKER_RESTARTS_EXCEEDED',
  /** A rolling reload stopped: a new worker did not start listening; the old one keeps serving. */
  reloadFailed: 'SB_RELOAD_FAILED',
} as const;

/** Whose code is running: a plug version (or the protocol); route owners are these. */
export interface CodeOwner {
  readonly name: string;
  readonly version: string;
  /** A supervisor of this code (a room instance): handles the fault itself instead of the plug policy. */
  fault?(error: unknown): void;
}

// Plug code runs inside this storage (import, onLoad/onUnload, hooks, handlers), so a timer or a promise it
// starts carries its owner, and an error escaping it later is attributed to the plug.
const scope = new AsyncLocalStorage<CodeOwner>();

/**
 * Runs `fn(...args)` as code of `owner`. No closure: the arguments are passed through.
 *
 * @example
 * runAs(route.plug, route.definition.handler, data, context);
 */
export function runAs<A extends unknown[], R>(owner: CodeOwner, fn: (...args: A) => R, ...args: A): R {
  return scope.run(owner, fn, ...args);
}


const servers = new Set<Faults>();

function dispatch(error: unknown, origin: 'uncaughtException' | 'unhandledRejection'): void {
  const owner = scope.getStore();
  let target: Faults | undefined;
  for (const faults of servers) {
    if (owner !== undefined && faults.owns(owner)) {
      target = faults;
      break;
    }
    target ??= faults;
  }
  target?.report(error, origin, owner !== undefined && target.owns(owner) ? owner : undefined);
}

const onException = (error: Error, origin: string): void => dispatch(error, origin === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException');
const onRejection = (reason: unknown): void => dispatch(reason, 'unhandledRejection');

/** A stall the monitor saw. */
export interface Stall {
  at: string;
  ms: number;
  /** The route that was running (or last started) when the loop blocked, when one was. */
  route?: string;
  plug?: string;
}

/** What `Faults` is handed by `server.ts`. */
export interface FaultsOptions {
  policy: FaultPolicy;
  /** Event-loop blocks at least this long are reported. 0 turns the monitor off. */
  stallMs: number;
  log: Logger;
  /** Whether a plug version belongs to this server. */
  owns(owner: CodeOwner): boolean;
  /** Unloads a plug (the `unload-plug` policy). */
  unload(name: string): Promise<unknown>;
}

const STALL_CHECK_MS = 100;

/**
 * One server's fault handler: while it runs, an error escaping plug code never ends the process (unless the
 * policy says `exit`); it is logged with SB_PLUG_FAULT, counted, and attributed to the plug. It also measures
 * the event loop and reports blocks longer than `stallMs`, naming the route that was running.
 *
 * @example
 * const faults = new Faults({ policy: 'keep-serving', stallMs: 1000, log, owns, unload });
 * faults.start();
 */
export class Faults {
  /** Faults seen, in all and per plug. */
  total = 0;
  readonly byPlug = new Map<string, number>();
  stalls = 0;
  lastStall: Stall | undefined = undefined;
  /** @internal the route whose handler held the loop longest (its synchronous part) since the last check. */
  worst: { readonly type: string; readonly plug: { readonly name: string } } | undefined = undefined;
  /** @internal */ worstMs = 0;
  private readonly options: FaultsOptions;
  private histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastCheck = 0;

  constructor(options: FaultsOptions) {
    this.options = options;
  }

  /** @internal a handler held the loop for `ms`, longer than any other since the last check. */
  noteBlocking(route: { readonly type: string; readonly plug: { readonly name: string } }, ms: number): void {
    this.worst = route;
    this.worstMs = ms;
  }

  owns(owner: CodeOwner): boolean {
    return this.options.owns(owner);
  }

  start(): void {
    if (servers.size === 0) {
      process.on('uncaughtException', onException);
      process.on('unhandledRejection', onRejection);
    }
    servers.add(this);
    if (this.options.stallMs > 0) {
      this.histogram = monitorEventLoopDelay({ resolution: 10 });
      this.histogram.enable();
      this.lastCheck = performance.now();
      this.timer = setInterval(() => this.check(), STALL_CHECK_MS);
      this.timer.unref();
    }
  }

  stop(): void {
    servers.delete(this);
    if (servers.size === 0) {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    }
    clearInterval(this.timer);
    this.histogram?.disable();
  }

  /** @internal an error escaped: log, count, apply the policy. */
  report(error: unknown, origin: 'uncaughtException' | 'unhandledRejection', owner: CodeOwner | undefined): void {
    const { log, policy } = this.options;
    this.total++;
    if (owner?.fault !== undefined) {
      // Its supervisor restarts it (and logs SB_ROOM_FAULT); the plug's policy is not for this.
      if (owner.name !== undefined) this.byPlug.set(owner.name, (this.byPlug.get(owner.name) ?? 0) + 1);
      owner.fault(error);
      return;
    }
    const plug = owner?.name;
    if (plug !== undefined) this.byPlug.set(plug, (this.byPlug.get(plug) ?? 0) + 1);
    const code = plug !== undefined ? FaultCode.plugFault : FaultCode.uncaught;
    const where = origin === 'unhandledRejection' ? 'left a promise rejection unhandled' : 'threw outside a handler';
    log.error(
      { err: error, code, plug, plugVersion: owner?.version, origin, policy },
      plug !== undefined ? `${code}: plug "${plug}" ${where}; policy ${policy}` : `${code}: code outside any plug ${where}; policy ${policy}`,
    );
    if (policy === FaultPolicy.exit) {
      process.exit(1);
    }
    if (policy === FaultPolicy.unloadPlug && plug !== undefined && plug !== '$protocol') {
      this.options.unload(plug).then(
        () => log.warn({ code, plug }, `plug "${plug}" unloaded after a fault`),
        (unloadError: unknown) => log.error({ err: unloadError, plug }, 'unloading the faulty plug failed'),
      );
    }
  }

  private check(): void {
    const now = performance.now();
    const lag = now - this.lastCheck - STALL_CHECK_MS;
    this.lastCheck = now;
    const worst = this.worst;
    const worstMs = this.worstMs;
    this.worst = undefined;
    this.worstMs = 0;
    if (lag < this.options.stallMs) return;
    this.stalls++;
    const stall: Stall = { at: new Date().toISOString(), ms: Math.round(lag) };
    // A handler whose own synchronous run was most of the stall is what blocked the loop; a block in a timer
    // or an event listener names no route (it was none).
    if (worst !== undefined && worstMs >= lag / 2) {
      stall.route = worst.type;
      stall.plug = worst.plug.name;
    }
    this.lastStall = stall;
    this.options.log.warn(
      { code: FaultCode.stall, ms: stall.ms, route: stall.route, plug: stall.plug },
      `${FaultCode.stall}: the event loop was blocked for ${stall.ms} ms${stall.route ? ` while "${stall.route}" (plug ${stall.plug}) ran` : ''}`,
    );
  }

  /** For `/admin/metrics`. */
  snapshot(): { faults: { total: number; byPlug: Record<string, number> }; eventLoop: { meanMs: number; p99Ms: number; maxMs: number; stalls: number; lastStall?: Stall } } {
    const h = this.histogram;
    const ms = (ns: number) => Math.round((ns / 1e6) * 100) / 100;
    return {
      faults: { total: this.total, byPlug: Object.fromEntries(this.byPlug) },
      eventLoop: {
        meanMs: h && h.count > 0 ? ms(h.mean) : 0,
        p99Ms: h && h.count > 0 ? ms(h.percentile(99)) : 0,
        maxMs: h && h.count > 0 ? ms(h.max) : 0,
        stalls: this.stalls,
        ...(this.lastStall ? { lastStall: this.lastStall } : {}),
      },
    };
  }
}
