// Channels: subscribe, unsubscribe, publish and broadcast, delivered through the bus; presence; live revocation.
import {
  CHANNEL_NAME_PATTERN,
  channelKind,
  ErrorCode,
  SystemType,
  type ChannelKind,
  type ChannelMessage,
  type Envelope,
  type Member,
  type PresenceChange,
  type Unsubscribed,
} from '@switchboard/protocol';
import type { ChannelApi, ChannelInfo, PublishOptions } from '../api.ts';
import type { Auth } from '../auth/auth.ts';
import { BROADCAST_TOPIC, channelTopic, type BusMessage } from '../bus/bus.ts';
import type { Connection } from '../connection.ts';
import type { Core } from '../core.ts';
import { DevErrorCode, SwitchboardError } from '../errors.ts';
import { grantFor } from '../grants/grant-set.ts';
import type { ResolvedChannelOptions } from './options.ts';
import { Presence } from './presence.ts';

/** How a subscription was admitted, which decides whether a grant change can end it. */
const Admitted = {
  /** A public channel: no grant involved. */
  public: 0,
  /** A `subscribe:` grant: re-checked on every grant change. */
  grant: 1,
  /** The `authorize` hook: stands while the connection keeps its identity. */
  hook: 2,
} as const;

const MAX_EVENT_LENGTH = 128;

/** One channel with subscribers on this node. */
interface Channel {
  readonly name: string;
  readonly kind: ChannelKind;
  readonly topic: string;
  readonly subscribers: Set<Connection>;
  readonly presence: Presence | undefined;
}

/** What a channel message needs from a client's payload. */
interface Payload {
  channel?: unknown;
  event?: unknown;
  data?: unknown;
  exceptSelf?: unknown;
}

function payloadOf(envelope: Envelope): Payload {
  const data = envelope.data;
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Payload) : {};
}

function isChannelName(name: unknown): name is string {
  return typeof name === 'string' && CHANNEL_NAME_PATTERN.test(name);
}

function isEventName(event: unknown): event is string {
  return typeof event === 'string' && event.length > 0 && event.length <= MAX_EVENT_LENGTH;
}

/** JSON length of a payload; data that cannot be serialised counts as too big. */
function jsonLength(data: unknown): number {
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
export class Channels implements ChannelApi {
  readonly options: ResolvedChannelOptions;
  private readonly core: Core;
  private readonly auth: Auth;
  /** Channels with local subscribers, by bus topic. */
  private readonly byTopic = new Map<string, Channel>();

  constructor(core: Core, auth: Auth, options: ResolvedChannelOptions) {
    this.core = core;
    this.auth = auth;
    this.options = options;
  }

  /** Registers the `$subscribe`, `$unsubscribe`, `$publish` and `$broadcast` handlers and the listeners. */
  install(): void {
    const system = this.core.system;
    system.set(SystemType.subscribe, this.onSubscribe);
    system.set(SystemType.unsubscribe, this.onUnsubscribe);
    system.set(SystemType.publish, this.onPublish);
    system.set(SystemType.broadcast, this.onBroadcast);
    this.core.closeListeners.push(this.onClose);
    this.auth.onAccessChange = this.revalidate;
  }

  // ---------------------------------------------------------------- ChannelApi

  publish(channel: string, event: string, data?: unknown, options?: PublishOptions): void {
    if (!isChannelName(channel)) {
      throw new SwitchboardError(DevErrorCode.badArgument, `channel ${JSON.stringify(channel)} is not a valid name: 1 to 200 of A-Z a-z 0-9 _-.:@=,;`);
    }
    if (!isEventName(event)) throw new SwitchboardError(DevErrorCode.badArgument, `event must be a string of 1 to ${MAX_EVENT_LENGTH} characters`);
    const except = options?.except;
    this.send(channel, event, data, undefined, except === undefined ? undefined : typeof except === 'string' ? except : except.id);
  }

  channels(): ChannelInfo[] {
    return [...this.byTopic.values()].map((channel) => ({
      name: channel.name,
      kind: channel.kind,
      subscribers: channel.subscribers.size,
      ...(channel.presence ? { members: channel.presence.size } : {}),
    }));
  }

  members(channel: string): Member[] {
    return this.byTopic.get(channelTopic(channel))?.presence?.list() ?? [];
  }

  /** Publishes a `$message` on the channel's bus topic; every node delivers it to its subscribers. */
  send(channel: string, event: string, data: unknown, from: string | undefined, except: string | undefined): void {
    const message: ChannelMessage = { channel, event, data: data ?? null };
    if (from !== undefined) message.from = from;
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
      channel = { name, kind, topic, subscribers: new Set(), presence: kind === 'presence' ? new Presence() : undefined };
      this.byTopic.set(topic, channel);
      this.core.bus.subscribe(topic, this.onBusMessage);
    }
    channel.subscribers.add(connection);
    (connection.subscriptions ??= new Map()).set(name, admitted);
    return channel;
  }

  /** Removes a connection from a channel; a presence member that left is announced to the others. */
  private remove(connection: Connection, channel: Channel): void {
    channel.subscribers.delete(connection);
    connection.subscriptions?.delete(channel.name);
    const left = channel.presence?.leave(connection);
    if (left !== undefined) this.announce(channel, 'leave', left, undefined);
    if (channel.subscribers.size === 0) {
      this.byTopic.delete(channel.topic);
      this.core.bus.unsubscribe(channel.topic, this.onBusMessage);
    }
  }

  private announce(channel: Channel, action: PresenceChange['action'], member: Member, except: string | undefined): void {
    const change: PresenceChange = { channel: channel.name, action, member };
    const message: BusMessage = { topic: channel.topic, envelope: { type: SystemType.presence, data: change } };
    if (except !== undefined) message.except = except;
    this.core.bus.publish(message);
  }

  // ---------------------------------------------------------------- protocol handlers

  private readonly onSubscribe = async (connection: Connection, envelope: Envelope): Promise<void> => {
    const core = this.core;
    const name = payloadOf(envelope).channel;
    if (!isChannelName(name)) {
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.badChannel, 'channel must be 1 to 200 of A-Z a-z 0-9 _-.:@=,;');
    }
    const kind = channelKind(name);
    const identity = connection.identity;
    let admitted: number = Admitted.public;
    if (kind !== 'public' && !connection.subscriptions?.has(name)) {
      if (kind === 'presence' && identity === undefined) {
        return core.sendError(connection, envelope.type, envelope.id, ErrorCode.unauthenticated, 'presence channels need an identity; authenticate first');
      }
      if (this.auth.grantsOfConnection(connection).allows('subscribe', name)) admitted = Admitted.grant;
      else {
        const answer = identity === undefined ? false : this.auth.askHook(identity, 'subscribe', name);
        const allowed = typeof answer === 'boolean' ? answer : await answer;
        if (connection.closed) return;
        // The identity may have changed while the hook decided; its answer was about the old one.
        if (!allowed || connection.identity !== identity) {
          const grant = grantFor('subscribe', name);
          return core.sendError(connection, envelope.type, envelope.id, ErrorCode.forbidden, `missing grant "${grant}"`, { grant });
        }
        admitted = Admitted.hook;
      }
    }
    const subscriptions = connection.subscriptions;
    if (subscriptions?.has(name)) return this.replySubscribed(connection, envelope, name);
    if (subscriptions !== undefined && subscriptions.size >= this.options.maxPerConnection) {
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.limitExceeded, `at most ${this.options.maxPerConnection} channels per connection`, {
        limit: 'maxPerConnection',
      });
    }
    const existing = this.byTopic.get(channelTopic(name));
    if (existing !== undefined && existing.subscribers.size >= this.options.maxSubscribers) {
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.limitExceeded, `channel ${name} has ${this.options.maxSubscribers} subscribers, its limit`, {
        limit: 'maxSubscribers',
      });
    }
    const channel = this.add(connection, name, admitted);
    const joined = channel.presence && identity ? channel.presence.join(connection, identity) : undefined;
    this.replySubscribed(connection, envelope, name);
    if (joined !== undefined) this.announce(channel, 'join', joined, connection.id);
  };

  private replySubscribed(connection: Connection, envelope: Envelope, name: string): void {
    if (envelope.id === undefined) return;
    const presence = this.byTopic.get(channelTopic(name))?.presence;
    const data = presence ? { channel: name, members: presence.list() } : { channel: name };
    this.core.sendTo(connection, { type: envelope.type, id: envelope.id, data });
  }

  private readonly onUnsubscribe = (connection: Connection, envelope: Envelope): void => {
    const name = payloadOf(envelope).channel;
    if (!isChannelName(name)) {
      return this.core.sendError(connection, envelope.type, envelope.id, ErrorCode.badChannel, 'channel must be 1 to 200 of A-Z a-z 0-9 _-.:@=,;');
    }
    const channel = connection.subscriptions?.has(name) ? this.byTopic.get(channelTopic(name)) : undefined;
    if (channel === undefined) {
      return this.core.sendError(connection, envelope.type, envelope.id, ErrorCode.notSubscribed, `not subscribed to ${name}`);
    }
    this.remove(connection, channel);
    if (envelope.id !== undefined) this.core.sendTo(connection, { type: envelope.type, id: envelope.id, data: { channel: name } });
  };

  private readonly onPublish = async (connection: Connection, envelope: Envelope): Promise<void> => {
    const core = this.core;
    const payload = payloadOf(envelope);
    const name = payload.channel;
    if (!isChannelName(name)) {
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.badChannel, 'channel must be 1 to 200 of A-Z a-z 0-9 _-.:@=,;');
    }
    if (!isEventName(payload.event)) {
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.invalidPayload, 'invalid payload for "$publish"', {
        issues: [{ path: ['event'], message: `expected a string of 1 to ${MAX_EVENT_LENGTH} characters` }],
      });
    }
    const event = payload.event;
    const answer = this.auth.allows(connection, 'publish', name);
    if (!(typeof answer === 'boolean' ? answer : await answer)) {
      const grant = grantFor('publish', name);
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.forbidden, `missing grant "${grant}"`, { grant });
    }
    if (jsonLength(payload.data) > this.options.maxMessageBytes) {
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.limitExceeded, `data is larger than ${this.options.maxMessageBytes} bytes of JSON`, {
        limit: 'maxMessageBytes',
      });
    }
    if (connection.closed) return;
    this.send(name, event, payload.data, connection.identity?.id, payload.exceptSelf === true ? connection.id : undefined);
    if (envelope.id !== undefined) core.sendTo(connection, { type: envelope.type, id: envelope.id, data: {} });
  };

  private readonly onBroadcast = async (connection: Connection, envelope: Envelope): Promise<void> => {
    const core = this.core;
    const payload = payloadOf(envelope);
    if (!isEventName(payload.event)) {
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.invalidPayload, 'invalid payload for "$broadcast"', {
        issues: [{ path: ['event'], message: `expected a string of 1 to ${MAX_EVENT_LENGTH} characters` }],
      });
    }
    const event = payload.event;
    const answer = this.auth.allows(connection, 'broadcast', '');
    if (!(typeof answer === 'boolean' ? answer : await answer)) {
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.forbidden, 'missing grant "broadcast"', { grant: 'broadcast' });
    }
    if (jsonLength(payload.data) > this.options.maxMessageBytes) {
      return core.sendError(connection, envelope.type, envelope.id, ErrorCode.limitExceeded, `data is larger than ${this.options.maxMessageBytes} bytes of JSON`, {
        limit: 'maxMessageBytes',
      });
    }
    if (connection.closed) return;
    this.broadcastEvent(event, payload.data, connection.identity?.id, payload.exceptSelf === true ? connection.id : undefined);
    if (envelope.id !== undefined) core.sendTo(connection, { type: envelope.type, id: envelope.id, data: {} });
  };

  // ---------------------------------------------------------------- cleanup and live changes

  private readonly onClose = (connection: Connection): void => {
    const subscriptions = connection.subscriptions;
    if (subscriptions === undefined) return;
    for (const name of subscriptions.keys()) {
      const channel = this.byTopic.get(channelTopic(name));
      if (channel !== undefined) this.remove(connection, channel);
    }
    connection.subscriptions = undefined;
  };

  /**
   * After the connection's grants or identity changed: drops, at once, every subscription it may no
   * longer have, telling it with `$unsubscribed`. Synchronous, so a publish right after a revoke no longer
   * reaches it.
   */
  private readonly revalidate = (connection: Connection, reason: string): void => {
    const subscriptions = connection.subscriptions;
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
  };
}
