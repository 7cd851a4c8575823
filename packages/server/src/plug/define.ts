// definePlug: how a plug declares its messages, pushes, channel events and hooks, with types inferred from the schemas.
import type { z } from 'zod';
import type { RequestId, Envelope, RoomType, WithPushes } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { Connection } from '../connection/connection.ts';
import type { BroadcastOptions, PublishOptions, ServerApi } from '../api.ts';
import type { Resource, ResourceHandles } from '../resource/define.ts';
import type { Room } from '../room/define.ts';

/** Any zod schema. */
export type Schema = z.ZodType;

/** Names mapped to zod schemas: a plug's pushes (push type → data) or channel events (event → data). */
export type SchemaMap = Record<string, Schema>;

/** What a handler's reply must be: the output schema's input type, or anything when there is none. */
export type ReplyOf<O> = O extends z.ZodType ? z.input<O> : unknown;

declare const repliedBrand: unique symbol;
/**
 * What `ctx.reply()` returns. A handler whose message declares `output` must return its reply; one that
 * replied early returns this instead, so forgetting to reply does not compile.
 *
 * @example
 * handler(data, ctx) {
 *   return ctx.reply({ accepted: true }); // reply now, keep working
 * }
 */
export interface Replied {
  readonly [repliedBrand]: true;
}

/** The value `ctx.reply()` returns at run time; a handler's return value is ignored once it replied. */
export const REPLIED: Replied = Object.freeze({}) as Replied;

/** What a handler may return: with `output`, the reply (or `ctx.reply()`'s value), maybe as a promise; anything without. */
export type HandlerResult<O> = O extends Schema ? z.input<O> | Replied | Promise<z.input<O> | Replied> : unknown;

/** Whether a schema map declares anything: plugs that declare no pushes or events keep loose `send` and `publish`. */
type Declares<M> = [keyof M] extends [never] ? false : true;

/** The data argument (and what follows it) of sending a message of schema `S`; optional when `S` accepts undefined. */
type DataArgs<S, Tail extends unknown[] = []> = S extends Schema
  ? undefined extends z.input<S>
    ? [data?: z.input<S>, ...Tail]
    : [data: z.input<S>, ...Tail]
  : never;

/** `ctx.send` of a plug that declares pushes `P`: only those types, each with its schema's data. */
type TypedSend<P> = <K extends keyof P & string>(type: K, ...args: DataArgs<P[K]>) => void;

/**
 * `ServerApi` as a plug that declares pushes `P` and channel events `E` sees it: `broadcast` and `send` take
 * only its push types with their data, `publish` only its events. Without declarations it is `ServerApi`.
 *
 * @example
 * // in a plug declaring pushes: { 'chat.message': z.object({ text: z.string() }) }
 * ctx.server.broadcast('chat.message', { text }); // compiles
 * ctx.server.broadcast('chat.mesage', { text }); // does not
 */
export type TypedServerApi<P = Record<never, never>, E = Record<never, never>> = [keyof P | keyof E] extends [never]
  ? ServerApi
  : Omit<ServerApi, 'broadcast' | 'send' | 'publish'> & {
      /** Sends one of this plug's pushes to every connection (on every node, through the bus). */
      broadcast: Declares<P> extends true
        ? <K extends keyof P & string>(type: K, ...args: DataArgs<P[K], [options?: BroadcastOptions]>) => void
        : ServerApi['broadcast'];
      /** Sends one of this plug's pushes to one connection, on this node or (with a cluster bus) whichever holds it. */
      send: Declares<P> extends true
        ? <K extends keyof P & string>(connectionId: string, type: K, ...args: DataArgs<P[K]>) => boolean
        : ServerApi['send'];
      /** Publishes one of this plug's channel events to every subscriber of a channel. */
      publish: Declares<E> extends true
        ? <K extends keyof E & string>(channel: string, event: K, ...args: DataArgs<E[K], [options?: PublishOptions]>) => void
        : ServerApi['publish'];
    };

/** A plug's resources: name → `defineResource(...)`. */
export type ResourceMap = Record<string, Resource<any>>;

/**
 * The context a handler receives beside its validated payload. `R` is the reply type, `P` and `E` the plug's
 * pushes and channel events (when it declares them, `send`, `server.broadcast` and `server.publish` are
 * checked against them), `Res` its resources (`ctx.resources`, typed from their schemas).
 */
export interface HandlerContext<R = unknown, P = Record<never, never>, E = Record<never, never>, Res = Record<never, never>> {
  /** The connection that sent the message. */
  readonly connection: Connection;
  /** The message type being handled. */
  readonly type: string;
  /** The request id, when the message is a request. */
  readonly id: RequestId | undefined;
  /** Replies to the request now (otherwise the handler's return value is the reply). Once only. */
  reply(data: R): Replied;
  /** Pushes a server-initiated message to this connection: one of the plug's pushes when it declares any. */
  readonly send: Declares<P> extends true ? TypedSend<P> : (type: string, data?: unknown) => void;
  /** A logger bound to this plug, message type and connection. */
  readonly log: Logger;
  /** The server's API: broadcast, channels, connections, grants. */
  readonly server: TypedServerApi<P, E>;
  /** This plug's state, kept across hot swaps of the plug (module variables are not). */
  readonly state: Map<string, unknown>;
  /** This plug's resources: read them, and write to them (every subscriber sees the change). */
  readonly resources: ResourceHandles<Res>;
}

/** One message type as the registry holds it, after the plug was checked. */
export interface MessageDefinition {
  input: Schema;
  output?: Schema;
  description?: string;
  /** `false` lets payload keys the input schema does not declare through (zod strips them) instead of refusing them. */
  strict?: boolean;
  handler: (data: unknown, ctx: HandlerContext) => unknown;
}
/** A message as a `beforeHandle` / `afterHandle` hook sees it. */
export interface InboundMessage {
  readonly type: string;
  readonly id: RequestId | undefined;
  readonly data: unknown;
  readonly connection: Connection;
  /** The plug that handles it. */
  readonly plug: string;
}

/** What `afterHandle` learns about the outcome. */
export interface HandleOutcome {
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: unknown;
  readonly durationMs: number;
}

/** Returned by `beforeHandle` to refuse a message; the client receives `rejected` with this message. */
export interface Rejection {
  reject: string;
}

/**
 * Lifecycle hooks, global (in `createServer({ hooks })`) or per plug. They run in this order: global first,
 * then plugs in load order; teardown hooks (`onDisconnect`, `onUnload`) run in reverse. An error thrown in a
 * hook is logged and isolated; in `beforeHandle` it refuses the message (fail closed).
 */
export interface Hooks {
  /** A connection opened. Messages wait until every onConnect hook has finished. */
  onConnect?: (connection: Connection, server: ServerApi) => void | Promise<void>;
  /** A connection closed. */
  onDisconnect?: (connection: Connection, info: { code: number; reason: string }) => void | Promise<void>;
  /** Before a handler runs: return `false` or `{ reject: 'why' }` to refuse the message. */
  beforeHandle?: (message: InboundMessage) => void | boolean | Rejection | Promise<void | boolean | Rejection>;
  /** After a handler finished (or failed). */
  afterHandle?: (message: InboundMessage, outcome: HandleOutcome) => void | Promise<void>;
  /**
   * Before a message is encoded for sending. Return a new envelope to transform it, `false` to drop it.
   * Synchronous (it is on the send path). `connection` is undefined for a broadcast: a broadcast is encoded
   * once for everyone, so its hook runs once, not per recipient.
   */
  beforeSend?: (envelope: Envelope, connection: Connection | undefined) => Envelope | false | void;
  /** After a message was queued for sending. Synchronous. */
  afterSend?: (envelope: Envelope, connection: Connection | undefined) => void;
}

export type HookName = keyof Hooks;
/** The closed, ordered list of connection-lifecycle hooks. */
export const HOOK_NAMES: readonly HookName[] = [
  'onConnect',
  'beforeHandle',
  'afterHandle',
  'beforeSend',
  'afterSend',
  'onDisconnect',
];

/** The output schema of message `K`, or undefined when it declares none. */
type OutputOf<O, K> = K extends keyof O ? O[K] : undefined;

/**
 * The messages of a plug whose input schemas are `I` and output schemas `O`, keyed by message type; `P` and
 * `E` are the plug's pushes and channel events, which type the handlers' context.
 */
export type Messages<I, O, P = Record<never, never>, E = Record<never, never>, Res = Record<never, never>> = {
  [K in keyof I]: {
    input: I[K];
    /** One line for the manifest and generated docs. */
    description?: string;
    /**
     * Payload keys the input schema does not declare are refused (`invalid_payload` naming the key) unless
     * this is `false` (then zod strips them). A `.loose()` object keeps its extra keys either way.
     */
    strict?: boolean;
    handler: (data: z.output<I[K] & Schema>, ctx: HandlerContext<ReplyOf<OutputOf<O, K>>, P, E, Res>) => HandlerResult<OutputOf<O, K>>;
  };
} & { [K in keyof O]: { output?: O[K] } };

/** A plug: a name, its messages, the pushes and channel events it sends, its resources, and optional hooks. */
export interface PlugDefinition<
  I = Record<string, Schema>,
  O = Record<string, unknown>,
  P = Record<never, never>,
  E = Record<never, never>,
  Res = Record<never, never>,
  Rm = Record<string, Room>,
> {
  /** Unique among the server's plugs: letters, digits, `-` and `_`. */
  name: string;
  /** Shown in the manifest; defaults to a hash of the plug file. */
  version?: string;
  messages: Messages<I, O, P, E, Res>;
  /** The messages this plug sends unasked (`ctx.send`, `server.broadcast`, `server.send`): push type → schema of the data. */
  pushes?: P;
  /** The channel events this plug publishes (`server.publish(channel, event, data)`): event → schema of the data. */
  events?: E;
  /** The live-data resources this plug serves: name → `defineResource(...)` (docs/live-data.md). */
  resources?: Res;
  /** The room kinds this plug serves: name → `defineRoom(...)` (docs/rooms.md). */
  rooms?: Rm;
  hooks?: Hooks;
  /** Runs when this version of the plug is loaded, before it takes traffic. Throwing rejects the version. */
  onLoad?: (server: TypedServerApi<P, E>, state: Map<string, unknown>) => void | Promise<void>;
  /** Runs when this version is replaced or removed: clear its timers and subscriptions here. */
  onUnload?: (server: TypedServerApi<P, E>, state: Map<string, unknown>) => void | Promise<void>;
}

const PLUG_BRAND: unique symbol = Symbol.for('switchboard.plug');

/** A plug definition as returned by `definePlug`. */
export type Plug<
  I = Record<string, Schema>,
  O = Record<string, unknown>,
  P = Record<never, never>,
  E = Record<never, never>,
  Res = Record<never, never>,
  Rm = Record<string, Room>,
> = PlugDefinition<I, O, P, E, Res, Rm> & {
  readonly [PLUG_BRAND]: true;
};

/** A plug of any message types, pushes, events and resources, as the registry holds it. */
export type AnyPlug = Plug<any, any, any, any, any>;

/**
 * Declares a plug. Each message's handler gets its payload typed from `input` and must return the reply
 * `output` describes; `ctx.send`, `ctx.server.broadcast` and `ctx.server.publish` are checked against the
 * plug's `pushes` and `events` when it declares them.
 *
 * @example
 * export default definePlug({
 *   name: 'chat',
 *   pushes: { 'chat.message': z.object({ text: z.string() }) },
 *   events: { typing: z.object({ user: z.string() }) },
 *   messages: {
 *     'chat.send': {
 *       input: z.object({ text: z.string().min(1).max(500) }),
 *       output: z.object({ sent: z.boolean() }),
 *       handler(data, ctx) {
 *         ctx.server.broadcast('chat.message', { text: data.text });
 *         return { sent: true };
 *       },
 *     },
 *   },
 * });
 */
export function definePlug<
  I extends Record<string, Schema>,
  O extends Record<string, unknown> = Record<never, never>,
  P extends SchemaMap = Record<never, never>,
  E extends SchemaMap = Record<never, never>,
  Res extends ResourceMap = Record<never, never>,
  Rm extends Record<string, Room> = Record<never, never>,
>(definition: PlugDefinition<I, O, P, E, Res, Rm>): Plug<I, O, P, E, Res, Rm> {
  return Object.assign(definition, { [PLUG_BRAND]: true as const });
}

/** Whether a value came from `definePlug` (in any copy of this package). */
export function isBrandedPlug(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PLUG_BRAND] === true;
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer X) => void ? X : never;
type InputsOf<P> = P extends Plug<infer I, infer _O, infer _P, infer _E, infer _R, infer _Rm> ? I : never;
type OutputsOf<P> = P extends Plug<infer _I, infer O, infer _P, infer _E, infer _R, infer _Rm> ? O : never;
type PushesOf<P> = P extends Plug<infer _I, infer _O, infer Pushes, infer _E, infer _R, infer _Rm> ? Pushes : never;
type EventsOf<P> = P extends Plug<infer _I, infer _O, infer _P, infer Events, infer _R, infer _Rm> ? Events : never;
type ResourcesOf<P> = P extends Plug<infer _I, infer _O, infer _P, infer _E, infer Resources, infer _Rm> ? Resources : never;
type RoomKindsOf<P> = P extends Plug<infer _I, infer _O, infer _P, infer _E, infer _R, infer Rooms> ? Rooms : never;
/** Room kind → what a typed client sees of it: the state, the messages' input, the pushes' data. */
type RoomTypesOf<R> = {
  [K in keyof R & string]: R[K] extends Room<infer S, infer I, infer Pushes>
    ? RoomType<S, { [T in keyof I & string]: z.input<I[T] & Schema> }, DataOf<Pushes>>
    : never;
};
/** Resource name → its record type, as a client's live copy holds it. */
type RecordsOf<R> = { [K in keyof R & string]: R[K] extends Resource<infer S> ? z.output<S> : never };
/** Name → the data its schema produces, as a client receives it. */
type DataOf<M> = { [K in keyof M & string]: z.output<M[K] & Schema> };

/**
 * The API a set of plugs offers, for typing the client: message type → `{ input, output }`, plus the
 * plugs' pushes and channel events under symbol keys (`WithPushes`), so `keyof` stays the message types.
 *
 * @example
 * import type chat from './plugs/chat.ts';
 * import type echo from './plugs/echo.ts';
 * export type Api = AppApi<typeof chat | typeof echo>;
 * const client = connect<Api>(url);
 * client.on('chat.message', (message) => render(message.text)); // typed from chat's pushes
 */
export type AppApi<P> = {
  [K in keyof UnionToIntersection<InputsOf<P>> & string]: {
    input: z.input<UnionToIntersection<InputsOf<P>>[K] & Schema>;
    output: K extends keyof UnionToIntersection<OutputsOf<P>>
      ? UnionToIntersection<OutputsOf<P>>[K] extends Schema
        ? z.output<UnionToIntersection<OutputsOf<P>>[K]>
        : unknown
      : unknown;
  };
} & WithPushes<
    DataOf<UnionToIntersection<PushesOf<P>>>,
    DataOf<UnionToIntersection<EventsOf<P>>>,
    RecordsOf<UnionToIntersection<ResourcesOf<P>>>,
    RoomTypesOf<UnionToIntersection<RoomKindsOf<P>>>
  >;
