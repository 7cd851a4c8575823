// Channel subscriptions: the Subscription handle applications hold, and the state the client keeps for it.
import { Emitter } from './emitter.ts';
import type { RequestError } from './errors.ts';
import type { PresenceMember, UnsubscribedInfo } from './types.ts';

/**
 * Where a channel message came from, beside its data.
 *
 * @example
 * client.subscribe('orders', (order, { event, from }) => console.log(event, 'by', from));
 */
export interface MessageMeta {
  event: string;
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
   * reconnect, which is when to fetch what was published while the link was down.
   */
  subscribed: [info: { resubscribed: boolean }];
  /** A member joined a presence channel (also after a reconnect, for members who joined meanwhile). */
  join: [member: PresenceMember<TInfo>];
  /** A member left a presence channel. */
  leave: [member: PresenceMember<TInfo>];
  /** The server removed this subscription (grant revoked, channel closed); it is no longer live. */
  unsubscribed: [info: UnsubscribedInfo];
};

/**
 * A live channel subscription, re-subscribed automatically after every reconnect.
 *
 * @example
 * const lobby = client.subscribe('presence-lobby', (data, { event }) => console.log(event, data));
 * await lobby.ready;
 * console.log([...lobby.members.keys()]);
 * lobby.on('join', (member) => console.log('joined', member.id));
 * await lobby.unsubscribe();
 */
export class Subscription<TData = unknown, TInfo = PresenceMember['info']> {
  readonly channel: string;
  /** Resolves when the server confirmed the first subscribe; rejects with its RequestError (e.g. `forbidden`). */
  readonly ready: Promise<void>;
  readonly #entry: ChannelEntry<TData, TInfo>;

  constructor(entry: ChannelEntry<TData, TInfo>, ready: Promise<void>) {
    this.channel = entry.channel;
    this.ready = ready;
    this.#entry = entry;
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

  /** Sends `$unsubscribe` and stops delivery at once. Resolves when the server confirmed; never rejects. */
  unsubscribe(): Promise<void> {
    return this.#entry.unsubscribe(this.#entry);
  }
}

/** The client's side of one subscription (internal: applications see `Subscription`). */
export class ChannelEntry<TData = unknown, TInfo = PresenceMember['info']> {
  readonly channel: string;
  readonly emitter = new Emitter<SubscriptionEvents<TData, TInfo>>();
  readonly members = new Map<string, TInfo>();
  readonly subscription: Subscription<TData, TInfo>;
  readonly unsubscribe: (entry: ChannelEntry<TData, TInfo>) => Promise<void>;
  active = true;
  confirmed = false;
  private resolveReady!: () => void;
  private rejectReady!: (error: RequestError) => void;

  constructor(channel: string, unsubscribe: (entry: ChannelEntry<TData, TInfo>) => Promise<void>) {
    this.channel = channel;
    this.unsubscribe = unsubscribe;
    const ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Applications that never await `ready` must not see an unhandled rejection.
    ready.catch(() => undefined);
    this.subscription = new Subscription(this, ready);
  }

  /** The server confirmed a subscribe: take its member list; after a reconnect, announce what changed. */
  confirm(members: PresenceMember<TInfo>[] | undefined): void {
    const next = new Map<string, TInfo>();
    for (const member of members ?? []) next.set(member.id, member.info);
    const previous = this.confirmed ? new Map(this.members) : undefined;
    this.members.clear();
    for (const [id, info] of next) this.members.set(id, info);
    if (!this.confirmed) {
      this.confirmed = true;
      this.resolveReady();
      this.emitter.emit('subscribed', { resubscribed: false });
      return;
    }
    for (const [id, info] of previous ?? []) if (!next.has(id)) this.emitter.emit('leave', { id, info });
    for (const [id, info] of next) if (!previous?.has(id)) this.emitter.emit('join', { id, info });
    this.emitter.emit('subscribed', { resubscribed: true });
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
