// Channel subscriptions: the Subscription handle applications hold, and the state the client keeps for it.
import type { ChannelMessage, StreamPosition, SubscribeReply } from '@switchboard/protocol';
import { Emitter } from './emitter.ts';
import type { RequestError } from './errors.ts';
import type { PresenceMember, UnsubscribedInfo } from './types.ts';

/**
 * Where a channel message came from, beside its data. `TEvent` narrows the event name for `onEvent`.
 *
 * @example
 * client.subscribe('orders', (order, { event, from }) => console.log(event, 'by', from));
 */
export interface MessageMeta<TEvent extends string = string> {
  event: TEvent;
  channel: string;
  /** The publisher's identity id, when the server names it. */
  from?: string;
}

/**
 * Events of a Subscription.
 *
 * @example
 * sub.on('subscribed', ({ resubscribed }) => resubscribed && refetchMissed());
 */
export type SubscriptionEvents<TData = unknown, TInfo = PresenceMember['info']> = {
  /** An event published to the channel. */
  message: [data: TData, meta: MessageMeta];
  /**
   * The server confirmed the subscription: the first time (`resubscribed` false), and again after every
   * reconnect. On a channel with history, `recovered` then says whether every message missed while the link
   * was down was delivered (exactly once, in order, before this event); when it is false they are no longer
   * held (too old, too many, or the server's history restarted): re-read the state. Without history,
   * `recovered` is absent and a reconnect is when to fetch what was published meanwhile.
   */
  subscribed: [info: { resubscribed: boolean; recovered?: boolean }];
  /** A member joined a presence channel (also after a reconnect, for members who joined meanwhile). */
  join: [member: PresenceMember<TInfo>];
  /** A member left a presence channel. */
  leave: [member: PresenceMember<TInfo>];
  /** The server removed this subscription (grant revoked, channel closed); it is no longer live. */
  unsubscribed: [info: UnsubscribedInfo];
};

/**
 * The event names `onEvent` takes with a listener whose data it chooses itself: any string when the Api
 * declares no channel events, none when it does (each declared event has its own overload).
 */
type UntypedEvent<TEvents> = [keyof TEvents] extends [never] ? string : never;

/**
 * A live channel subscription, re-subscribed automatically after every reconnect. `TEvents` are the channel
 * events the Api declares (event → data), which type `onEvent`. The `message` listener hears every event,
 * declared or not (clients may publish others), so its data is `TData`: `unknown` unless you give it.
 *
 * @example
 * const lobby = client.subscribe('presence-lobby', (data, { event }) => console.log(event, data));
 * await lobby.ready;
 * console.log([...lobby.members.keys()]);
 * lobby.on('join', (member) => console.log('joined', member.id));
 * lobby.onEvent('typing', ({ user }) => showTyping(user));
 * await lobby.unsubscribe();
 */
export class Subscription<TData = unknown, TInfo = PresenceMember['info'], TEvents = Record<never, never>> {
  readonly channel: string;
  /** Resolves when the server confirmed the first subscribe; rejects with its RequestError (e.g. `forbidden`). */
  readonly ready: Promise<void>;
  readonly #entry: ChannelEntry<TData, TInfo, TEvents>;

  constructor(entry: ChannelEntry<TData, TInfo, TEvents>, ready: Promise<void>) {
    this.channel = entry.channel;
    this.ready = ready;
    this.#entry = entry;
  }

  /** Channels with history: the epoch and offset of the last message delivered, or undefined. */
  get position(): StreamPosition | undefined {
    const position = this.#entry.position;
    return position === undefined ? undefined : { ...position };
  }

  /** Presence channels: the members by id, kept up to date from `$presence`. Empty on other channels. */
  get members(): ReadonlyMap<string, TInfo> {
    return this.#entry.members;
  }

  /** False once unsubscribed, removed by the server, or the client closed. */
  get active(): boolean {
    return this.#entry.active;
  }

  /** Listens to `message`, `subscribed`, `join`, `leave` or `unsubscribed`; returns a function that stops listening. */
  on<K extends keyof SubscriptionEvents & string>(name: K, listener: (...args: SubscriptionEvents<TData, TInfo>[K]) => void): () => void {
    return this.#entry.emitter.on(name, listener);
  }

  /**
   * Listens to one channel event: with an Api that declares channel events, only those, each with its data
   * type; otherwise any event, with the data type you give. Returns a function that stops listening.
   *
   * @example
   * const off = room.onEvent('typing', ({ user }) => showTyping(user));
   */
  onEvent<K extends keyof TEvents & string>(event: K, listener: (data: TEvents[K], meta: MessageMeta<K>) => void): () => void;
  onEvent<T = TData>(event: UntypedEvent<TEvents>, listener: (data: T, meta: MessageMeta) => void): () => void;
  onEvent(event: string, listener: (data: any, meta: MessageMeta<any>) => void): () => void {
    return this.#entry.emitter.on('message', (data, meta) => {
      if (meta.event === event) listener(data, meta);
    });
  }

  /** Sends `$unsubscribe` and stops delivery at once. Resolves when the server confirmed; never rejects. */
  unsubscribe(): Promise<void> {
    return this.#entry.unsubscribe(this.#entry);
  }
}

/** The client's side of one subscription (internal: applications see `Subscription`). `TEvents` only types it. */
export class ChannelEntry<TData = unknown, TInfo = PresenceMember['info'], TEvents = Record<never, never>> {
  readonly channel: string;
  readonly emitter = new Emitter<SubscriptionEvents<TData, TInfo>>();
  readonly members = new Map<string, TInfo>();
  readonly subscription: Subscription<TData, TInfo, TEvents>;
  readonly unsubscribe: (entry: ChannelEntry<TData, TInfo, TEvents>) => Promise<void>;
  active = true;
  confirmed = false;
  /** Channels with history: where this subscription is in the channel's stream. */
  position: StreamPosition | undefined = undefined;
  /** A `$subscribe` is on its way: live messages wait here, so that they merge in order with its reply. */
  private waiting: ChannelMessage[] | undefined = undefined;
  private readonly recover: (entry: ChannelEntry<TData, TInfo, TEvents>) => void;
  private last: number | undefined;
  private resolveReady!: () => void;
  private rejectReady!: (error: RequestError) => void;

  constructor(
    channel: string,
    unsubscribe: (entry: ChannelEntry<TData, TInfo, TEvents>) => Promise<void>,
    recover: (entry: ChannelEntry<TData, TInfo, TEvents>) => void = () => {},
    last?: number,
  ) {
    this.channel = channel;
    this.unsubscribe = unsubscribe;
    this.recover = recover;
    this.last = last;
    const ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Applications that never await `ready` must not see an unhandled rejection.
    ready.catch(() => undefined);
    this.subscription = new Subscription(this, ready);
  }

  /** The payload of the next `$subscribe`: from the position held (recovery), or the newest `last` the first time. */
  subscribeRequest(): { channel: string; since?: StreamPosition; last?: number } {
    this.waiting ??= [];
    if (this.position !== undefined) return { channel: this.channel, since: this.position };
    return this.last === undefined ? { channel: this.channel } : { channel: this.channel, last: this.last };
  }

  /**
   * A `$message` for this channel. With offsets: one already delivered is dropped, the next is delivered, and
   * one past a gap waits while the subscription asks the server for what is missing.
   */
  receive(message: ChannelMessage): void {
    if (this.waiting !== undefined) {
      this.waiting.push(message);
      return;
    }
    const { epoch, offset } = message;
    const position = this.position;
    if (epoch !== undefined && offset !== undefined && position !== undefined && epoch === position.epoch) {
      if (offset <= position.offset) return;
      if (offset > position.offset + 1) {
        this.waiting = [message];
        this.recover(this);
        return;
      }
    }
    this.deliver(message);
  }

  private deliver(message: ChannelMessage): void {
    if (message.epoch !== undefined && message.offset !== undefined) this.position = { epoch: message.epoch, offset: message.offset };
    const meta: MessageMeta = { event: message.event, channel: this.channel };
    if (message.from !== undefined) meta.from = message.from;
    this.emitter.emit('message', message.data as TData, meta);
  }

  /** The server confirmed a subscribe: take its member list; after a reconnect, announce what changed. */
  confirm(reply: SubscribeReply): void {
    const { members, publications, position, recovered } = reply;
    const held = this.waiting ?? [];
    this.waiting = undefined;
    this.last = undefined;
    if (recovered === false) this.position = undefined;
    // What the reply replays, then what arrived live meanwhile; receive() drops what is already held.
    for (const message of publications ?? []) this.receive(message);
    for (const message of held) this.receive(message);
    if (this.waiting === undefined && position !== undefined && (this.position === undefined || this.position.epoch !== position.epoch)) {
      this.position = { ...position };
    }
    const next = new Map<string, TInfo>();
    for (const member of (members ?? []) as PresenceMember<TInfo>[]) next.set(member.id, member.info);
    const previous = this.confirmed ? new Map(this.members) : undefined;
    this.members.clear();
    for (const [id, info] of next) this.members.set(id, info);
    if (!this.confirmed) {
      this.confirmed = true;
      this.resolveReady();
      this.emitter.emit('subscribed', recovered === undefined ? { resubscribed: false } : { resubscribed: false, recovered });
      return;
    }
    for (const [id, info] of previous ?? []) if (!next.has(id)) this.emitter.emit('leave', { id, info });
    for (const [id, info] of next) if (!previous?.has(id)) this.emitter.emit('join', { id, info });
    this.emitter.emit('subscribed', recovered === undefined ? { resubscribed: true } : { resubscribed: true, recovered });
  }

  presence(action: 'join' | 'leave', member: PresenceMember<TInfo>): void {
    if (action === 'join') this.members.set(member.id, member.info);
    else this.members.delete(member.id);
    this.emitter.emit(action, member);
  }

  /** The subscription ended: `ready` rejects if it was never confirmed; listeners hear why when the server ended it. */
  end(error: RequestError, info?: UnsubscribedInfo): void {
    if (!this.active) return;
    this.active = false;
    if (!this.confirmed) this.rejectReady(error);
    if (info) this.emitter.emit('unsubscribed', info);
  }
}
