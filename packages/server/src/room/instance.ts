// One room instance: its state and members, a mailbox that runs its code one task at a time, its timers, its
// state stream, and the supervisor that restarts it from its last good state (with an intensity limit).
import { randomBytes } from 'node:crypto';
import { createPatch, type Operation } from 'rfc6902';
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
import type { MaybePromise } from '../maybe-promise.ts';
import { FaultCode, runAs, type CodeOwner } from '../observe/faults.ts';
import type { History } from '../stream/history.ts';
import type { Room, RoomApi, RoomContext, RoomInfo, RoomMember } from './define.ts';

/** The history stream of a room instance's state patches. */
export function roomStream(id: string): string {
  return `room:${id}`;
}

/** What an instance is handed by the rooms feature. */
export interface InstanceHost {
  readonly log: Logger;
  readonly history: History;
  sendTo(connection: Connection, envelope: Envelope): boolean;
  fanout(envelope: Envelope, recipients: Iterable<Connection>): void;
  /** The instance ended: drop it from the tables, tell bound connections. */
  ended(instance: RoomInstance, reason: string, message: string | undefined): void;
  /** Replies to a request of a connection (the join reply goes out from inside the mailbox, before later pushes). */
  defaults: { maxMembers: number; emptyTimeoutMs: number; seatHoldMs: number; maxRestarts: number; restartWithinMs: number; taskTimeoutMs: number };
}

/** One seat: a member, its connection while present, the token that takes it back, what it saw last. */
interface Seat {
  readonly member: MemberState;
  readonly token: string;
  connection: Connection | undefined;
  holdTimer: NodeJS.Timeout | undefined;
  /** With `visible`: the state this member saw last, to diff against. */
  seen: unknown;
  /** The offset of the last patch (or snapshot) this member got: the `prev` of its next patch. */
  last: number;
}

class MemberState implements RoomMember {
  readonly id: string;
  readonly identity: RoomMember['identity'];
  connectionId: string | undefined;
  readonly data: Record<string, unknown> = {};

  constructor(id: string, identity: RoomMember['identity'], connectionId: string | undefined) {
    this.id = id;
    this.identity = identity;
    this.connectionId = connectionId;
  }
}

function isThenable<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof value === 'object' && value !== null && typeof (value as Promise<T>).then === 'function';
}

class TaskTimeout extends Error {}

function token(): string {
  return randomBytes(12).toString('base64url');
}

/** A task for the mailbox: runs with a draft of the state; the draft is committed only when it succeeds. */
type Task<T> = (ctx: RoomContext<unknown> & Record<string, unknown>) => MaybePromise<T>;

/**
 * A room instance. Its code (callbacks, handlers, timers) runs one task at a time on a copy of the state; a
 * task that succeeds commits the copy (the members get the JSON Patch from the last state), one that fails
 * leaves the state as it was: a handler's failure goes back to its sender, any other failure restarts the
 * instance from that last good state, up to `restart.maxRestarts` times within `restart.withinMs`.
 */
export class RoomInstance implements CodeOwner {
  readonly id: string;
  readonly kind: string;
  readonly plug: string;
  /** The plug version the instance runs (CodeOwner: faults are attributed to it). */
  version: string;
  definition: Room;
  state: unknown;
  position: StreamPosition = { epoch: '', offset: 0 };
  readonly createdAt = new Date();
  readonly seats = new Map<string, Seat>();
  restarts = 0;
  running = true;
  /** Code-owner name for fault attribution: the plug (so its faults count under it). */
  readonly name: string;
  private readonly host: InstanceHost;
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private nextTimer = 1;
  private restartTimes: number[] = [];
  /** Bumped by every restart: a task of an earlier life that settles late commits nothing. */
  private generation = 0;
  private tail: Promise<unknown> | undefined;
  private emptyTimer: NodeJS.Timeout | undefined;
  readonly api: RoomApi;

  constructor(id: string, kind: string, plug: string, version: string, definition: Room, host: InstanceHost) {
    this.id = id;
    this.kind = kind;
    this.plug = plug;
    this.name = plug;
    this.version = version;
    this.definition = definition;
    this.host = host;
    this.api = this.makeApi();
  }

  // ---------------------------------------------------------------- lifecycle

  /** Creates the state and starts the instance; throws (nothing is created) when `create` throws. */
  async start(options: unknown): Promise<void> {
    const definition = this.definition;
    const created = runAs(this, () => definition.create(options, this.api));
    this.state = structuredClone(created);
    this.position = { ...(await this.host.history.position(roomStream(this.id))) };
    if (definition.onStart) await this.enqueue((ctx) => definition.onStart!(ctx), 'callback');
    this.armEmpty();
  }

  get maxMembers(): number {
    return this.definition.maxMembers ?? this.host.defaults.maxMembers;
  }

  /** A fault escaping the instance's code outside the mailbox (a stray timer, an unhandled rejection). */
  fault(error: unknown): void {
    if (!this.running) return;
    this.supervise(error, 'outside its mailbox');
  }

  private supervise(error: unknown, where: string): void {
    const { log, defaults } = this.host;
    const maxRestarts = this.definition.restart?.maxRestarts ?? defaults.maxRestarts;
    const withinMs = this.definition.restart?.withinMs ?? defaults.restartWithinMs;
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((at) => now - at < withinMs);
    if (this.restartTimes.length >= maxRestarts) {
      log.error({ err: error, code: FaultCode.roomFault, room: this.id, kind: this.kind, plug: this.plug, restarts: this.restarts }, `SB_ROOM_FAULT: room ${this.id} (${this.kind}) failed ${where} past its restart limit (${maxRestarts} in ${withinMs} ms); stopped`);
      this.end(RoomClosedReason.failed, `the room failed ${maxRestarts + 1} times within ${withinMs} ms`);
      return;
    }
    this.restartTimes.push(now);
    this.restarts++;
    this.generation++;
    log.warn({ err: error, code: FaultCode.roomFault, room: this.id, kind: this.kind, plug: this.plug, restarts: this.restarts }, `SB_ROOM_FAULT: room ${this.id} (${this.kind}) failed ${where}; restarted from its last good state`);
    this.clearTimers();
    const onStart = this.definition.onStart;
    if (onStart) void this.enqueue((ctx) => onStart(ctx), 'callback').catch(() => undefined);
  }

  /** Moves the instance to a new definition (a hot swap with `migrate`), in its mailbox. */
  upgrade(definition: Room, version: string): Promise<void> {
    return this.enqueue((ctx) => {
      ctx.state = definition.migrate!(ctx.state, this.version);
      this.clearTimers();
      this.definition = definition;
      this.version = version;
      if (definition.onStart) return definition.onStart(ctx);
      return undefined;
    }, 'callback');
  }

  /** Ends the instance: members told, timers cleared, onDispose run, stream forgotten. */
  end(reason: string, message?: string): void {
    if (!this.running) return;
    this.running = false;
    this.clearTimers();
    clearTimeout(this.emptyTimer);
    for (const seat of this.seats.values()) clearTimeout(seat.holdTimer);
    const onDispose = this.definition.onDispose;
    if (onDispose) {
      try {
        const done = runAs(this, onDispose, { state: structuredClone(this.state), room: this.api });
        if (isThenable(done)) done.catch((error: unknown) => this.host.log.error({ err: error, room: this.id }, 'room onDispose failed'));
      } catch (error) {
        this.host.log.error({ err: error, room: this.id }, 'room onDispose failed');
      }
    }
    const notice = { type: SystemType.roomClosed, data: message === undefined ? { room: this.id, reason } : { room: this.id, reason, message } };
    this.host.fanout(notice, this.present());
    void this.host.history.remove(roomStream(this.id));
    this.host.ended(this, reason, message);
  }

  // ---------------------------------------------------------------- the mailbox

  /**
   * Runs a task in order after the ones queued. `handler` tasks fail back to the caller; `callback` tasks
   * (timers, onStart, onLeave) that fail restart the instance.
   */
  enqueue<T>(task: Task<T>, kind: 'handler' | 'callback', extra: Record<string, unknown> = {}): Promise<T> {
    if (!this.running) return Promise.reject(new MessageError(ErrorCode.unknownRoom, `room ${this.id} has ended`));
    const run = (): MaybePromise<T> => this.runTask(task, kind, extra);
    if (this.tail === undefined) {
      let result: MaybePromise<T>;
      try {
        result = run();
      } catch (error) {
        return Promise.reject(error as Error);
      }
      if (!isThenable(result)) return Promise.resolve(result);
      this.track(result);
      return result;
    }
    const queued = this.tail.then(run);
    this.track(queued);
    return queued;
  }

  private track(pending: Promise<unknown>): void {
    const settled = pending.then(
      () => undefined,
      () => undefined,
    );
    this.tail = settled;
    void settled.then(() => {
      if (this.tail === settled) this.tail = undefined;
    });
  }

  private runTask<T>(task: Task<T>, kind: 'handler' | 'callback', extra: Record<string, unknown>): MaybePromise<T> {
    if (!this.running) throw new MessageError(ErrorCode.unknownRoom, `room ${this.id} has ended`);
    const ctx = { state: structuredClone(this.state), room: this.api, ...extra } as RoomContext<unknown> & Record<string, unknown>;
    const failed = (error: unknown): never => {
      if (kind === 'callback') this.supervise(error, 'in a callback');
      throw error;
    };
    let result: MaybePromise<T>;
    try {
      result = runAs(this, task, ctx);
    } catch (error) {
      return failed(error);
    }
    if (!isThenable(result)) {
      this.commit(ctx.state);
      return result;
    }
    const generation = this.generation;
    return this.deadline(result).then(
      (value) => {
        if (this.running && generation === this.generation) this.commit(ctx.state);
        return value;
      },
      (error: unknown) => {
        if (error instanceof TaskTimeout) {
          // A task that never settles would hold the mailbox forever: the instance restarts.
          this.supervise(error, `in a task that did not settle within ${this.host.defaults.taskTimeoutMs} ms`);
          throw new MessageError(ErrorCode.timeout, error.message);
        }
        return failed(error);
      },
    );
  }

  private deadline<T>(pending: Promise<T>): Promise<T> {
    const ms = this.host.defaults.taskTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TaskTimeout(`the room's code did not settle within ${ms} ms`)), ms);
      timer.unref();
    });
    return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
  }

  /** Makes a task's state the instance's: members get what changed. */
  private commit(next: unknown): void {
    const patch = createPatch(this.state, next) as PatchOperation[];
    if (patch.length === 0) return;
    this.state = next;
    const appended = this.host.history.append(roomStream(this.id), patch);
    const deliver = (position: StreamPosition): void => {
      this.position = { epoch: position.epoch, offset: position.offset };
      this.broadcastState(patch);
    };
    if (isThenable(appended)) void appended.then(deliver);
    else deliver(appended);
  }

  private broadcastState(patch: PatchOperation[]): void {
    const { epoch, offset } = this.position;
    const visible = this.definition.visible;
    if (visible === undefined) {
      // Everyone sees the same patch: encoded once. Present members all got the previous one too.
      for (const seat of this.seats.values()) if (seat.connection !== undefined) seat.last = offset;
      this.host.fanout({ type: SystemType.roomState, data: { room: this.id, patch, epoch, offset, prev: offset - 1 } }, this.present());
      return;
    }
    for (const seat of this.seats.values()) {
      if (seat.connection === undefined) continue;
      const view = this.visibleTo(seat);
      const own = createPatch(seat.seen, view) as PatchOperation[];
      seat.seen = view;
      if (own.length === 0) continue;
      this.host.sendTo(seat.connection, { type: SystemType.roomState, data: { room: this.id, patch: own, epoch, offset, prev: seat.last } });
      seat.last = offset;
    }
  }

  private visibleTo(seat: Seat): unknown {
    const visible = this.definition.visible;
    return visible === undefined ? this.state : structuredClone(runAs(this, visible, this.state, seat.member));
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
   * Seats a connection (a new member, or one coming back with its seat token or identity) and replies from
   * inside the mailbox, so the reply precedes every later change. Refusals: `room_full`, or what `onJoin` throws.
   */
  join(connection: Connection, request: { seat?: string; since?: StreamPosition }, reply: (data: RoomJoinReply) => void): Promise<void> {
    return this.enqueue((ctx) => {
      const identity = connection.identity;
      let seat: Seat | undefined;
      if (request.seat !== undefined) seat = [...this.seats.values()].find((candidate) => candidate.token === request.seat);
      if (seat === undefined && identity !== undefined) seat = this.seats.get(identity.id);
      if (seat !== undefined && identity !== undefined && seat.member.identity !== undefined && seat.member.identity.id !== identity.id) seat = undefined;
      const rejoined = seat !== undefined;
      if (seat === undefined && this.seats.size >= this.maxMembers) {
        throw new MessageError(ErrorCode.roomFull, `room ${this.id} has ${this.maxMembers} members, its limit`, { room: this.id });
      }
      const member = seat?.member ?? new MemberState(identity?.id ?? `guest-${token().slice(0, 8)}`, identity, connection.id);
      const onJoin = this.definition.onJoin;
      ctx.rejoined = rejoined;
      const finish = (): void => {
        // What onJoin changed reaches the members already there first; the newcomer gets it in its snapshot.
        this.commit(ctx.state);
        const previous = seat?.connection;
        if (seat === undefined) {
          seat = { member, token: token(), connection, holdTimer: undefined, seen: undefined, last: 0 };
          this.seats.set(member.id, seat);
        } else {
          clearTimeout(seat.holdTimer);
          seat.holdTimer = undefined;
          seat.connection = connection;
        }
        member.connectionId = connection.id;
        clearTimeout(this.emptyTimer);
        this.emptyTimer = undefined;
        seat.last = this.position.offset;
        const answer: RoomJoinReply = { room: this.id, kind: this.kind, member: member.id, seat: seat.token, members: this.members(), position: { ...this.position } };
        const since = request.since;
        const page =
          since !== undefined && this.definition.visible === undefined && since.epoch === this.position.epoch && since.offset <= this.position.offset
            ? this.host.history.since(roomStream(this.id), since)
            : undefined;
        if (page !== undefined && !isThenable(page) && !page.reset) {
          answer.patches = page.publications.map((publication) => ({
            room: this.id,
            patch: publication.data as PatchOperation[],
            epoch: this.position.epoch,
            offset: publication.offset,
            prev: publication.offset - 1,
          }));
          answer.recovered = true;
        } else {
          seat.seen = this.visibleTo(seat);
          answer.state = seat.seen;
          if (since !== undefined) answer.recovered = false;
        }
        reply(answer);
        this.announce(rejoined ? 'back' : 'join', seat);
        if (previous !== undefined && previous !== connection && !previous.closed) {
          this.host.sendTo(previous, { type: SystemType.roomClosed, data: { room: this.id, reason: RoomClosedReason.removedMember, message: 'the member joined from another connection' } });
        }
      };
      if (onJoin === undefined) return finish();
      const joined = onJoin(member, ctx as unknown as RoomContext<unknown> & { rejoined: boolean });
      if (isThenable(joined)) return joined.then(finish);
      return finish();
    }, 'handler');
  }

  /** A member leaves for good (it asked, or its seat was not taken back in time). */
  leave(seat: Seat): void {
    if (!this.seats.has(seat.member.id)) return;
    clearTimeout(seat.holdTimer);
    this.seats.delete(seat.member.id);
    this.announce('leave', seat);
    seat.connection = undefined;
    const onLeave = this.definition.onLeave;
    if (onLeave && this.running) void this.enqueue((ctx) => onLeave(seat.member, ctx), 'callback').catch(() => undefined);
    this.armEmpty();
  }

  /** A member's connection closed: its seat is held for `seatHoldMs`, then it leaves. */
  away(seat: Seat): void {
    if (seat.connection === undefined) return;
    seat.connection = undefined;
    seat.member.connectionId = undefined;
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

  // ---------------------------------------------------------------- the API room code sees

  private makeApi(): RoomApi {
    const timer = (repeat: boolean) => (callback: () => void | Promise<void>, ms: number): number => {
      const id = this.nextTimer++;
      const fire = (): void => {
        if (!repeat) this.timers.delete(id);
        if (!this.running) return;
        void this.enqueue(() => callback(), 'callback').catch(() => undefined);
      };
      const handle = repeat ? setInterval(fire, ms) : setTimeout(fire, ms);
      handle.unref();
      this.timers.set(id, handle);
      return id;
    };
    const message = (type: string, data: unknown): Envelope => ({ type: SystemType.roomMessage, data: { room: this.id, type, data: data ?? null } });
    return {
      id: this.id,
      kind: this.kind,
      members: () => [...this.seats.values()].map((seat) => seat.member),
      send: (memberId, type, data) => {
        const connection = this.seats.get(memberId)?.connection;
        if (connection) this.host.sendTo(connection, message(type, data));
      },
      broadcast: (type, data, options) => {
        const except = options?.except;
        const recipients: Connection[] = [];
        for (const seat of this.seats.values()) if (seat.member.id !== except && seat.connection !== undefined) recipients.push(seat.connection);
        this.host.fanout(message(type, data), recipients);
      },
      setTimeout: timer(false),
      setInterval: timer(true),
      clearTimer: (id) => {
        const handle = this.timers.get(id);
        if (handle === undefined) return;
        clearTimeout(handle);
        clearInterval(handle);
        this.timers.delete(id);
      },
      remove: (memberId, text) => {
        const seat = this.seats.get(memberId);
        if (seat === undefined) return;
        const connection = seat.connection;
        this.leave(seat);
        if (connection) this.host.sendTo(connection, { type: SystemType.roomClosed, data: { room: this.id, reason: RoomClosedReason.removedMember, ...(text ? { message: text } : {}) } });
      },
      close: (text) => {
        // After the task that asked for it: its own changes reach the members first.
        queueMicrotask(() => this.end(RoomClosedReason.closed, text));
      },
    };
  }

  private clearTimers(): void {
    for (const handle of this.timers.values()) {
      clearTimeout(handle);
      clearInterval(handle);
    }
    this.timers.clear();
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
      isolation: 'inline',
    };
  }
}

/** The patch type rfc6902 produces and consumes. */
export type { Operation };
