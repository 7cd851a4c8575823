// Channels: subscribe, unsubscribe, publish and broadcast, delivered through the bus; presence; live revocation.
import {
  CHANNEL_NAME_PATTERN,
  channelKind,
  MAX_EVENT_LENGTH,
  ErrorCode,
  SystemType,
  type ChannelKind,
  type ChannelMessage,
  type Envelope,
  type Member,
  type PresenceChange,
  type StreamPosition,
  type SubscribeReply,
  type Unsubscribed,
} from '@switchboard/protocol';
import { z } from 'zod';
import type { ChannelApi, ChannelInfo, PublishOptions } from '../api.ts';
import type { Auth } from '../auth/auth.ts';
import { BROADCAST_TOPIC, channelTopic, type Bus, type BusMessage } from '../bus/bus.ts';
import type { Connection, ConnectionInfo } from '../connection/connection.ts';
import { DevErrorCode, MessageError, SwitchboardError } from '../errors.ts';
import type { Feature, ProtocolRoute } from '../feature.ts';
import type { HandlerContext } from '../plug/define.ts';
import type { History, StreamPage, StreamReset } from '../stream/history.ts';
import { isThenable, type MaybePromise } from '../maybe-promise.ts';
import type { Logger } from 'pino';
import { grantFor, PatternSet } from '../grants/grant-set.ts';
import type { ResolvedChannelOptions } from '../options.ts';
import type { PresenceStore } from '../presence/presence-store.ts';

/** How a subscription was admitted, which decides whether a grant change can end it. */
const Admitted = {
  /** A public channel: no grant involved. */
  public: 0,
  /** A `subscribe:` grant: re-checked on every grant change. */
  grant: 1,
  /** The `authorize` hook: stands while the connection keeps its identity. */
  hook: 2,
} as const;


/** One channel with subscribers on this node. */
interface Channel {
  readonly name: string;
  readonly kind: ChannelKind;
  readonly topic: string;
  readonly subscribers: Set<Connection>;
  /** A presence channel: its members are kept in the presence store (across the cluster). */
  readonly presence: boolean;
}

/** What the channels feature is handed by `server.ts`. */
export interface ChannelsHost {
  readonly log: Logger;
  readonly bus: Bus;
  /** Where channels with history keep their streams. */
  readonly history: History;
  /** Who is in each presence channel, across the cluster. */
  readonly presence: PresenceStore;
  /** This node's id, on the presence entries of its connections. */
  readonly node: string;
  sendTo(connection: Connection, envelope: Envelope): boolean;
  /** Encode-once delivery to many local connections. */
  fanout(message: BusMessage, recipients: Iterable<Connection>): number;
  /** A connection became (or stopped being) a subscriber of a channel: the server's `subscribe` / `unsubscribe` events. */
  membership?(connection: Connection, channel: string, subscribed: boolean): void;
}

// The payloads of the channel protocol messages. A name that is a string but not a valid channel name gets
// `bad_channel` from the handler; anything else that does not fit gets `invalid_payload` with its issues.
const eventName = z.string().min(1).max(MAX_EVENT_LENGTH);
const channelInput = z.strictObject({ channel: z.string() });
const position = z.strictObject({ epoch: z.string().min(1).max(64), offset: z.number().int().min(0) });
const subscribeInput = z.strictObject({ channel: z.string(), since: position.optional(), last: z.number().int().min(1).optional() });

/** What a channel's stream keeps of a publication (the rest of the `$message` is the channel's own). */
interface Stored {
  event: string;
  data: unknown;
  from?: string;
}


const publishInput = z.strictObject({ channel: z.string(), event: eventName, data: z.unknown().optional(), exceptSelf: z.boolean().optional() });
const broadcastInput = z.strictObject({ event: eventName, data: z.unknown().optional(), exceptSelf: z.boolean().optional() });

/** A valid channel name, or MessageError `bad_channel`. */
function channelName(name: string): string {
  if (!CHANNEL_NAME_PATTERN.test(name)) throw new MessageError(ErrorCode.badChannel, 'channel must be 1 to 200 of A-Z a-z 0-9 _-.:@=,;');
  return name;
}

function isChannelName(name: unknown): name is string {
  return typeof name === 'string' && CHANNEL_NAME_PATTERN.test(name);
}

function isEventName(event: unknown): event is string {
  return typeof event === 'string' && event.length > 0 && event.length <= MAX_EVENT_LENGTH;
}

/** JSON length of a payload; data that cannot be serialised counts as too big. */
export function jsonLength(data: unknown): number {
  try {
    return JSON.stringify(data ?? null).length;
  } catch {
    return Infinity;
  }
}

/**
 * The channel subsystem. Each channel with local subscribers has one bus subscription; the bus listener
 * hands every message to `core.fanout`, so a publish is encoded once per codec and arrives in order.
 *
 * @example
 * const channels = new Channels(core, auth, resolveChannelOptions({}));
 * channels.install();
 * channels.publish('orders.eu', 'created', { id: 7 });
 */
export class Channels implements Feature, ChannelApi {
  readonly name = 'channels';
  readonly options: ResolvedChannelOptions;
  readonly routes: readonly ProtocolRoute[];
  private readonly core: ChannelsHost;
  private readonly auth: Auth;
  /** Channels with local subscribers, by bus topic. */
  private readonly byTopic = new Map<string, Channel>();
  /** Each connection's subscriptions, with how each was admitted. */
  private readonly subscriptionsOf = new Map<Connection, Map<string, number>>();
  /** The channels that keep history (`channels.history.channels`). */
  private readonly withHistory: PatternSet;
  /** Appends still being written, per channel, when the history answers asynchronously: publishes keep their order. */
  private readonly appending = new Map<string, Promise<void>>();
  /** Messages waiting for their position, or for those before them to be delivered, in every channel: at most `history.maxPending`. */
  private pending = 0;
  /** Their data's JSON length, together: at most `history.maxPendingBytes`. */
  private pendingBytes = 0;
  /** Per presence channel, the announcements of store changes still resolving: made in order, announced in order. */
  private readonly announcing = new Map<string, Promise<void>>();
  /** Recovery outcomes, for the metrics. */
  readonly recoveries = { recovered: 0, reset: 0, replayed: 0 };

  constructor(host: ChannelsHost, auth: Auth, options: ResolvedChannelOptions) {
    this.core = host;
    this.auth = auth;
    this.options = options;
    this.withHistory = new PatternSet(options.history.channels);
    this.routes = [
      {
        type: SystemType.subscribe,
        input: subscribeInput,
        description: 'subscribe to a channel; `since` recovers what was missed, `last` gets the newest messages',
        handler: (data: z.output<typeof subscribeInput>, ctx: HandlerContext) => this.onSubscribe(ctx, channelName(data.channel), data),
      },
      {
        type: SystemType.unsubscribe,
        input: channelInput,
        description: 'leave a channel',
        handler: (data: z.output<typeof channelInput>, ctx: HandlerContext) => this.onUnsubscribe(ctx.connection, channelName(data.channel)),
      },
      {
        type: SystemType.publish,
        input: publishInput,
        description: 'publish an event to a channel',
        handler: (data: z.output<typeof publishInput>, ctx: HandlerContext) => this.onPublish(ctx.connection, channelName(data.channel), data),
      },
      {
        type: SystemType.broadcast,
        input: broadcastInput,
        description: 'send an event to every connection',
        handler: (data: z.output<typeof broadcastInput>, ctx: HandlerContext) => this.onBroadcast(ctx.connection, data),
      },
    ];
  }

  /** Announces presence changes made elsewhere (a dead node swept from the store) to every node's subscribers. */
  announce(changes: readonly PresenceChange[]): void {
    for (const change of changes) this.presenceChange(change.channel, () => [change], undefined);
  }

  /**
   * Adds this node's presence members to the store again (it lost them: a Redis restart without persistence)
   * and announces the joins it returns.
   */
  restorePresence(): void {
    for (const channel of this.byTopic.values()) {
      if (!channel.presence) continue;
      for (const connection of channel.subscribers) {
        const identity = connection.identity;
        if (identity === undefined) continue;
        const member = { connectionId: connection.id, node: this.core.node, identityId: identity.id, info: identity.info ?? {} };
        this.presenceChange(channel.name, () => this.core.presence.add(channel.name, member), connection.id);
      }
    }
  }

  /** Resolves once every presence change made so far has been announced. */
  async settled(): Promise<void> {
    while (this.announcing.size > 0) await Promise.all(this.announcing.values());
  }

  /** The channels a connection is subscribed to. */
  describe(connection: Connection): Partial<ConnectionInfo> {
    const subscriptions = this.subscriptionsOf.get(connection);
    return subscriptions ? { channels: [...subscriptions.keys()] } : {};
  }

  // ---------------------------------------------------------------- ChannelApi

  publish(channel: string, event: string, data?: unknown, options?: PublishOptions): void {
    if (!isChannelName(channel)) {
      throw new SwitchboardError(DevErrorCode.badArgument, `channel ${JSON.stringify(channel)} is not a valid name: 1 to 200 of A-Z a-z 0-9 _-.:@=,;`);
    }
    if (!isEventName(event)) throw new SwitchboardError(DevErrorCode.badArgument, `event must be a string of 1 to ${MAX_EVENT_LENGTH} characters`);
    const except = options?.except;
    const sent = this.send(channel, event, data, undefined, except === undefined ? undefined : typeof except === 'string' ? except : except.id);
    if (isThenable(sent)) sent.then(undefined, () => undefined); // a failed append is logged where it failed
  }

  channels(): ChannelInfo[] {
    return [...this.byTopic.values()].map((channel) => ({
      name: channel.name,
      kind: channel.kind,
      subscribers: channel.subscribers.size,
      // The distinct identities among this node's subscribers; `members()` asks the store for the cluster's.
      ...(channel.presence ? { members: new Set([...channel.subscribers].map((connection) => connection.identity?.id)).size } : {}),
    }));
  }

  async members(channel: string): Promise<Member[]> {
    return channelKind(channel) === 'presence' ? await this.core.presence.list(channel) : [];
  }

  /**
   * Publishes a `$message` on the channel's bus topic; every node delivers it to its subscribers. A channel
   * with history appends it to its stream first and the message carries its position, the same bytes for
   * every subscriber (positions are per stream, so fan-out stays encode-once). Resolves (when the history
   * answers asynchronously) once the message has its position and was handed to the bus; rejects if the
   * append failed (logged too), so a `$publish` is answered only then.
   */
  send(channel: string, event: string, data: unknown, from: string | undefined, except: string | undefined): MaybePromise<void> {
    const message: ChannelMessage = { channel, event, data: data ?? null };
    if (from !== undefined) message.from = from;
    if (!this.withHistory.matches(channel)) return this.deliver(channel, message, except);
    const stored: Stored = from === undefined ? { event, data: message.data } : { event, data: message.data, from };
    // The append is made now, so a history that answers asynchronously (a round trip to Redis or the agent)
    // takes many at once and gives offsets in publish order (its calls are answered in order); only the
    // delivery waits for the ones before it, so messages reach the bus in that order too.
    // Nothing waits without bound: a publisher faster than the history (or the fan-out after it) is refused
    // once this node holds `maxPending` messages, or `maxPendingBytes` of them, rather than each one's delay
    // and the memory growing.
    const { maxPending, maxPendingBytes } = this.options.history;
    if (this.pending >= maxPending || this.pendingBytes >= maxPendingBytes) {
      const bound = this.pending >= maxPending ? `channels.history.maxPending ${maxPending}` : `channels.history.maxPendingBytes ${maxPendingBytes}`;
      throw new MessageError(
        ErrorCode.rateLimited,
        `${this.pending} messages (${this.pendingBytes} bytes of JSON) are waiting for their place in the history (${bound}); publish again once they are written`,
        { channel, pending: this.pending, pendingBytes: this.pendingBytes },
      );
    }
    const before = this.appending.get(channel);
    const appended = this.core.history.append(channel, stored);
    if (before === undefined && !isThenable(appended)) return this.deliver(channel, withPosition(message, appended), except);
    const position = Promise.resolve(appended);
    // Handled below once the messages before it are delivered; marked handled now, so a failure meanwhile is
    // not an unhandled rejection.
    position.catch(() => undefined);
    return this.queue(channel, before, position, message, except);
  }

  private queue(channel: string, before: Promise<void> | undefined, appended: Promise<StreamPosition>, message: ChannelMessage, except: string | undefined): Promise<void> {
    const delivered = (before === undefined ? appended : before.then(() => appended)).then((at) => this.deliver(channel, withPosition(message, at), except));
    const done = delivered.then(
      () => undefined,
      (error: unknown) => this.core.log.error({ err: error, channel }, 'history append failed; the message was not delivered'),
    );
    this.appending.set(channel, done);
    // Measured only for a message that waits (the in-memory history answers at once): its data as JSON, the
    // measure of `channels.maxMessageBytes`. Data JSON cannot hold fails at its delivery; it weighs nothing here.
    const length = jsonLength(message.data);
    const bytes = Number.isFinite(length) ? length : 0;
    this.pending++;
    this.pendingBytes += bytes;
    void done.then(() => {
      this.pending--;
      this.pendingBytes -= bytes;
      if (this.appending.get(channel) === done) this.appending.delete(channel);
    });
    return delivered;
  }

  private deliver(channel: string, message: ChannelMessage, except: string | undefined): void {
    const busMessage: BusMessage = { topic: channelTopic(channel), envelope: { type: SystemType.message, data: message } };
    if (except !== undefined) busMessage.except = except;
    this.core.bus.publish(busMessage);
  }

  /** Publishes a `$message` with channel null to every connection (every node). */
  broadcastEvent(event: string, data: unknown, from: string | undefined, except: string | undefined): void {
    const message: ChannelMessage = { channel: null, event, data: data ?? null };
    if (from !== undefined) message.from = from;
    const busMessage: BusMessage = { topic: BROADCAST_TOPIC, envelope: { type: SystemType.message, data: message } };
    if (except !== undefined) busMessage.except = except;
    this.core.bus.publish(busMessage);
  }

  // ---------------------------------------------------------------- delivery

  /** The one bus listener of every channel topic. */
  private readonly onBusMessage = (message: BusMessage): void => {
    const channel = this.byTopic.get(message.topic);
    if (channel !== undefined) this.core.fanout(message, channel.subscribers);
  };

  private add(connection: Connection, name: string, admitted: number): Channel {
    const topic = channelTopic(name);
    let channel = this.byTopic.get(topic);
    if (channel === undefined) {
      const kind = channelKind(name);
      channel = { name, kind, topic, subscribers: new Set(), presence: kind === 'presence' };
      this.byTopic.set(topic, channel);
      this.core.bus.subscribe(topic, this.onBusMessage);
    }
    channel.subscribers.add(connection);
    let subscriptions = this.subscriptionsOf.get(connection);
    if (subscriptions === undefined) {
      subscriptions = new Map();
      this.subscriptionsOf.set(connection, subscriptions);
    }
    subscriptions.set(name, admitted);
    this.core.membership?.(connection, name, true);
    return channel;
  }

  /** Removes a connection from a channel; a presence member that left is announced to the others. */
  private remove(connection: Connection, channel: Channel): void {
    channel.subscribers.delete(connection);
    this.subscriptionsOf.get(connection)?.delete(channel.name);
    this.core.membership?.(connection, channel.name, false);
    if (channel.presence) this.presenceChange(channel.name, () => this.core.presence.remove(channel.name, connection.id), undefined);
    if (channel.subscribers.size === 0) {
      this.byTopic.delete(channel.topic);
      this.core.bus.unsubscribe(channel.topic, this.onBusMessage);
    }
  }

  /**
   * Makes a presence store change now and announces the identity-level joins and leaves it returns to the
   * channel's subscribers on every node (through the bus), in the order the changes were made even when the
   * store answers asynchronously: a quick subscribe-then-close never announces the leave before the join.
   */
  private presenceChange(name: string, change: () => MaybePromise<PresenceChange[]>, except: string | undefined): void {
    const announce = (diffs: PresenceChange[]): void => {
      for (const diff of diffs) {
        const message: BusMessage = { topic: channelTopic(name), envelope: { type: SystemType.presence, data: diff } };
        if (except !== undefined && diff.action === 'join') message.except = except;
        this.core.bus.publish(message);
      }
    };
    const failed = (error: unknown): void => {
      this.core.log.error({ err: error, channel: name }, `presence store failed; members of ${name} may be out of date`);
    };
    let result: MaybePromise<PresenceChange[]>;
    try {
      result = change();
    } catch (error) {
      return failed(error);
    }
    const before = this.announcing.get(name);
    if (before === undefined && !isThenable(result)) return announce(result);
    const pending = result;
    const next = (before ?? Promise.resolve()).then(() => pending).then(announce, failed);
    this.announcing.set(name, next);
    void next.then(() => {
      if (this.announcing.get(name) === next) this.announcing.delete(name);
    });
  }

  // ---------------------------------------------------------------- protocol handlers

  private async onSubscribe(ctx: HandlerContext, name: string, request: z.output<typeof subscribeInput>): Promise<void> {
    const connection = ctx.connection;
    const kind = channelKind(name);
    const identity = connection.identity;
    let admitted: number = Admitted.public;
    if (kind !== 'public' && !this.subscriptionsOf.get(connection)?.has(name)) {
      if (kind === 'presence' && identity === undefined) {
        throw new MessageError(ErrorCode.unauthenticated, 'presence channels need an identity; authenticate first');
      }
      if (this.auth.grantsOfConnection(connection).allows('subscribe', name)) admitted = Admitted.grant;
      else {
        const answer = identity === undefined ? false : this.auth.askHook(identity, 'subscribe', name);
        const allowed = typeof answer === 'boolean' ? answer : await answer;
        if (connection.closed) return;
        // The identity may have changed while the hook decided; its answer was about the old one.
        if (!allowed || connection.identity !== identity) throw forbiddenError('subscribe', name);
        admitted = Admitted.hook;
      }
    }
    const subscriptions = this.subscriptionsOf.get(connection);
    if (subscriptions?.has(name)) {
      // Subscribed already: the same reply again (members included), nothing joins twice.
      const listed = kind === 'presence' ? this.core.presence.list(name) : undefined;
      return this.replySubscribed(ctx, name, request, isThenable(listed) ? await listed : listed);
    }
    if (subscriptions !== undefined && subscriptions.size >= this.options.maxPerConnection) {
      throw new MessageError(ErrorCode.limitExceeded, `at most ${this.options.maxPerConnection} channels per connection`, { limit: 'maxPerConnection' });
    }
    const existing = this.byTopic.get(channelTopic(name));
    if (existing !== undefined && existing.subscribers.size >= this.options.maxSubscribers) {
      throw new MessageError(ErrorCode.limitExceeded, `channel ${name} has ${this.options.maxSubscribers} subscribers, its limit`, { limit: 'maxSubscribers' });
    }
    // No channel here yet: this subscriber makes add() subscribe the node to its topic.
    const first = existing === undefined;
    const channel = this.add(connection, name, admitted);
    // The first subscriber here made this node subscribe the channel's topic: on a bus between nodes the reply
    // waits until that is in effect, so what another node publishes after it reaches this connection.
    // Bounded: while the bus is down (Redis away) the subscription goes on locally after a second.
    if (first && this.core.bus.settled !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.core.bus.settled(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
      clearTimeout(timer);
      if (connection.closed) return;
    }
    let members: Member[] | undefined;
    if (channel.presence && identity !== undefined) {
      const member = { connectionId: connection.id, node: this.core.node, identityId: identity.id, info: identity.info ?? {} };
      this.presenceChange(name, () => this.core.presence.add(name, member), connection.id);
      // Asked after the add, so the list includes this member.
      const listed = this.core.presence.list(name);
      members = isThenable(listed) ? await listed : listed;
      if (connection.closed) return;
    }
    const replied = this.replySubscribed(ctx, name, request, members);
    if (replied !== undefined) await replied;
  }

  /**
   * Replies to `$subscribe`, with the stream's position and what was missed (`since`) or the newest messages
   * (`last`) on a channel with history. The connection is already a subscriber, so a message published
   * after the history was read reaches it live, and one published before is in the reply: none is missed,
   * and the client drops the few a slow history might hand it twice (same offset).
   */
  private replySubscribed(ctx: HandlerContext, name: string, request: z.output<typeof subscribeInput>, members?: Member[]): Promise<void> | undefined {
    const reply: SubscribeReply = members !== undefined ? { channel: name, members } : { channel: name };
    if (!this.withHistory.matches(name)) {
      if (request.since !== undefined) {
        reply.recovered = false;
        this.recoveries.reset++;
      }
      ctx.reply(reply);
      return undefined;
    }
    const history = this.core.history;
    const limit = this.options.history.maxRecover;
    // More missed than maxRecover is not recovered either; `latest(0)` gives the current position for the reset.
    const since = (at: StreamPosition): MaybePromise<StreamPage | StreamReset> => {
      const page = history.since(name, at, { limit: limit + 1 });
      const judge = (result: StreamPage | StreamReset): MaybePromise<StreamPage | StreamReset> => {
        if (result.reset || result.publications.length <= limit) return result;
        const now = history.latest(name, 0);
        return isThenable(now) ? Promise.resolve(now).then((latest) => ({ reset: true, position: latest.position })) : { reset: true, position: now.position };
      };
      return isThenable(page) ? Promise.resolve(page).then(judge) : judge(page);
    };
    const read =
      request.since !== undefined
        ? since(request.since)
        : request.last !== undefined
          ? history.latest(name, Math.min(request.last, limit))
          : history.position(name);
    const answer = (result: StreamPage | StreamReset | StreamPosition): void => {
      if ('reset' in result) {
        if (result.reset) {
          // The current position: the client re-reads the state and goes on from there.
          reply.position = result.position;
          reply.recovered = false;
          this.recoveries.reset++;
        } else {
          reply.position = result.position;
          reply.publications = result.publications.map((publication) => {
            const stored = publication.data as Stored;
            const message: ChannelMessage = { channel: name, event: stored.event, data: stored.data, epoch: result.position.epoch, offset: publication.offset };
            if (stored.from !== undefined) message.from = stored.from;
            return message;
          });
          if (request.since !== undefined) {
            reply.recovered = true;
            this.recoveries.recovered++;
          }
          this.recoveries.replayed += reply.publications.length;
        }
      } else reply.position = result;
      ctx.reply(reply);
    };
    if (!isThenable(read)) {
      answer(read);
      return undefined;
    }
    return Promise.resolve(read as PromiseLike<StreamPage | StreamReset | StreamPosition>).then(answer);
  }

  private onUnsubscribe(connection: Connection, name: string): { channel: string } {
    const channel = this.subscriptionsOf.get(connection)?.has(name) ? this.byTopic.get(channelTopic(name)) : undefined;
    if (channel === undefined) throw new MessageError(ErrorCode.notSubscribed, `not subscribed to ${name}`);
    this.remove(connection, channel);
    return { channel: name };
  }

  private async onPublish(connection: Connection, name: string, payload: z.output<typeof publishInput>): Promise<Record<string, never> | undefined> {
    const answer = this.auth.allows(connection, 'publish', name);
    if (!(typeof answer === 'boolean' ? answer : await answer)) throw forbiddenError('publish', name);
    this.checkSize(payload.data);
    if (connection.closed) return undefined;
    // Answered once the message has its place in the stream: a publisher that waits for each reply (or
    // moves to another node after one) can rely on the order of what it published.
    const sent = this.send(name, payload.event, payload.data, connection.identity?.id, payload.exceptSelf === true ? connection.id : undefined);
    if (isThenable(sent)) await sent;
    return {};
  }

  private async onBroadcast(connection: Connection, payload: z.output<typeof broadcastInput>): Promise<Record<string, never> | undefined> {
    const answer = this.auth.allows(connection, 'broadcast', '');
    if (!(typeof answer === 'boolean' ? answer : await answer)) throw new MessageError(ErrorCode.forbidden, 'missing grant "broadcast"', { grant: 'broadcast' });
    this.checkSize(payload.data);
    if (connection.closed) return undefined;
    this.broadcastEvent(payload.event, payload.data, connection.identity?.id, payload.exceptSelf === true ? connection.id : undefined);
    return {};
  }

  private checkSize(data: unknown): void {
    if (jsonLength(data) > this.options.maxMessageBytes) {
      throw new MessageError(ErrorCode.limitExceeded, `data is larger than ${this.options.maxMessageBytes} bytes of JSON`, { limit: 'maxMessageBytes' });
    }
  }

  // ---------------------------------------------------------------- cleanup and live changes

  close(connection: Connection): void {
    const subscriptions = this.subscriptionsOf.get(connection);
    if (subscriptions === undefined) return;
    for (const name of subscriptions.keys()) {
      const channel = this.byTopic.get(channelTopic(name));
      if (channel !== undefined) this.remove(connection, channel);
    }
    this.subscriptionsOf.delete(connection);
  }

  /**
   * After the connection's grants or identity changed: drops, at once, every subscription it may no
   * longer have, telling it with `$unsubscribed`. Synchronous, so a publish right after a revoke no longer
   * reaches it.
   */
  accessChanged(connection: Connection, reason: string): void {
    const subscriptions = this.subscriptionsOf.get(connection);
    if (subscriptions === undefined || subscriptions.size === 0) return;
    const grants = this.auth.grantsOfConnection(connection);
    const identity = connection.identity;
    for (const [name, admitted] of subscriptions) {
      if (admitted === Admitted.public) continue;
      const kind = channelKind(name);
      const keep =
        !(kind === 'presence' && identity === undefined) &&
        (grants.allows('subscribe', name) || (admitted === Admitted.hook && identity !== undefined));
      if (keep) continue;
      const channel = this.byTopic.get(channelTopic(name));
      if (channel !== undefined) this.remove(connection, channel);
      else subscriptions.delete(name);
      const notice: Unsubscribed = { channel: name, reason, grant: grantFor('subscribe', name) };
      this.core.sendTo(connection, { type: SystemType.unsubscribed, data: notice });
    }
  }
}

function withPosition(message: ChannelMessage, position: StreamPosition): ChannelMessage {
  message.epoch = position.epoch;
  message.offset = position.offset;
  return message;
}

function forbiddenError(action: 'subscribe' | 'publish', name: string): MessageError {
  const grant = grantFor(action, name);
  return new MessageError(ErrorCode.forbidden, `missing grant "${grant}"`, { grant });
}
