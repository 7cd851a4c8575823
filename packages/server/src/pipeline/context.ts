// The context of one message: its connection, route and payload, and what the handler can do (reply, send, log).
import type { RequestId } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { ServerApi } from '../api.ts';
import type { Connection } from '../connection/connection.ts';
import { REPLIED, type HandlerContext, type InboundMessage, type Replied } from '../plug/define.ts';
import type { Route } from '../plug/route.ts';
import type { ResourceHandle } from '../resource/define.ts';

const NO_RESOURCES: Readonly<Record<string, ResourceHandle>> = Object.freeze({});

/** What a context needs from the pipeline. */
export interface ContextOwner {
  readonly api: ServerApi;
  readonly log: Logger;
  /** Sends the reply to a request, checking it against the route's output schema. */
  replyTo(context: Context, data: unknown): void;
  /** Sends a push from a handler, through the route's send hooks. */
  pushFrom(context: Context, type: string, data: unknown): boolean;
}

/**
 * One message on its way through the pipeline, and the handler's context. Created once per accepted
 * message; the pipeline's steps take it as their one argument. Its logger is made only when asked for.
 */
export class Context implements HandlerContext {
  readonly connection: Connection;
  readonly route: Route;
  readonly type: string;
  readonly id: RequestId | undefined;
  /** The validated payload. */
  readonly data: unknown;
  /** Set once a reply (or an error) went out. */
  replied = false;
  /** Set once the message finished (or timed out): it no longer counts in flight. */
  settled = false;
  /** When the handler started (performance.now()). */
  started = 0;
  /** @internal the handler deadline, for handlers that return a promise. */
  timer: NodeJS.Timeout | undefined = undefined;
  private readonly owner: ContextOwner;
  private inbound: InboundMessage | undefined;
  private logger: Logger | undefined;

  constructor(owner: ContextOwner, connection: Connection, route: Route, id: RequestId | undefined, data: unknown) {
    this.owner = owner;
    this.connection = connection;
    this.route = route;
    this.type = route.type;
    this.id = id;
    this.data = data;
  }

  /** The message as hooks see it. */
  get message(): InboundMessage {
    return (this.inbound ??= { type: this.type, id: this.id, data: this.data, connection: this.connection, plug: this.route.plug.name });
  }

  get server(): ServerApi {
    return this.owner.api;
  }

  get state(): Map<string, unknown> {
    return this.route.plug.state;
  }

  get resources(): Record<string, ResourceHandle> {
    return (this.route.plug.resources ?? NO_RESOURCES) as Record<string, ResourceHandle>;
  }

  get log(): Logger {
    return (this.logger ??= this.owner.log.child({
      plug: this.route.plug.name,
      plugVersion: this.route.plug.version,
      type: this.type,
      conn: this.connection.id,
    }));
  }

  reply(data: unknown): Replied {
    // After a timeout the client already has its error: a late reply is dropped.
    if (this.settled) return REPLIED;
    if (this.replied) throw new Error(`reply() called twice for ${this.type} request ${String(this.id)}`);
    this.replied = true;
    // A message sent without an id is fire-and-forget: there is nobody to reply to.
    if (this.id !== undefined) this.owner.replyTo(this, data);
    return REPLIED;
  }

  send(type: string, data?: unknown): void {
    this.owner.pushFrom(this, type, data);
  }
}
