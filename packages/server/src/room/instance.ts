// One room instance: its members and their connections, its state stream, and the supervisor that restarts
// its engine (where its code runs: inline, or in a worker thread) from its last good state, with an intensity limit.
import { randomBytes } from 'node:crypto';
import { applyPatch, createPatch, type Operation } from 'rfc6902';
import {
  ErrorCode,
  RoomClosedReason,
  SystemType,
  type Envelope,
  type PatchOperation,
  type RoomJoinReply,
  type RoomMemberChange,
  type RoomMemberInfo,
  type StreamPosition,
} from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { Connection } from '../connection/connection.ts';
import { MessageError } from '../errors.ts';
import { FaultCode, type CodeOwner } from '../observe/faults.ts';
import type { History } from '../stream/history.ts';
import type { Room, RoomInfo } from './define.ts';
import { InlineEngine, type EngineSink, type MemberSnapshot, type RoomEngine } from './engine.ts';

/** The history stream of a room instance's state patches. */
export function roomStream(id: string): string {
  return `room:${id}`;
}

/** Builds the engine an instance runs its code in; the rooms feature picks inline or thread by the kind. */
export type EngineFactory = (instance: RoomInstance, sink: EngineSink) => RoomEngine;

/** What an instance is handed by the rooms feature. */
export interface InstanceHost {
  readonly log: Logger;
  readonly history: History;
  sendTo(connection: Connection, envelope: Envelope): boolean;
  fanout(envelope: Envelope, recipients: Iterable<Connection>): void;
  /** The instance ended: drop it from the tables, tell bound connections. */
  ended(instance: RoomInstance, reason: string, message: string | undefined): void;
  engine: EngineFactory;
  defaults: { maxMembers: number; emptyTimeoutMs: number; seatHoldMs: number; maxRestarts: number; restartWithinMs: number; taskTimeoutMs: number; checkPushes: boolean };
}

/** One seat: a member, its connection while present, the token that takes it back, what it saw last. */
interface Seat {
  readonly member: MemberSnapshot;
  readonly token: string;
  connection: Connection | undefined;
  holdTimer: NodeJS.Timeout | undefined;
  /** With `visible`: the state this member saw last, to diff against. */
  seen: unknown;
  /** The offset of the last patch (or snapshot) this member got: the `prev` of its next patch. */
  last: number;
}

function token(): string {
  return randomBytes(12).toString('base64url');
}

/** The inline engine: the room's code runs in this thread. */
export const inlineEngine: EngineFactory = (instance, sink) =>
  new InlineEngine(instance.definition, instance.id, instance.kind, sink, instance, instance.taskTimeoutMs, instance.checkPushes);

/**
 * A room instance. Its engine runs the room's code one task at a time and commits the state only when a task
 * succeeds; the instance keeps a copy of the last good state (for snapshots and restarts), appends every
 * patch to the instance's stream and delivers it. A handler's failure goes back to its sender; any other
 * failure restarts the engine from the last good state, up to `restart.maxRestarts` times within
 * `restart.withinMs`, after which the instance is stopped and its members told (`failed`).
 */
export class RoomInstance implements CodeOwner {
  readonly id: string;
  readonly kind: string;
  readonly plug: string;
  /** The plug version the instance runs (CodeOwner: faults are attributed to it). */
  version: string;
  definition: Room;
  /** The last good state. */
  state: unknown = undefined;
  position: StreamPosition = { epoch: '', offset: 0 };
  readonly createdAt = new Date();
  readonly seats = new Map<string, Seat>();
  restarts = 0;
  running = true;
  /** Code-owner name for fault attribution: the plug (so its faults count under it). */
  readonly name: string;
  private readonly host: InstanceHost;
  private engine: RoomEngine;
  private restartTimes: number[] = [];
  private emptyTimer: NodeJS.Timeout | undefined;
  private starting = true;

  constructor(id: string, kind: string, plug: string, version: string, definition: Room, host: InstanceHost) {
    this.id = id;
    this.kind = kind;
    this.plug = plug;
    this.name = plug;
    this.version = version;
    this.definition = definition;
    this.host = host;
    this.engine = this.attach();
  }

  get taskTimeoutMs(): number {
    return this.host.defaults.taskTimeoutMs;
  }

  get checkPushes(): boolean {
    return this.host.defaults.checkPushes;
  }

  get maxMembers(): number {
    return this.definition.maxMembers ?? this.host.defaults.maxMembers;
  }

  get isolation(): 'inline' | 'thread' {
    return this.definition.isolation ?? 'inline';
  }

  // ---------------------------------------------------------------- lifecycle

  /** Creates the state and starts the instance; throws (nothing is created) when `create` or `onStart` throws. */
  async start(options: unknown): Promise<void> {
    this.position = { ...(await this.host.history.position(roomStream(this.id))) };
    this.state = await this.engine.start({ options });
    this.starting = false;
    this.armEmpty();
  }

  /** A new engine, and what it reports, bound to it: a replaced engine's late reports are ignored. */
  private attach(): RoomEngine {
    const holder: { engine?: RoomEngine } = {};
    const current = (): boolean => this.running && this.engine === holder.engine;
    const sink: EngineSink = {
      commit: (patch, views) => {
        if (current()) this.commit(patch, views);
      },
      send: (memberId, type, data) => {
        const connection = current() ? this.seats.get(memberId)?.connection : undefined;
        if (connection) this.host.sendTo(connection, { type: SystemType.roomMessage, data: { room: this.id, type, data } });
      },
      broadcast: (type, data, except) => {
        if (!current()) return;
        const recipients: Connection[] = [];
        for (const seat of this.seats.values()) if (seat.member.id !== except && seat.connection !== undefined) recipients.push(seat.connection);
        this.host.fanout({ type: SystemType.roomMessage, data: { room: this.id, type, data } }, recipients);
      },
      fault: (error) => {
        if (this.engine === holder.engine) this.fault(error);
      },
      close: (message) => {
        if (current()) this.end(RoomClosedReason.closed, message);
      },
      remove: (memberId, message) => {
        const seat = current() ? this.seats.get(memberId) : undefined;
        if (seat === undefined) return;
        const connection = seat.connection;
        this.leave(seat, false);
        if (connection) this.host.sendTo(connection, { type: SystemType.roomClosed, data: { room: this.id, reason: RoomClosedReason.removedMember, ...(message ? { message } : {}) } });
      },
    };
    holder.engine = this.host.engine(this, sink);
    return holder.engine;
  }

  /**
   * A fault of the room's code: outside a handler, a rejection nobody handled, a task that did not settle, a
   * thread that stopped answering or ran out of memory. The engine restarts from the last good state.
   */
  fault(error: unknown): void {
    if (!this.running || this.starting) return;
    const { log, defaults } = this.host;
    const maxRestarts = this.definition.restart?.maxRestarts ?? defaults.maxRestarts;
    const withinMs = this.definition.restart?.withinMs ?? defaults.restartWithinMs;
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((at) => now - at < withinMs);
    const context = { err: error, code: FaultCode.roomFault, room: this.id, kind: this.kind, plug: this.plug, restarts: this.restarts, isolation: this.isolation };
    if (this.restartTimes.length >= maxRestarts) {
      log.error(context, `${FaultCode.roomFault}: room ${this.id} (${this.kind}) failed past its restart limit (${maxRestarts} in ${withinMs} ms); stopped`);
      this.end(RoomClosedReason.failed, `the room failed ${maxRestarts + 1} times within ${withinMs} ms`);
      return;
    }
    this.restartTimes.push(now);
    this.restarts++;
    log.warn(context, `${FaultCode.roomFault}: room ${this.id} (${this.kind}) failed; restarted from its last good state`);
    this.engine.stop();
    this.engine = this.attach();
    const engine = this.engine;
    // The new engine starts from the last good state with the members seated (their per-member data starts
    // empty; onJoin does not run again), then onStart runs.
    const members = [...this.seats.values()].map((seat) => ({ ...seat.member, connectionId: seat.connection?.id }));
    engine.start({ restore: this.state, members }).catch((restartError: unknown) => {
      if (this.engine === engine) this.fault(restartError);
    });
  }

  /** Moves the instance to a new definition (a hot swap with `migrate`). */
  async upgrade(definition: Room, version: string): Promise<void> {
    await this.engine.upgrade(definition, this.version, version);
    this.definition = definition;
    this.version = version;
  }

  /** Ends the instance: members told, the engine disposed, the stream forgotten. */
  end(reason: string, message?: string): void {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.emptyTimer);
    for (const seat of this.seats.values()) clearTimeout(seat.holdTimer);
    const engine = this.engine;
    if (reason === RoomClosedReason.failed) engine.stop();
    else void engine.dispose().catch((error: unknown) => this.host.log.error({ err: error, room: this.id }, 'room onDispose failed'));
    const notice = { type: SystemType.roomClosed, data: message === undefined ? { room: this.id, reason } : { room: this.id, reason, message } };
    this.host.fanout(notice, this.present());
    void this.host.history.remove(roomStream(this.id));
    this.host.ended(this, reason, message);
  }

  // ---------------------------------------------------------------- state

  /** A task changed the state: keep it as the last good one, append the patch, deliver it. */
  private commit(patch: PatchOperation[], views: Record<string, unknown> | undefined): void {
    const next = structuredClone(this.state) as object;
    applyPatch(next, patch as Operation[]);
    this.state = next;
    const appended = this.host.history.append(roomStream(this.id), patch);
    if (appended instanceof Promise) return void appended.then((position) => this.deliver(position, patch, views));
    this.deliver(appended, patch, views);
  }

  private deliver(position: StreamPosition, patch: PatchOperation[], views: Record<string, unknown> | undefined): void {
    this.position = { epoch: position.epoch, offset: position.offset };
    const { epoch, offset } = position;
    if (views === undefined) {
      // Everyone sees the same patch: encoded once.
      for (const seat of this.seats.values()) if (seat.connection !== undefined) seat.last = offset;
      this.host.fanout({ type: SystemType.roomState, data: { room: this.id, patch, epoch, offset, prev: offset - 1 } }, this.present());
      return;
    }
    for (const seat of this.seats.values()) {
      if (seat.connection === undefined || !Object.hasOwn(views, seat.member.id)) continue;
      const view = views[seat.member.id];
      const own = createPatch(seat.seen, view) as PatchOperation[];
      seat.seen = view;
      if (own.length === 0) continue;
      this.host.sendTo(seat.connection, { type: SystemType.roomState, data: { room: this.id, patch: own, epoch, offset, prev: seat.last } });
      seat.last = offset;
    }
  }

  /** A room message from a member: run by the engine; the reply is the handler's. */
  message(seat: Seat, type: string, data: unknown): Promise<unknown> {
    if (!this.running) return Promise.reject(new MessageError(ErrorCode.unknownRoom, `room ${this.id} has ended`));
    return this.engine.message(seat.member.id, type, data);
  }

  // ---------------------------------------------------------------- members

  private *present(): Iterable<Connection> {
    for (const seat of this.seats.values()) if (seat.connection !== undefined && !seat.connection.closed) yield seat.connection;
  }

  private info(seat: Seat): RoomMemberInfo {
    const info = seat.member.identity?.info;
    return info === undefined ? { id: seat.member.id, present: seat.connection !== undefined } : { id: seat.member.id, info, present: seat.connection !== undefined };
  }

  members(): RoomMemberInfo[] {
    return [...this.seats.values()].map((seat) => this.info(seat));
  }

  /** The seat a connection holds here, if any. */
  seatOf(connection: Connection): Seat | undefined {
    for (const seat of this.seats.values()) if (seat.connection === connection) return seat;
    return undefined;
  }

  private announce(action: RoomMemberChange['action'], seat: Seat): void {
    const others = [...this.present()].filter((connection) => connection !== seat.connection);
    this.host.fanout({ type: SystemType.roomMember, data: { room: this.id, action, member: this.info(seat) } }, others);
  }

  /**
   * Seats a connection (a new member, or one coming back with its seat token or identity) and replies before
   * any later patch can reach it. Refusals: `room_full`, or what `onJoin` throws.
   */
  async join(connection: Connection, request: { seat?: string; since?: StreamPosition }, reply: (data: RoomJoinReply) => void): Promise<void> {
    if (!this.running) throw new MessageError(ErrorCode.unknownRoom, `room ${this.id} has ended`);
    const identity = connection.identity;
    let seat: Seat | undefined;
    if (request.seat !== undefined) seat = [...this.seats.values()].find((candidate) => candidate.token === request.seat);
    if (seat === undefined && identity !== undefined) seat = this.seats.get(identity.id);
    if (seat !== undefined && seat.member.identity !== undefined && seat.member.identity.id !== identity?.id) seat = undefined;
    const rejoined = seat !== undefined;
    if (seat === undefined && this.seats.size >= this.maxMembers) {
      throw new MessageError(ErrorCode.roomFull, `room ${this.id} has ${this.maxMembers} members, its limit`, { room: this.id });
    }
    const member: MemberSnapshot = seat?.member ?? { id: identity?.id ?? `guest-${token().slice(0, 8)}`, identity, connectionId: connection.id };
    // onJoin's changes reach the members already here (the commit is synchronous with the engine's reply);
    // the newcomer, seated only now, gets them in its snapshot.
    const view = await this.engine.join({ ...member, connectionId: connection.id }, rejoined);
    if (!this.running) throw new MessageError(ErrorCode.unknownRoom, `room ${this.id} has ended`);
    if (connection.closed) return;
    const previous = seat?.connection;
    if (seat === undefined) {
      seat = { member, token: token(), connection, holdTimer: undefined, seen: undefined, last: 0 };
      this.seats.set(member.id, seat);
    } else {
      clearTimeout(seat.holdTimer);
      seat.holdTimer = undefined;
      seat.connection = connection;
      seat.member.connectionId = connection.id;
    }
    clearTimeout(this.emptyTimer);
    this.emptyTimer = undefined;
    seat.last = this.position.offset;
    const answer: RoomJoinReply = { room: this.id, kind: this.kind, member: member.id, seat: seat.token, members: this.members(), position: { ...this.position } };
    const since = request.since;
    const page =
      since !== undefined && this.definition.visible === undefined && since.epoch === this.position.epoch && since.offset <= this.position.offset
        ? this.host.history.since(roomStream(this.id), since)
        : undefined;
    if (page !== undefined && !(page instanceof Promise) && !page.reset) {
      answer.patches = page.publications.map((publication) => ({
        room: this.id,
        patch: publication.data as PatchOperation[],
        epoch: this.position.epoch,
        offset: publication.offset,
        prev: publication.offset - 1,
      }));
      answer.recovered = true;
    } else {
      seat.seen = this.definition.visible === undefined ? undefined : view;
      answer.state = this.definition.visible === undefined ? this.state : view;
      if (since !== undefined) answer.recovered = false;
    }
    reply(answer);
    this.announce(rejoined ? 'back' : 'join', seat);
    if (previous !== undefined && previous !== connection && !previous.closed) {
      this.host.sendTo(previous, { type: SystemType.roomClosed, data: { room: this.id, reason: RoomClosedReason.removedMember, message: 'the member joined from another connection' } });
    }
  }

  /** Removes a member (a revoked grant): it is told, the room's code sees it leave. */
  remove(memberId: string, message: string | undefined): void {
    const seat = this.seats.get(memberId);
    if (seat === undefined) return;
    const connection = seat.connection;
    this.leave(seat);
    if (connection) this.host.sendTo(connection, { type: SystemType.roomClosed, data: { room: this.id, reason: RoomClosedReason.removedMember, ...(message ? { message } : {}) } });
  }

  /** A member leaves for good (it asked, its seat was not taken back in time, the room removed it). */
  leave(seat: Seat, tellEngine = true): void {
    if (this.seats.get(seat.member.id) !== seat) return;
    clearTimeout(seat.holdTimer);
    this.seats.delete(seat.member.id);
    this.announce('leave', seat);
    seat.connection = undefined;
    if (tellEngine && this.running) void this.engine.leave(seat.member.id);
    this.armEmpty();
  }

  /** A member's connection closed: its seat is held for `seatHoldMs`, then it leaves. */
  away(seat: Seat): void {
    if (seat.connection === undefined) return;
    seat.connection = undefined;
    seat.member.connectionId = undefined;
    this.engine.presence(seat.member.id, undefined);
    this.announce('away', seat);
    const holdMs = this.definition.seatHoldMs ?? this.host.defaults.seatHoldMs;
    seat.holdTimer = setTimeout(() => this.leave(seat), holdMs);
    seat.holdTimer.unref();
  }

  /** With no seat left, the instance ends after its empty timeout. */
  private armEmpty(): void {
    if (!this.running || this.seats.size > 0 || this.emptyTimer !== undefined) return;
    const ms = this.definition.emptyTimeoutMs ?? this.host.defaults.emptyTimeoutMs;
    this.emptyTimer = setTimeout(() => {
      this.emptyTimer = undefined;
      if (this.seats.size === 0) this.end(RoomClosedReason.disposed, `empty for ${ms} ms`);
    }, ms);
    this.emptyTimer.unref();
  }

  describe(): RoomInfo {
    return {
      id: this.id,
      kind: this.kind,
      plug: this.plug,
      plugVersion: this.version,
      createdAt: this.createdAt.toISOString(),
      members: [...this.seats.values()].map((seat) => ({ id: seat.member.id, present: seat.connection !== undefined })),
      restarts: this.restarts,
      position: { ...this.position },
      isolation: this.isolation,
    };
  }
}
