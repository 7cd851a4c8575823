// definePlug: how a plug declares its messages, handlers and hooks, with types inferred from the schemas.
import type { z } from 'zod';
import type { RequestId, Envelope } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { Connection } from '../connection.ts';
import type { ServerApi } from '../api.ts';

/** Any zod schema. */
export type Schema = z.ZodType;

/** What a handler's reply must be: the output schema's input type, or anything when there is none. */
export type ReplyOf<O> = O extends z.ZodType ? z.input<O> : unknown;

/** The context a handler receives beside its validated payload. */
export interface HandlerContext<R = unknown> {
  /** The connection that sent the message. */
  readonly connection: Connection;
  /** The message type being handled. */
  readonly type: string;
  /** The request id, when the message is a request. */
  readonly id: RequestId | undefined;
  /** Replies to the request now (otherwise the handler's return value is the reply). Once only. */
  reply(data: R): void;
  /** Pushes a server-initiated message to this connection. */
  send(type: string, data?: unknown): void;
  /** A logger bound to this plug, message type and connection. */
  readonly log: Logger;
  /** The server's API: broadcast, channels, connections, grants. */
  readonly server: ServerApi;
  /** This plug's state, kept across hot swaps of the plug (module variables are not). */
  readonly state: Map<string, unknown>;
}

/** One message type as the registry holds it, after the plug was checked. */
export interface MessageDefinition {
  input: Schema;
  output?: Schema;
  description?: string;
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

/** The messages of a plug whose input schemas are `I` and output schemas `O`, keyed by message type. */
export type Messages<I, O> = {
  [K in keyof I]: {
    input: I[K];
    /** One line for the manifest and generated docs. */
    description?: string;
    handler: (
      data: z.output<I[K] & Schema>,
      ctx: HandlerContext<ReplyOf<K extends keyof O ? O[K] : undefined>>,
    ) => ReplyOf<K extends keyof O ? O[K] : undefined> | void | Promise<ReplyOf<K extends keyof O ? O[K] : undefined> | void>;
  };
} & { [K in keyof O]: { output?: O[K] } };

/** A plug: a name, its messages, and optional hooks. */
export interface PlugDefinition<I = Record<string, Schema>, O = Record<string, unknown>> {
  /** Unique among the server's plugs: letters, digits, `-` and `_`. */
  name: string;
  /** Shown in the manifest; defaults to a hash of the plug file. */
  version?: string;
  messages: Messages<I, O>;
  hooks?: Hooks;
  /** Runs when this version of the plug is loaded, before it takes traffic. Throwing rejects the version. */
  onLoad?: (server: ServerApi, state: Map<string, unknown>) => void | Promise<void>;
  /** Runs when this version is replaced or removed: clear its timers and subscriptions here. */
  onUnload?: (server: ServerApi, state: Map<string, unknown>) => void | Promise<void>;
}

const PLUG_BRAND: unique symbol = Symbol.for('switchboard.plug');

/** A plug definition as returned by `definePlug`. */
export type Plug<I = Record<string, Schema>, O = Record<string, unknown>> = PlugDefinition<I, O> & {
  readonly [PLUG_BRAND]: true;
};

/** A plug of any message types, as the registry holds it. */
export type AnyPlug = Plug<any, any>;

/**
 * Declares a plug. Each message's handler gets its payload typed from `input` and must reply with what
 * `output` describes.
 *
 * @example
 * export default definePlug({
 *   name: 'chat',
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
export function definePlug<I extends Record<string, Schema>, O extends Record<string, unknown> = Record<never, never>>(
  definition: PlugDefinition<I, O>,
): Plug<I, O> {
  return Object.assign(definition, { [PLUG_BRAND]: true as const });
}

/** Whether a value came from `definePlug` (in any copy of this package). */
export function isBrandedPlug(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[PLUG_BRAND] === true;
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer X) => void ? X : never;
type InputsOf<P> = P extends Plug<infer I, infer _O> ? I : never;
type OutputsOf<P> = P extends Plug<infer _I, infer O> ? O : never;

/**
 * The API a set of plugs offers, for typing the client: message type → `{ input, output }`.
 *
 * @example
 * import type chat from './plugs/chat.ts';
 * import type echo from './plugs/echo.ts';
 * export type Api = AppApi<typeof chat | typeof echo>;
 * const client = connect<Api>(url);
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
};
