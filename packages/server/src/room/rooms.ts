// Rooms: the room kinds the plugs declare, their instances (created on demand, supervised, disposed when empty),
// joining over the main connection or at /socket/:id, room messages, and the grants that admit members.
import type { IncomingMessage } from 'node:http';
import { randomId } from '../random-id.ts';
import {
  ErrorCode,
  RoomClosedReason,
  ROOM_ID_PATTERN,
  ROOM_SOCKET_PREFIX,
  SystemType,
  CloseCode,
  type Envelope,
  type RoomJoinReply,
} from '@switchboard/protocol';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Auth } from '../auth/auth.ts';
import type { Connection, ConnectionInfo } from '../connection/connection.ts';
import { DevErrorCode, MessageError, SwitchboardError } from '../errors.ts';
import type { Feature, ProtocolRoute, UpgradeContext } from '../feature.ts';
import { grantFor } from '../grants/grant-set.ts';
import type { AnyPlug, HandlerContext } from '../plug/define.ts';
import { compileKeyCheck, type KeyCheck } from '../plug/strict.ts';
import { toIssues } from '../pipeline/inbound.ts';
import type { ResolvedRoomOptions } from '../options.ts';
import type { History } from '../stream/history.ts';
import type { UpgradeDecision } from '../transport/transport.ts';
import type { Room, RoomInfo } from './define.ts';
import { inlineEngine, RoomInstance } from './instance.ts';
import type { EngineSink, RoomEngine } from './engine.ts';
import { ThreadEngine } from './thread-engine.ts';

/** What the rooms feature is handed by `server.ts`. */
export interface RoomsHost {
  readonly log: Logger;
  readonly history: History;
  sendTo(connection: Connection, envelope: Envelope): boolean;
  fanout(envelope: Envelope, recipients: Iterable<Connection>): void;
  closeConnection(connection: Connection, code: number, reason: string): void;
  /** Whether room pushes are checked against the kinds' declared `pushes` (development). */
  readonly checkPushes: boolean;
}

/** A room kind a serving plug declares. */
interface Kind {
  readonly name: string;
  plug: string;
  version: string;
  /** The plug's file, when it was loaded from the plugs folder (a `thread` room's worker imports it). */
  file: string | undefined;
  definition: Room;
  keyChecks: Map<string, KeyCheck | undefined>;
}

const roomId = z.string().regex(ROOM_ID_PATTERN, 'a room id is 1 to 64 of A-Z a-z 0-9 _ -');
const position = z.strictObject({ epoch: z.string().min(1).max(64), offset: z.number().int().min(0) });
const joinInput = z
  .strictObject({
    kind: z.string().min(1).max(64).optional(),
    room: roomId.optional(),
    create: z.boolean().optional(),
    options: z.unknown().optional(),
    seat: z.string().min(1).max(64).optional(),
    since: position.optional(),
  })
  .refine((join) => join.kind !== undefined || join.room !== undefined, 'give "kind" (join or create one) or "room" (an instance id)');
const createInput = z.strictObject({ kind: z.string().min(1).max(64), options: z.unknown().optional() });
const roomInput = z.strictObject({ room: roomId });
const sendInput = z.strictObject({ room: roomId, type: z.string().min(1).max(128), data: z.unknown().optional() });

/** A new instance's id: 12 base64url characters, never starting with "-" (`randomId`). */
function newRoomId(): string {
  return randomId(9);
}

function reason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

/**
 * The rooms feature. Instances live in this process (`isolation: 'inline'`); each runs its code one task at a
 * time and is restarted by its supervisor when it fails outside a handler.
 *
 * @example
 * const rooms = new Rooms(host, auth, options.rooms);
 * rooms.prepare(plug, where); // before the plug serves
 */
export class Rooms implements Feature {
  readonly name = 'rooms';
  readonly routes: readonly ProtocolRoute[];
  readonly counts = { created: 0, disposed: 0, failed: 0, restarts: 0, joins: 0, refusedJoins: 0 };
  private readonly host: RoomsHost;
  private readonly auth: Auth;
  private readonly options: ResolvedRoomOptions;
  private readonly kinds = new Map<string, Kind>();
  private readonly instances = new Map<string, RoomInstance>();
  /** Each connection's rooms; a bound connection (`/socket/:id`) has exactly one, in `bound` too. */
  private readonly roomsOf = new Map<Connection, Set<RoomInstance>>();
  private readonly boundTo = new Map<Connection, string>();
  /** Every instance this server made, ended or not: faults of their code are theirs to supervise. */
  private readonly made = new WeakSet<object>();

  constructor(host: RoomsHost, auth: Auth, options: ResolvedRoomOptions) {
    this.host = host;
    this.auth = auth;
    this.options = options;
    this.routes = [
      {
        type: SystemType.roomJoin,
        input: joinInput,
        description: 'join a room: an instance by id, or the first of a kind with room for one more (created when there is none)',
        handler: (data: z.output<typeof joinInput>, ctx: HandlerContext) => this.onJoin(ctx, data),
      },
      {
        type: SystemType.roomCreate,
        input: createInput,
        description: 'create a room instance without joining it',
        handler: async (data: z.output<typeof createInput>, ctx: HandlerContext) => {
          await this.checkJoin(ctx.connection, this.kind(data.kind));
          return { room: (await this.create(data.kind, data.options)).id };
        },
      },
      {
        type: SystemType.roomLeave,
        input: roomInput,
        description: 'leave a room',
        handler: (data: z.output<typeof roomInput>, ctx: HandlerContext) => this.onLeave(ctx.connection, data.room),
      },
      {
        type: SystemType.roomSend,
        input: sendInput,
        description: "send a message to a room's handlers",
        handler: (data: z.output<typeof sendInput>, ctx: HandlerContext) => this.dispatch(ctx, data.room, data.type, data.data),
      },
    ];
  }

  // ---------------------------------------------------------------- kinds from the plugs

  /** Checks the room kinds of a plug before it serves: a kind belongs to one plug. */
  prepare(plug: AnyPlug, where: string): void {
    for (const name of Object.keys((plug as { rooms?: object }).rooms ?? {})) {
      const owner = this.kinds.get(name)?.plug;
      if (owner !== undefined && owner !== plug.name) {
        throw new SwitchboardError(DevErrorCode.plugConflict, `${where}: room kind "${name}" is already declared by plug "${owner}"; a room kind belongs to one plug`);
      }
    }
  }

  /**
   * After plugs changed: new instances use the serving version; running ones move to it when it has
   * `migrate`, and keep their version otherwise; kinds no plug declares any more end their instances.
   */
  sync(plugs: Iterable<{ name: string; version: string; file: string | undefined; definition: AnyPlug }>): void {
    const seen = new Set<string>();
    for (const plug of plugs) {
      for (const [name, definition] of Object.entries((plug.definition as { rooms?: Record<string, Room> }).rooms ?? {})) {
        seen.add(name);
        const kind = this.kinds.get(name);
        if (kind !== undefined && kind.definition === definition) continue;
        this.kinds.set(name, { name, plug: plug.name, version: plug.version, file: plug.file, definition, keyChecks: new Map() });
        if (kind === undefined || definition.migrate === undefined) continue;
        for (const instance of this.instances.values()) {
          if (instance.kind !== name || instance.definition === definition) continue;
          instance.upgrade(definition, plug.version).catch((error: unknown) => this.host.log.error({ err: error, room: instance.id }, 'room migrate failed; the instance keeps its version'));
        }
      }
    }
    for (const name of [...this.kinds.keys()]) {
      if (seen.has(name)) continue;
      this.kinds.delete(name);
      for (const instance of [...this.instances.values()]) if (instance.kind === name) instance.end(RoomClosedReason.removed, 'its plug was removed');
    }
  }

  private kind(name: string): Kind {
    const kind = this.kinds.get(name);
    if (kind === undefined) throw new MessageError(ErrorCode.unknownRoom, `no room kind "${name}"`, { kind: name });
    return kind;
  }

  // ---------------------------------------------------------------- instances

  /** Creates an instance of a kind (join-or-create, a client's `$room.create`, the admin API, the CLI). */
  async create(kindName: string, options: unknown, id: string = newRoomId()): Promise<RoomInstance> {
    const kind = this.kind(kindName);
    if (!ROOM_ID_PATTERN.test(id)) throw new MessageError(ErrorCode.invalidPayload, 'a room id is 1 to 64 of A-Z a-z 0-9 _ -');
    if (this.instances.has(id)) throw new MessageError(ErrorCode.conflict, `room ${id} exists`, { room: id });
    if (this.instances.size >= this.options.maxInstances) {
      throw new MessageError(ErrorCode.limitExceeded, `this server runs ${this.options.maxInstances} rooms, its limit`, { limit: 'rooms.maxInstances' });
    }
    const max = kind.definition.maxInstances;
    if (max !== undefined && [...this.instances.values()].filter((instance) => instance.kind === kindName).length >= max) {
      throw new MessageError(ErrorCode.limitExceeded, `${kindName} has ${max} rooms, its limit`, { limit: 'maxInstances' });
    }
    const schema = kind.definition.options;
    let parsed = options;
    if (schema !== undefined) {
      const result = schema.safeParse(options);
      if (!result.success) throw new MessageError(ErrorCode.invalidPayload, `invalid options for a ${kindName} room`, { issues: toIssues(result.error.issues) });
      parsed = result.data;
    }
    const instance = new RoomInstance(id, kindName, kind.plug, kind.version, kind.definition, {
      log: this.host.log,
      history: this.host.history,
      sendTo: this.host.sendTo,
      fanout: this.host.fanout,
      ended: (ended, why) => this.ended(ended, why),
      engine: (created, sink) => (created.isolation === 'thread' ? this.threadEngine(created, sink, kind) : inlineEngine(created, sink)),
      defaults: {
        maxMembers: this.options.maxMembers,
        emptyTimeoutMs: this.options.emptyTimeoutMs,
        seatHoldMs: this.options.seatHoldMs,
        maxRestarts: this.options.restart.maxRestarts,
        restartWithinMs: this.options.restart.withinMs,
        taskTimeoutMs: this.options.taskTimeoutMs,
        checkPushes: this.host.checkPushes,
      },
    });
    this.instances.set(id, instance);
    this.made.add(instance);
    try {
      await instance.start(parsed);
    } catch (error) {
      this.instances.delete(id);
      instance.running = false;
      if (error instanceof MessageError) throw error;
      this.host.log.error({ err: error, kind: kindName }, 'room create failed');
      throw new MessageError(ErrorCode.handlerError, `the ${kindName} room could not be created`);
    }
    this.counts.created++;
    return instance;
  }

  private ended(instance: RoomInstance, why: string): void {
    if (this.instances.get(instance.id) !== instance) return;
    this.instances.delete(instance.id);
    if (why === RoomClosedReason.failed) this.counts.failed++;
    else this.counts.disposed++;
    this.counts.restarts += instance.restarts;
    for (const [connection, rooms] of this.roomsOf) {
      if (!rooms.delete(instance)) continue;
      // At shutdown a bound connection gets 1001 with the others, and comes back.
      if (this.boundTo.get(connection) === instance.id && why !== RoomClosedReason.shutdown) this.host.closeConnection(connection, CloseCode.roomClosed, reason(`room ${why}`));
    }
  }

  /** A worker thread for an instance of a `thread` kind: the worker imports the plug's module. */
  private threadEngine(instance: RoomInstance, sink: EngineSink, kind: Kind): RoomEngine {
    const module = kind.definition.module ?? kind.file;
    if (module === undefined) throw new MessageError(ErrorCode.handlerError, `the ${kind.name} room runs in a thread and needs its plug file or "module: import.meta.url"`);
    return new ThreadEngine({ module, version: instance.version, kind: kind.name, id: instance.id, sink, taskTimeoutMs: instance.taskTimeoutMs, checkPushes: instance.checkPushes, limits: kind.definition.thread ?? {}, log: this.host.log });
  }

  /** Whether code running as `owner` is one of this server's room instances. */
  owns(owner: object): boolean {
    return this.made.has(owner);
  }

  instance(id: string): RoomInstance | undefined {
    return this.instances.get(id);
  }

  list(): RoomInfo[] {
    return [...this.instances.values()].map((instance) => instance.describe());
  }

  /** Ends an instance (admin API, CLI); false when there is none. */
  closeRoom(id: string, message?: string): boolean {
    const instance = this.instances.get(id);
    if (instance === undefined) return false;
    instance.end(RoomClosedReason.closed, message);
    return true;
  }

  /** Shutdown: every instance ends. */
  stop(): void {
    for (const instance of [...this.instances.values()]) instance.end(RoomClosedReason.shutdown, 'the server is shutting down');
  }

  // ---------------------------------------------------------------- joining

  private async checkJoin(connection: Connection, kind: Kind): Promise<void> {
    if ((kind.definition.access ?? 'grant') === 'public') return;
    const answer = this.auth.allows(connection, 'join', kind.name);
    if (!(typeof answer === 'boolean' ? answer : await answer)) {
      const grant = grantFor('join', kind.name);
      throw new MessageError(ErrorCode.forbidden, `missing grant "${grant}"`, { grant });
    }
  }

  /** The first instance of a kind with a free seat, or a new one. */
  private async findOrCreate(kindName: string, options: unknown): Promise<RoomInstance> {
    for (const instance of this.instances.values()) {
      if (instance.kind === kindName && instance.running && instance.seats.size < instance.maxMembers) return instance;
    }
    return this.create(kindName, options);
  }

  private async onJoin(ctx: HandlerContext, request: z.output<typeof joinInput>): Promise<void> {
    const connection = ctx.connection;
    let instance: RoomInstance | undefined;
    if (request.room !== undefined) {
      instance = this.instances.get(request.room);
      if (instance === undefined) throw new MessageError(ErrorCode.unknownRoom, `no room ${request.room}`, { room: request.room });
      if (request.kind !== undefined && request.kind !== instance.kind) throw new MessageError(ErrorCode.unknownRoom, `room ${request.room} is not a ${request.kind} room`);
      await this.checkJoin(connection, this.kind(instance.kind));
    } else {
      const kind = this.kind(request.kind!);
      await this.checkJoin(connection, kind);
      instance = request.create ? await this.create(kind.name, request.options) : await this.findOrCreate(kind.name, request.options);
    }
    if (connection.closed) return;
    await this.seat(connection, instance, request, (reply) => ctx.reply(reply));
  }

  private async seat(connection: Connection, instance: RoomInstance, request: { seat?: string; since?: { epoch: string; offset: number } }, reply: (data: RoomJoinReply) => void): Promise<void> {
    const mine = this.roomsOf.get(connection);
    if (mine !== undefined && !mine.has(instance) && mine.size >= this.options.maxPerConnection) {
      throw new MessageError(ErrorCode.limitExceeded, `at most ${this.options.maxPerConnection} rooms per connection`, { limit: 'rooms.maxPerConnection' });
    }
    try {
      await instance.join(connection, request, reply);
    } catch (error) {
      this.counts.refusedJoins++;
      throw error;
    }
    this.counts.joins++;
    if (mine === undefined) this.roomsOf.set(connection, new Set([instance]));
    else mine.add(instance);
  }

  private onLeave(connection: Connection, id: string): { room: string } {
    const instance = this.instances.get(id);
    const seat = instance?.seatOf(connection);
    if (instance === undefined || seat === undefined) throw new MessageError(ErrorCode.notMember, `not a member of room ${id}`);
    this.roomsOf.get(connection)?.delete(instance);
    instance.leave(seat);
    return { room: id };
  }

  /** A message for a room's handlers: validated against the room's schema, then run in the instance's mailbox. */
  private dispatch(ctx: HandlerContext, id: string, type: string, data: unknown): Promise<unknown> {
    const instance = this.instances.get(id);
    const seat = instance?.seatOf(ctx.connection);
    if (instance === undefined || seat === undefined) throw new MessageError(ErrorCode.notMember, `not a member of room ${id}`);
    const message = (instance.definition.messages as Record<string, { input: z.ZodType; handler: (data: unknown, ctx: unknown) => unknown }>)[type];
    if (message === undefined || !Object.hasOwn(instance.definition.messages, type)) {
      throw new MessageError(ErrorCode.unknownType, `a ${instance.kind} room has no message "${type}"`);
    }
    const parsed = message.input.safeParse(data);
    if (!parsed.success) throw new MessageError(ErrorCode.invalidPayload, `invalid payload for "${type}"`, { issues: toIssues(parsed.error.issues) });
    const kind = this.kinds.get(instance.kind);
    let check = kind?.definition === instance.definition ? kind.keyChecks.get(type) : undefined;
    if (kind !== undefined && kind.definition === instance.definition && !kind.keyChecks.has(type)) {
      check = compileKeyCheck(message.input);
      kind.keyChecks.set(type, check);
    }
    const extra = check?.(data);
    if (extra !== undefined) throw new MessageError(ErrorCode.invalidPayload, `invalid payload for "${type}": ${extra.message}`, { issues: [extra] });
    return instance.message(seat, type, parsed.data);
  }

  // ---------------------------------------------------------------- connections bound to a room: /socket/:id

  /** `/socket/<id>`: the instance must exist (404 `unknown_room` otherwise). */
  upgrade(request: IncomingMessage, context: UpgradeContext): UpgradeDecision<UpgradeContext> {
    const url = new URL(request.url ?? '/', 'http://upgrade.invalid');
    if (!url.pathname.startsWith(ROOM_SOCKET_PREFIX)) return { ok: true, context };
    const id = decodeURIComponent(url.pathname.slice(ROOM_SOCKET_PREFIX.length));
    if (!ROOM_ID_PATTERN.test(id) || !this.instances.has(id)) {
      return { ok: false, status: 404, code: ErrorCode.unknownRoom, message: `no room ${id}` };
    }
    return { ok: true, context: { ...context, room: { id, seat: url.searchParams.get('seat') ?? undefined } } };
  }

  open(connection: Connection, context: UpgradeContext): void {
    if (context.room === undefined) return;
    this.boundTo.set(connection, context.room.id);
    connection.bound = context.room;
  }

  /** A bound connection joins its room once `$welcome` is out; the reply comes as `$room.joined`. Refused: close 4005. */
  ready(connection: Connection): void {
    const bound = connection.bound as { id: string; seat: string | undefined } | undefined;
    if (bound === undefined) return;
    const instance = this.instances.get(bound.id);
    const refuse = (why: string): void => this.host.closeConnection(connection, CloseCode.roomClosed, reason(why));
    if (instance === undefined) return refuse(`${ErrorCode.unknownRoom}: the room ended`);
    this.checkJoin(connection, this.kind(instance.kind))
      .then(() => this.seat(connection, instance, bound.seat === undefined ? {} : { seat: bound.seat }, (reply) => this.host.sendTo(connection, { type: SystemType.roomJoined, data: reply })))
      .catch((error: unknown) => refuse(error instanceof MessageError ? `${error.code}: ${error.message}` : 'the room refused the member'));
  }

  /** Whether a plain message type is one of the room's, on a connection bound to it. */
  accepts(connection: Connection, type: string): boolean {
    const id = this.boundTo.get(connection);
    const instance = id === undefined ? undefined : this.instances.get(id);
    return instance !== undefined && Object.hasOwn(instance.definition.messages, type);
  }

  /** A room message on a bound connection: as `$room.send` to its room. */
  dispatchBound(ctx: HandlerContext, type: string, data: unknown): Promise<unknown> {
    const id = this.boundTo.get(ctx.connection);
    if (id === undefined) throw new MessageError(ErrorCode.notMember, 'this connection is not bound to a room');
    return this.dispatch(ctx, id, type, data);
  }

  close(connection: Connection): void {
    const rooms = this.roomsOf.get(connection);
    this.roomsOf.delete(connection);
    this.boundTo.delete(connection);
    for (const instance of rooms ?? []) {
      const seat = instance.seatOf(connection);
      if (seat !== undefined) instance.away(seat);
    }
  }

  /** A revoked `join:` grant removes the member from the rooms of that kind at once. */
  accessChanged(connection: Connection): void {
    const rooms = this.roomsOf.get(connection);
    if (rooms === undefined) return;
    const grants = this.auth.grantsOfConnection(connection);
    for (const instance of [...rooms]) {
      const kind = this.kinds.get(instance.kind);
      if (kind === undefined || (kind.definition.access ?? 'grant') === 'public' || grants.allows('join', instance.kind)) continue;
      const seat = instance.seatOf(connection);
      rooms.delete(instance);
      if (seat === undefined) continue;
      instance.remove(seat.member.id, `the grant "${grantFor('join', instance.kind)}" was revoked`);
      if (this.boundTo.get(connection) === instance.id) this.host.closeConnection(connection, CloseCode.roomClosed, reason('removed_member: grant revoked'));
    }
  }

  describe(connection: Connection): Partial<ConnectionInfo> {
    const rooms = this.roomsOf.get(connection);
    return rooms && rooms.size > 0 ? { rooms: [...rooms].map((instance) => instance.id) } : {};
  }
}
