// A joined room: its state (a snapshot, then JSON Patches in order), its members and messages, and the seat
// it takes back after a reconnect, catching up on what it missed.
import { applyPatch, type Operation } from 'rfc6902';
import type { RoomClosed, RoomJoinReply, RoomMemberChange, RoomMemberInfo, RoomMessage, RoomStatePatch, RoomType, StreamPosition } from '@switchboard/protocol';
import { Emitter } from './emitter.ts';
import type { RequestError } from './errors.ts';

/**
 * Events of a room session.
 *
 * @example
 * game.on('state', (state) => render(state));
 */
export type RoomEvents<S> = {
  /** The state changed (after a patch, a snapshot, or a catch-up after a reconnect). */
  state: [state: S];
  /** A message the room's code sent to this member. */
  message: [type: string, data: unknown];
  /** A member joined, left, went away or came back. */
  member: [change: Omit<RoomMemberChange, 'room'>];
  /** Joined: the first time (`rejoined` false), and after every reconnect (`recovered`: patches replayed, or a snapshot). */
  joined: [info: { rejoined: boolean; recovered: boolean }];
  /** The room ended for this member (closed, disposed, failed, removed); it no longer changes. */
  closed: [info: { reason: string; message?: string }];
};

/** A room kind nothing is known of: any state, messages and pushes. */
type AnyRoom<S> = RoomType<S, Record<string, unknown>, Record<string, unknown>>;

/** `[type, data]` of each push of room type `T` (a union, so a `switch` on `type` narrows `data`). */
export type RoomPushArgs<T extends RoomType> = string extends keyof T['pushes']
  ? [type: string, data: unknown]
  : { [K in keyof T['pushes'] & string]: [type: K, data: T['pushes'][K]] }[keyof T['pushes'] & string];

/** The events of a session of room type `T`: `message` typed from its pushes. */
export type RoomSessionEvents<S, T extends RoomType> = Omit<RoomEvents<S>, 'message'> & { message: RoomPushArgs<T> };

/** `send`'s data argument for message `K` of room type `T`: optional when it accepts undefined. */
type RoomSendArgs<T extends RoomType, K extends keyof T['messages']> = undefined extends T['messages'][K] ? [data?: T['messages'][K]] : [data: T['messages'][K]];

/** What a room session needs from the client. */
export interface RoomHost {
  request(type: string, data: unknown): Promise<unknown>;
  /** Joins again (`$room.join` with the seat and position) when the link is up; bound sessions rejoin by reconnecting. */
  rejoin(entry: RoomEntry<any>): void;
  forget(entry: RoomEntry<any>): void;
}

/**
 * A room this client is a member of, from `client.join()` (or the room a `/socket/:id` connection is bound to).
 *
 * @example
 * const game = client.join<Board>('tictactoe');
 * await game.ready;
 * game.on('state', render);
 * await game.send('move', { cell: 4 });
 */
export class RoomSession<S = unknown, T extends RoomType = AnyRoom<S>> {
  /** Resolves once joined; rejects with the server's RequestError (`room_full`, `forbidden`, the room's own codes). */
  readonly ready: Promise<void>;
  readonly #entry: RoomEntry<S>;

  constructor(entry: RoomEntry<S>, ready: Promise<void>) {
    this.ready = ready;
    this.#entry = entry;
  }

  /** The instance id (undefined until joined). */
  get id(): string | undefined {
    return this.#entry.id;
  }

  get kind(): string | undefined {
    return this.#entry.kind;
  }

  /** This member's id in the room. */
  get member(): string | undefined {
    return this.#entry.member;
  }

  /** The seat token: keep it (sessionStorage) to take the same seat after a page reload with `join({ room, seat })`. */
  get seat(): string | undefined {
    return this.#entry.seat;
  }

  /** The state as this member sees it (undefined until joined). Do not change it: the room's code does. */
  get state(): S | undefined {
    return this.#entry.state;
  }

  /** The members by id. */
  get members(): ReadonlyMap<string, RoomMemberInfo> {
    return this.#entry.members;
  }

  get position(): StreamPosition | undefined {
    return this.#entry.position === undefined ? undefined : { ...this.#entry.position };
  }

  /** False once left or closed. */
  get active(): boolean {
    return this.#entry.active;
  }

  on<K extends keyof RoomSessionEvents<S, T> & string>(name: K, listener: (...args: RoomSessionEvents<S, T>[K]) => void): () => void {
    return this.#entry.emitter.on(name as keyof RoomEvents<S> & string, listener as (...args: RoomEvents<S>[keyof RoomEvents<S>]) => void);
  }

  /**
   * Listens to one of the room's pushes (`room.send` / `room.broadcast` in its code), typed from the kind's
   * declared `pushes` with a typed Api.
   *
   * @example
   * game.onMessage('game.over', ({ winner }) => banner(winner));
   */
  onMessage<K extends keyof T['pushes'] & string>(type: K, listener: (data: T['pushes'][K]) => void): () => void {
    return this.#entry.emitter.on('message', (pushed, data) => {
      if (pushed === type) listener(data as T['pushes'][K]);
    });
  }

  /**
   * Sends one of the room's messages; resolves with its handler's reply (`R`, unknown unless given). With a
   * typed Api the type and its data are checked (given `R`, the data is checked against any message's).
   */
  async send<R = unknown, K extends keyof T['messages'] & string = keyof T['messages'] & string>(type: K, ...args: RoomSendArgs<T, K>): Promise<R> {
    await this.ready;
    return (await this.#entry.host.request('$room.send', { room: this.#entry.id, type, data: args[0] })) as R;
  }

  /** Leaves the room (its seat is given up). */
  leave(): Promise<void> {
    return this.#entry.leave();
  }
}

/** The client's side of one room membership (internal: applications see `RoomSession`). */
export class RoomEntry<S = unknown> {
  readonly emitter = new Emitter<RoomEvents<S>>();
  readonly session: RoomSession<S>;
  readonly host: RoomHost;
  /** What `$room.join` asks for the first time (kind, room, create, options). */
  readonly request: Record<string, unknown>;
  /** Bound to the connection's URL (`/socket/:id`): it rejoins by reconnecting, not with `$room.join`. */
  readonly bound: boolean;
  id: string | undefined = undefined;
  kind: string | undefined = undefined;
  member: string | undefined = undefined;
  seat: string | undefined = undefined;
  state: S | undefined = undefined;
  position: StreamPosition | undefined = undefined;
  readonly members = new Map<string, RoomMemberInfo>();
  active = true;
  joined = false;
  /** A join is on its way: patches wait here. */
  waiting: RoomStatePatch[] | undefined = undefined;
  private resolveReady!: () => void;
  private rejectReady!: (error: RequestError) => void;

  constructor(request: Record<string, unknown>, host: RoomHost, bound = false) {
    this.request = request;
    this.host = host;
    this.bound = bound;
    const ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    ready.catch(() => undefined);
    this.session = new RoomSession(this, ready);
  }

  /** The payload of the next `$room.join`: the first request, or the seat and position to take back. */
  joinRequest(): Record<string, unknown> {
    this.waiting ??= [];
    if (this.id === undefined) return this.request;
    // (After the first join: the seat and the position held.)
    const request: Record<string, unknown> = { room: this.id };
    if (this.seat !== undefined) request.seat = this.seat;
    if (this.position !== undefined) request.since = this.position;
    return request;
  }

  confirm(reply: RoomJoinReply<S>): void {
    const held = this.waiting ?? [];
    this.waiting = undefined;
    const rejoined = this.joined;
    this.id = reply.room;
    this.kind = reply.kind;
    this.member = reply.member;
    this.seat = reply.seat;
    this.members.clear();
    for (const member of reply.members) this.members.set(member.id, member);
    if (reply.state !== undefined) this.state = structuredClone(reply.state);
    else for (const patch of reply.patches ?? []) this.apply(patch.patch);
    this.position = { ...reply.position };
    for (const patch of held) this.receive(patch);
    this.joined = true;
    this.resolveReady();
    this.emitter.emit('state', this.state as S);
    this.emitter.emit('joined', { rejoined, recovered: reply.state === undefined });
  }

  receive(patch: RoomStatePatch): void {
    if (this.waiting !== undefined) {
      this.waiting.push(patch);
      return;
    }
    const position = this.position;
    if (position === undefined) return;
    if (patch.epoch === position.epoch && patch.offset <= position.offset) return;
    if (patch.epoch !== position.epoch || patch.prev > position.offset) {
      // Something was missed: take the seat again from where we are (a snapshot if it cannot be replayed).
      this.waiting = [patch];
      this.host.rejoin(this);
      return;
    }
    this.apply(patch.patch);
    this.position = { epoch: patch.epoch, offset: patch.offset };
    this.emitter.emit('state', this.state as S);
  }

  private apply(patch: RoomStatePatch['patch']): void {
    const copy = structuredClone(this.state) as object;
    applyPatch(copy, patch as Operation[]);
    this.state = copy as S;
  }

  message(message: RoomMessage): void {
    this.emitter.emit('message', message.type, message.data);
  }

  memberChanged(change: RoomMemberChange): void {
    if (change.action === 'leave') this.members.delete(change.member.id);
    else this.members.set(change.member.id, change.member);
    this.emitter.emit('member', { action: change.action, member: change.member });
  }

  /** The link dropped: patches wait for the next join. */
  disconnected(): void {
    this.waiting = undefined;
  }

  end(info: RoomClosed | undefined, error: RequestError): void {
    if (!this.active) return;
    this.active = false;
    if (!this.joined) this.rejectReady(error);
    if (info !== undefined) this.emitter.emit('closed', info.message === undefined ? { reason: info.reason } : { reason: info.reason, message: info.message });
  }

  async leave(): Promise<void> {
    if (!this.active) return;
    const id = this.id;
    this.host.forget(this);
    this.active = false;
    if (id !== undefined) await this.host.request('$room.leave', { room: id }).catch(() => undefined);
  }
}
