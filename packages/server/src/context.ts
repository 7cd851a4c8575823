// The context a handler receives: its connection, reply, send, logger, server API and plug state.
import type { RequestId } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { ServerApi } from './api.ts';
import type { Connection } from './connection.ts';
import type { HandlerContext } from './plug/define.ts';
import type { Route } from './plug/registry.ts';

/** What a context needs from the server core. */
export interface ContextOwner {
  readonly api: ServerApi;
  readonly log: Logger;
  /** Sends the reply to a request, checking it against the route's output schema. */
  replyTo(connection: Connection, route: Route, id: RequestId, data: unknown): void;
  /** Sends a push from a handler, through the route's send hooks. */
  pushFrom(connection: Connection, route: Route, type: string, data: unknown): boolean;
}

/** One handler call's context. Created per message; its logger is made only when asked for. */
export class Context implements HandlerContext {
  readonly connection: Connection;
  readonly type: string;
  readonly id: RequestId | undefined;
  replied = false;
  private readonly owner: ContextOwner;
  private readonly route: Route;
  private logger: Logger | undefined;

  constructor(owner: ContextOwner, connection: Connection, route: Route, id: RequestId | undefined) {
    this.owner = owner;
    this.connection = connection;
    this.route = route;
    this.type = route.type;
    this.id = id;
  }

  get server(): ServerApi {
    return this.owner.api;
  }

  get state(): Map<string, unknown> {
    return this.route.plug.state;
  }

  get log(): Logger {
    return (this.logger ??= this.owner.log.child({
      plug: this.route.plug.name,
      plugVersion: this.route.plug.version,
      type: this.type,
      conn: this.connection.id,
    }));
  }

  reply(data: unknown): void {
    if (this.replied) throw new Error(`reply() called twice for ${this.type} request ${String(this.id)}`);
    this.replied = true;
    // A message sent without an id is fire-and-forget: there is nobody to reply to.
    if (this.id !== undefined) this.owner.replyTo(this.connection, this.route, this.id, data);
  }

  send(type: string, data?: unknown): void {
    this.owner.pushFrom(this.connection, this.route, type, data);
  }
}
