// A room's engine: where its code runs — its state, its mailbox (one task at a time), its timers, `visible`.
// The instance (membership, delivery, supervision) drives it; the inline engine runs in this thread, the
// thread engine (thread-engine.ts) runs this same inline engine inside a worker thread.
import { createPatch } from 'rfc6902';
import { ErrorCode, type PatchOperation } from '@switchboard/protocol';
import type { z } from 'zod';
import { DevErrorCode, MessageError, SwitchboardError } from '../errors.ts';
import { isThenable, type MaybePromise } from '../maybe-promise.ts';
import { runAs, type CodeOwner } from '../observe/faults.ts';
import type { Room, RoomApi, RoomContext, RoomMember } from './define.ts';

/** A member as the instance hands it to the engine (the engine keeps its `data`). */
export interface MemberSnapshot {
  id: string;
  identity: RoomMember['identity'];
  connectionId: string | undefined;
}

/** What an engine tells its instance. */
export interface EngineSink {
  /** A task changed the state: `patch` from the last state; with `visible`, what each present member sees now. */
  commit(patch: PatchOperation[], views: Record<string, unknown> | undefined): void;
  send(memberId: string, type: string, data: unknown): void;
  broadcast(type: string, data: unknown, except: string | undefined): void;
  /** The room's code failed outside a handler (a timer, a callback, a task that did not settle). */
  fault(error: unknown): void;
  close(message: string | undefined): void;
  remove(memberId: string, message: string | undefined): void;
}

/** Where a new engine's state comes from: `create(options)`, or a restart's last good state and members. */
export type EngineStart = { options: unknown } | { restore: unknown; members: MemberSnapshot[] };

/** An engine: every call runs in the room's mailbox, in order. */
export interface RoomEngine {
  /** Creates (or restores) the state, then runs `onStart`. Resolves with the state. */
  start(from: EngineStart): Promise<unknown>;
  /** Runs `onJoin`; rejects with what it throws (the join is refused). Resolves with what the member sees. */
  join(member: MemberSnapshot, rejoined: boolean): Promise<unknown>;
  leave(memberId: string): Promise<void>;
  /** The member's connection changed (undefined: away). */
  presence(memberId: string, connectionId: string | undefined): void;
  /** Runs a message handler; resolves with its reply, rejects with its error (the state is left as it was). */
  message(memberId: string, type: string, data: unknown): Promise<unknown>;
  /** Runs `migrate` on the state and moves to a new definition (hot swap from version `from` to `to`). */
  upgrade(definition: Room, from: string, to: string): Promise<void>;
  /** Runs `onDispose`, then stops. */
  dispose(): Promise<void>;
  /** Stops at once: timers cleared, nothing more runs (a restart, a watchdog). */
  stop(): void;
}


class TaskTimeout extends Error {}

class EngineMember implements RoomMember {
  readonly id: string;
  readonly identity: RoomMember['identity'];
  connectionId: string | undefined;
  readonly data: Record<string, unknown> = {};

  constructor(snapshot: MemberSnapshot) {
    this.id = snapshot.id;
    this.identity = snapshot.identity;
    this.connectionId = snapshot.connectionId;
  }
}

/**
 * Runs a room's code in this thread. Each task works on a copy of the state and commits it only when it
 * succeeds; a handler's failure goes back to the caller, any other failure to `sink.fault`.
 */
export class InlineEngine implements RoomEngine {
  private definition: Room;
  private state: unknown = undefined;
  private readonly members = new Map<string, EngineMember>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private nextTimer = 1;
  private tail: Promise<unknown> | undefined;
  private stopped = false;
  /** Messages the running task sent: they go out after its state change, and not at all if it fails. */
  private outbox: (() => void)[] | undefined = undefined;
  private readonly sink: EngineSink;
  private readonly owner: CodeOwner;
  private readonly taskTimeoutMs: number;
  private readonly api: RoomApi;

  /** Whether pushes are checked against the kind's declared `pushes` (in development). */
  private readonly checkPushes: boolean;

  constructor(definition: Room, id: string, kind: string, sink: EngineSink, owner: CodeOwner, taskTimeoutMs: number, checkPushes = false) {
    this.definition = definition;
    this.sink = sink;
    this.owner = owner;
    this.taskTimeoutMs = taskTimeoutMs;
    this.checkPushes = checkPushes;
    this.api = this.makeApi(id, kind);
  }

  async start(from: EngineStart): Promise<unknown> {
    if ('restore' in from) {
      this.state = structuredClone(from.restore);
      for (const member of from.members) this.members.set(member.id, new EngineMember(member));
    } else this.state = structuredClone(runAs(this.owner, this.definition.create, from.options, this.api));
    const onStart = this.definition.onStart;
    if (onStart) await this.enqueue((ctx) => onStart(ctx), 'callback');
    return this.state;
  }

  join(snapshot: MemberSnapshot, rejoined: boolean): Promise<unknown> {
    return this.enqueue((ctx) => {
      const member = this.members.get(snapshot.id) ?? new EngineMember(snapshot);
      member.connectionId = snapshot.connectionId;
      const onJoin = this.definition.onJoin;
      const joined = onJoin?.(member, Object.assign(ctx, { rejoined }));
      const seat = (): unknown => {
        this.members.set(member.id, member);
        return member;
      };
      return isThenable(joined) ? joined.then(seat) : seat();
    }, 'handler').then((member) => this.viewOf(member as EngineMember));
  }

  async leave(memberId: string): Promise<void> {
    const member = this.members.get(memberId);
    if (member === undefined) return;
    this.members.delete(memberId);
    const onLeave = this.definition.onLeave;
    if (onLeave) await this.enqueue((ctx) => onLeave(member, ctx), 'callback').catch(() => undefined);
  }

  presence(memberId: string, connectionId: string | undefined): void {
    const member = this.members.get(memberId);
    if (member !== undefined) member.connectionId = connectionId;
  }

  message(memberId: string, type: string, data: unknown): Promise<unknown> {
    const member = this.members.get(memberId);
    const message = (this.definition.messages as Record<string, { handler: (data: unknown, ctx: unknown) => unknown } | undefined>)[type];
    if (member === undefined) return Promise.reject(new MessageError(ErrorCode.notMember, 'not a member of this room'));
    if (message === undefined || !Object.hasOwn(this.definition.messages, type)) return Promise.reject(new MessageError(ErrorCode.unknownType, `no room message "${type}"`));
    return this.enqueue((ctx) => message.handler(data, Object.assign(ctx, { member })), 'handler');
  }

  upgrade(definition: Room, from: string, _to?: string): Promise<void> {
    return this.enqueue((ctx) => {
      ctx.state = definition.migrate!(ctx.state, from);
      this.clearTimers();
      this.definition = definition;
      return definition.onStart?.(ctx);
    }, 'callback').then(() => undefined);
  }

  async dispose(): Promise<void> {
    const onDispose = this.definition.onDispose;
    this.clearTimers();
    if (onDispose) await this.enqueue((ctx) => onDispose(ctx), 'handler').catch(() => undefined);
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
  }

  /** What a member sees: `visible(state, member)`, or undefined when the room shows everyone the same state. */
  private viewOf(member: EngineMember): unknown {
    const visible = this.definition.visible;
    return visible === undefined ? undefined : structuredClone(runAs(this.owner, visible, this.state, member));
  }

  // ---------------------------------------------------------------- the mailbox

  private enqueue<T>(task: (ctx: RoomContext<unknown>) => MaybePromise<T>, kind: 'handler' | 'callback'): Promise<T> {
    if (this.stopped) return Promise.reject(new MessageError(ErrorCode.unknownRoom, 'the room has ended'));
    const run = (): MaybePromise<T> => this.run(task, kind);
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

  private run<T>(task: (ctx: RoomContext<unknown>) => MaybePromise<T>, kind: 'handler' | 'callback'): MaybePromise<T> {
    if (this.stopped) throw new MessageError(ErrorCode.unknownRoom, 'the room has ended');
    const ctx: RoomContext<unknown> = { state: structuredClone(this.state), room: this.api };
    const outbox: (() => void)[] = [];
    this.outbox = outbox;
    const failed = (error: unknown): never => {
      this.outbox = undefined;
      if (kind === 'callback' && !this.stopped) this.sink.fault(error);
      throw error;
    };
    const succeeded = (): void => {
      this.outbox = undefined;
      this.commit(ctx.state);
      for (const send of outbox) send();
    };
    let result: MaybePromise<T>;
    try {
      result = runAs(this.owner, task, ctx);
    } catch (error) {
      return failed(error);
    }
    if (!isThenable(result)) {
      succeeded();
      return result;
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TaskTimeout(`the room's code did not settle within ${this.taskTimeoutMs} ms`)), this.taskTimeoutMs);
      timer.unref();
    });
    return Promise.race([result, deadline]).then(
      (value) => {
        clearTimeout(timer);
        if (!this.stopped) succeeded();
        return value;
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (error instanceof TaskTimeout) {
          // A task that never settles would hold the mailbox forever: the instance restarts.
          if (!this.stopped) this.sink.fault(error);
          throw new MessageError(ErrorCode.timeout, error.message);
        }
        return failed(error);
      },
    );
  }

  private commit(next: unknown): void {
    const patch = createPatch(this.state, next) as PatchOperation[];
    if (patch.length === 0) return;
    this.state = next;
    let views: Record<string, unknown> | undefined;
    if (this.definition.visible !== undefined) {
      views = {};
      for (const member of this.members.values()) if (member.connectionId !== undefined) views[member.id] = this.viewOf(member);
    }
    this.sink.commit(patch, views);
  }

  // ---------------------------------------------------------------- what the room's code sees

  private makeApi(id: string, kind: string): RoomApi {
    const timer = (repeat: boolean) => (callback: () => void | Promise<void>, ms: number): number => {
      const timerId = this.nextTimer++;
      const fire = (): void => {
        if (!repeat) this.timers.delete(timerId);
        if (this.stopped) return;
        void this.enqueue(() => callback(), 'callback').catch(() => undefined);
      };
      const handle = repeat ? setInterval(fire, ms) : setTimeout(fire, ms);
      handle.unref();
      this.timers.set(timerId, handle);
      return timerId;
    };
    return {
      id,
      kind,
      members: () => [...this.members.values()],
      send: (memberId: string, type: string, data?: unknown) => {
        const checked = this.checked(type, data);
        this.later(() => this.sink.send(memberId, type, checked ?? null));
      },
      broadcast: (type: string, data?: unknown, options?: { except?: string }) => {
        const checked = this.checked(type, data);
        this.later(() => this.sink.broadcast(type, checked ?? null, options?.except));
      },
      setTimeout: timer(false),
      setInterval: timer(true),
      clearTimer: (timerId) => {
        const handle = this.timers.get(timerId);
        if (handle === undefined) return;
        clearTimeout(handle);
        clearInterval(handle);
        this.timers.delete(timerId);
      },
      remove: (memberId, message) => {
        this.members.delete(memberId);
        this.sink.remove(memberId, message);
      },
      // After the task that asked for it: its own changes reach the members first.
      close: (message) => queueMicrotask(() => this.sink.close(message)),
    };
  }

  /**
   * A push's data as it goes out. In development, when the kind declares `pushes`, an undeclared type or
   * data its schema refuses throws `SB_PUSH_INVALID` into the room's code (a handler's sender gets it, and
   * its state change is dropped); the schema's output is what is sent.
   */
  private checked(type: string, data: unknown): unknown {
    const pushes = this.definition.pushes as Record<string, z.ZodType> | undefined;
    if (!this.checkPushes || pushes === undefined) return data;
    const schema = Object.hasOwn(pushes, type) ? pushes[type] : undefined;
    if (schema === undefined) {
      throw new SwitchboardError(DevErrorCode.pushInvalid, `room push "${type}" is not declared in the room's pushes (${Object.keys(pushes).join(', ') || 'none'})`);
    }
    const result = schema.safeParse(data);
    if (result.success) return result.data;
    const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`);
    throw new SwitchboardError(DevErrorCode.pushInvalid, `room push "${type}" does not match its declared schema: ${issues.join('; ')}`);
  }

  /** Inside a task: after its state change (dropped if it fails); outside one: now. */
  private later(send: () => void): void {
    if (this.outbox !== undefined) this.outbox.push(send);
    else send();
  }

  private clearTimers(): void {
    for (const handle of this.timers.values()) {
      clearTimeout(handle);
      clearInterval(handle);
    }
    this.timers.clear();
  }
}
