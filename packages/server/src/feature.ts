// The feature contract: how auth, channels and the features to come (resources, rooms, recorder) join the server.
import type { IncomingMessage } from 'node:http';
import type { Identity } from './identity.ts';
import type { Connection, ConnectionInfo } from './connection/connection.ts';
import { DevErrorCode, SwitchboardError } from './errors.ts';
import type { HandlerContext, Schema } from './plug/define.ts';
import type { UpgradeDecision } from './transport/transport.ts';

/** What an accepted upgrade carries into the connection (extended by authentication). */
export interface UpgradeContext {
  request: IncomingMessage;
  /** Set when the upgrade request carried valid credentials. */
  identity?: Identity;
  /** Set on `/socket/:id`: the room instance the connection is bound to, and the seat token to take back. */
  room?: { id: string; seat: string | undefined };
}

/** Why a connection may not send a message: the error it gets instead (`grant` names a missing grant). */
export interface Refusal {
  code: string;
  message: string;
  grant?: string;
}

/** What `authorize` learns of a route: whether the protocol serves it (its own grant checks apply). */
export interface RouteKind {
  readonly type: string;
  readonly protocol: boolean;
}

/** A feature's answer on a message: undefined lets it through; a promise only when an app hook must decide. */
export type Admission = Refusal | undefined | Promise<Refusal | undefined>;

/**
 * A protocol message type (`$…`) a feature serves. It runs through the same pipeline as a plug's messages:
 * its payload is validated by `input` (declare it with `z.strictObject`), it counts in flight, it is timed
 * in the metrics, the global hooks see it and shutdown waits for it. The handler returns the reply (or calls
 * `ctx.reply`) and throws `MessageError` to fail with a code.
 */
export interface ProtocolRoute {
  readonly type: `$${string}`;
  readonly input: Schema;
  readonly description?: string;
  handler(data: any, ctx: HandlerContext): unknown;
}

/**
 * A feature of the server. `server.ts` lists the features in order; every step runs them in that order and
 * teardown (`close`) in reverse. Nothing else adds a door into the core.
 */
export interface Feature {
  readonly name: string;
  /** Protocol message types it serves. */
  readonly routes?: readonly ProtocolRoute[];
  /** Decides on an upgrade before the handshake; may add to the context (authentication adds the identity). */
  upgrade?(request: IncomingMessage, context: UpgradeContext): UpgradeDecision<UpgradeContext> | Promise<UpgradeDecision<UpgradeContext>>;
  /** A connection opened (before the onConnect hooks): set up per-connection state. */
  open?(connection: Connection, context: UpgradeContext): void;
  /** The connection is ready: `$welcome` is out and its messages are being handled. */
  ready?(connection: Connection): void;
  /** The connection closed: drop its state. Runs in reverse feature order. */
  close?(connection: Connection): void;
  /** Fields added to `$welcome`. */
  welcome?(connection: Connection): Record<string, unknown>;
  /** Fields added to the connection's admin info. */
  describe?(connection: Connection): Partial<ConnectionInfo>;
  /**
   * Every message passes here before its route is looked up (`route` undefined: no such type) and again
   * once it is (`route` set). Must be cheap and synchronous in the common case.
   */
  authorize?(connection: Connection, type: string, route: RouteKind | undefined): Admission;
  /** The connection's identity or grants changed: drop what it may no longer have. */
  accessChanged?(connection: Connection, reason: string): void;
}

/**
 * The ordered feature list and the steps over it.
 *
 * @example
 * const features = new FeatureList([auth, channels]);
 * features.open(connection, context);
 */
export class FeatureList {
  readonly features: readonly Feature[];
  /** Every protocol route, by type. */
  readonly routes: ReadonlyMap<string, ProtocolRoute & { feature: string }>;
  private readonly reversed: readonly Feature[];
  private readonly upgraders: readonly Feature[];
  private readonly openers: readonly Feature[];
  private readonly readiers: readonly Feature[];
  private readonly closers: readonly Feature[];
  private readonly welcomers: readonly Feature[];
  private readonly describers: readonly Feature[];
  private readonly authorizers: readonly Feature[];
  private readonly watchers: readonly Feature[];

  constructor(features: readonly Feature[]) {
    const names = new Set<string>();
    const routes = new Map<string, ProtocolRoute & { feature: string }>();
    for (const feature of features) {
      if (names.has(feature.name)) throw new SwitchboardError(DevErrorCode.configInvalid, `feature "${feature.name}" is listed twice`);
      names.add(feature.name);
      for (const route of feature.routes ?? []) {
        const other = routes.get(route.type);
        if (other) throw new SwitchboardError(DevErrorCode.plugConflict, `protocol type ${route.type} is served by both ${other.feature} and ${feature.name}`);
        routes.set(route.type, { ...route, feature: feature.name });
      }
    }
    this.features = features;
    this.routes = routes;
    this.reversed = [...features].reverse();
    this.upgraders = features.filter((f) => f.upgrade);
    this.openers = features.filter((f) => f.open);
    this.readiers = features.filter((f) => f.ready);
    this.closers = this.reversed.filter((f) => f.close);
    this.welcomers = features.filter((f) => f.welcome);
    this.describers = features.filter((f) => f.describe);
    this.authorizers = features.filter((f) => f.authorize);
    this.watchers = features.filter((f) => f.accessChanged);
  }

  async upgrade(request: IncomingMessage): Promise<UpgradeDecision<UpgradeContext>> {
    let context: UpgradeContext = { request };
    for (const feature of this.upgraders) {
      const decision = await feature.upgrade!(request, context);
      if (!decision.ok) return decision;
      context = decision.context;
    }
    return { ok: true, context };
  }

  open(connection: Connection, context: UpgradeContext): void {
    for (const feature of this.openers) feature.open!(connection, context);
  }

  ready(connection: Connection): void {
    for (const feature of this.readiers) feature.ready!(connection);
  }

  close(connection: Connection): void {
    for (const feature of this.closers) feature.close!(connection);
  }

  welcome(connection: Connection, fields: Record<string, unknown>): Record<string, unknown> {
    for (const feature of this.welcomers) Object.assign(fields, feature.welcome!(connection));
    return fields;
  }

  describe(connection: Connection): Partial<ConnectionInfo> {
    const info: Partial<ConnectionInfo> = {};
    for (const feature of this.describers) Object.assign(info, feature.describe!(connection));
    return info;
  }

  /** The first refusal wins; a feature still deciding (a promise) is waited for before the next is asked. */
  authorize(connection: Connection, type: string, route: RouteKind | undefined): Admission {
    const authorizers = this.authorizers;
    if (authorizers.length === 1) return authorizers[0]!.authorize!(connection, type, route);
    return this.authorizeFrom(0, connection, type, route);
  }

  private authorizeFrom(from: number, connection: Connection, type: string, route: RouteKind | undefined): Admission {
    for (let i = from; i < this.authorizers.length; i++) {
      const admission = this.authorizers[i]!.authorize!(connection, type, route);
      if (admission === undefined) continue;
      if (admission instanceof Promise) {
        return admission.then((refusal) => refusal ?? this.authorizeFrom(i + 1, connection, type, route));
      }
      return admission;
    }
    return undefined;
  }

  accessChanged(connection: Connection, reason: string): void {
    for (const feature of this.watchers) feature.accessChanged!(connection, reason);
  }
}
