// defineRoom: how a plug declares a room kind — its state, lifecycle callbacks, messages, timers, limits and supervision.
import type { z } from 'zod';
import type { Identity } from '../identity.ts';

/** Any zod schema. */
type Schema = z.ZodType;

/** A member of a room, as the room's code sees it. */
export interface RoomMember {
  /** The identity id, or a seat id for an anonymous member. */
  readonly id: string;
  /** The member's identity when it is authenticated. */
  readonly identity: Identity | undefined;
  /** The connection it is on now; undefined while it is away (its seat held for it to come back). */
  readonly connectionId: string | undefined;
  /** The room's own per-member data (a player's colour, a score). Kept across reconnects. */
  readonly data: Record<string, unknown>;
}

/** Push type → schema of its data: what a room sends its members unasked (`room.send`, `room.broadcast`). */
export type RoomPushes = Record<string, Schema>;

/** The data argument of a push of schema `S`: optional when the schema accepts undefined. */
type PushData<S, Tail extends unknown[] = []> = S extends Schema
  ? undefined extends z.input<S>
    ? [data?: z.input<S>, ...Tail]
    : [data: z.input<S>, ...Tail]
  : never;

/** `room.send` of a kind that declares pushes `P`: only those types, each with its schema's data. */
type TypedRoomSend<P> = <K extends keyof P & string>(memberId: string, type: K, ...args: PushData<P[K]>) => void;
type TypedRoomBroadcast<P> = <K extends keyof P & string>(type: K, ...args: PushData<P[K], [options?: { except?: string }]>) => void;

/**
 * What room code can do with its instance: members, messages, timers, closing. `P` is the kind's pushes:
 * when it declares any, `send` and `broadcast` take only those types with their data (checked in
 * development: `SB_PUSH_INVALID`).
 */
export interface RoomApi<P = Record<never, never>> {
  readonly id: string;
  readonly kind: string;
  /** The members, present and away. */
  members(): RoomMember[];
  /** Sends one of the room's pushes to one member (dropped while it is away). */
  send: [keyof P] extends [never] ? (memberId: string, type: string, data?: unknown) => void : TypedRoomSend<P>;
  /** Sends one of the room's pushes to every present member (but `except`). */
  broadcast: [keyof P] extends [never] ? (type: string, data?: unknown, options?: { except?: string }) => void : TypedRoomBroadcast<P>;
  /** A timer owned by the instance: cleared when it restarts or ends. Its callback may change `state`. */
  setTimeout(callback: () => void | Promise<void>, ms: number): number;
  setInterval(callback: () => void | Promise<void>, ms: number): number;
  clearTimer(timer: number): void;
  /** Removes a member (it gets `$room.closed` with reason `removed_member`). */
  remove(memberId: string, message?: string): void;
  /** Ends the instance: every member gets `$room.closed` with reason `closed`. */
  close(message?: string): void;
}

/** The context of a room's callbacks and handlers: its state (change it in place) and the room. */
export interface RoomContext<S, P = Record<never, never>> {
  /** The state. Change it in place; the change reaches the members once the callback returns. */
  state: S;
  readonly room: RoomApi<P>;
}

/** The context of a room message handler: the room, its state, and the member that sent it. */
export interface RoomMessageContext<S, P = Record<never, never>> extends RoomContext<S, P> {
  readonly member: RoomMember;
}

/** One message type a room accepts. */
export interface RoomMessageDefinition<S, I extends Schema = Schema, P = Record<never, never>> {
  input: I;
  description?: string;
  /** Runs with the validated payload; what it returns is the reply. A throw is reported to the sender (MessageError keeps its code) and the state is left as it was. */
  handler(data: z.output<I>, ctx: RoomMessageContext<S, P>): unknown;
}

/** How often an instance may restart after failures before it is stopped (OTP's restart intensity). */
export interface RestartIntensity {
  /** Restarts allowed within `withinMs`. Default 3. */
  maxRestarts?: number;
  /** Default 10 000. */
  withinMs?: number;
}

/**
 * A room kind: many instances of the same logic, each with its own state and members, created on demand and
 * supervised: one instance's failure harms no other. See docs/rooms.md.
 */
export interface RoomDefinition<S = unknown, I extends Record<string, Schema> = Record<string, Schema>, P extends RoomPushes = Record<never, never>> {
  /** A schema of the state, for the manifest (and to check it in development). */
  state?: Schema;
  /**
   * The messages the room sends its members unasked: push type → schema of the data. Declared, they type
   * `room.send` / `room.broadcast`, are checked in development, listed in the manifest and typed on the
   * client (`AppApi`). Without them `send` takes any type.
   */
  pushes?: P;
  /** The schema of the options `create` takes (default: anything JSON). */
  options?: Schema;
  description?: string;
  /** The initial state of a new instance (onCreate). */
  create(options: unknown, room: RoomApi<P>): S;
  /** After `create`, and again after every restart: arm the instance's timers here. */
  onStart?(ctx: RoomContext<S, P>): void | Promise<void>;
  /** A member joins (or comes back: `rejoined`). Throw a MessageError to refuse it with your own code. */
  onJoin?(member: RoomMember, ctx: RoomContext<S, P> & { rejoined: boolean }): void | Promise<void>;
  /** A member left (or its seat was not taken back within `seatHoldMs`). */
  onLeave?(member: RoomMember, ctx: RoomContext<S, P>): void | Promise<void>;
  /** The instance ends (closed, disposed when empty, stopped after failures, shutdown). */
  onDispose?(ctx: RoomContext<S, P>): void | Promise<void>;
  /** The messages members send to the instance, by type: a schema and a handler each. */
  messages: { [K in keyof I]: RoomMessageDefinition<S, I[K], P> };
  /** What one member sees of the state (default: all of it). Called after every change, per member. */
  visible?(state: S, member: RoomMember): unknown;
  /**
   * Moves a running instance to a new version of the plug. Without it, running instances keep the version
   * they started with until they end; new ones get the new version.
   */
  migrate?(state: unknown, from: string): S;
  /** Members at most; a join past it gets `room_full`. Default `rooms.maxMembers` (100). */
  maxMembers?: number;
  /** Instances of this kind at most; a create past it gets `limit_exceeded`. */
  maxInstances?: number;
  /** How long an instance with no member lives on. Default `rooms.emptyTimeoutMs` (30 s). */
  emptyTimeoutMs?: number;
  /** How long a member whose connection dropped keeps its seat. Default `rooms.seatHoldMs` (10 s). */
  seatHoldMs?: number;
  /** Joining needs the `join:<kind>` grant (`grant`, the default) or nothing (`public`). */
  access?: 'grant' | 'public';
  restart?: RestartIntensity;
  /**
   * Where each instance's code runs: in the server's thread (`inline`, the default), or in a worker thread of
   * its own (`thread`), watched by a heartbeat and bounded in memory, so an endless loop or a memory blow-up
   * ends that thread (the instance restarts) while every other room and connection is served.
   */
  isolation?: 'inline' | 'thread';
  /**
   * `thread` rooms: the module whose default export is the plug, for the worker to import (`import.meta.url`).
   * Defaults to the plug's file when it was loaded from the plugs folder.
   */
  module?: string;
  /** `thread` rooms: the watchdog and the memory bound. */
  thread?: ThreadLimits;
}

/** The limits of a `thread` room's worker. */
export interface ThreadLimits {
  /** How often the worker is pinged, in ms. Default 250. */
  heartbeatMs?: number;
  /** A worker that has not answered for this long is ended and the instance restarted, in ms. Default 2000. */
  deadlineMs?: number;
  /** The worker's heap limit (`resourceLimits.maxOldGenerationSizeMb`). Default 64. */
  maxOldGenerationSizeMb?: number;
}

const ROOM_BRAND: unique symbol = Symbol.for('switchboard.room');

/** A room kind as returned by `defineRoom`. */
export type Room<S = any, I extends Record<string, Schema> = any, P extends RoomPushes = any> = RoomDefinition<S, I, P> & {
  readonly [ROOM_BRAND]: true;
};

/** Whether a value came from `defineRoom` (in any copy of this package). */
export function isRoom(value: unknown): value is Room {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[ROOM_BRAND] === true;
}

/**
 * Declares a room kind; list it in a plug's `rooms` under its name.
 *
 * @example
 * const counter = defineRoom({
 *   create: () => ({ count: 0 }),
 *   messages: {
 *     add: { input: z.object({ by: z.number().int() }), handler: ({ by }, ctx) => { ctx.state.count += by; return ctx.state.count; } },
 *   },
 * });
 * export default definePlug({ name: 'counters', rooms: { counter }, messages: {} });
 */
export function defineRoom<S, I extends Record<string, Schema>, P extends RoomPushes = Record<never, never>>(definition: RoomDefinition<S, I, P>): Room<S, I, P> {
  return Object.assign(definition, { [ROOM_BRAND]: true as const });
}

/** A room instance as `server.rooms()`, `GET /admin/rooms` and `switchboard rooms list` show it. */
export interface RoomInfo {
  id: string;
  kind: string;
  plug: string;
  plugVersion: string;
  createdAt: string;
  members: { id: string; present: boolean }[];
  restarts: number;
  position: { epoch: string; offset: number };
  isolation: 'inline' | 'thread';
}
