// Channel names and kinds, shared by server and client.

/** Channel kinds, told apart by the name's prefix. */
export type ChannelKind = 'public' | 'private' | 'presence';

/** Channel event names: 1 to this many characters. */
export const MAX_EVENT_LENGTH = 128;

/** Channel names: 1 to 200 characters of letters, digits and `_-.:@=,;` (no spaces, no `*`). */
export const CHANNEL_NAME_PATTERN = /^[A-Za-z0-9_\-.:@=,;]{1,200}$/;

/**
 * The kind of a channel: `presence-…` channels are presence channels, `private-…` ones private,
 * everything else public.
 *
 * @example
 * channelKind('presence-lobby') // 'presence'
 */
export function channelKind(name: string): ChannelKind {
  if (name.startsWith('presence-')) return 'presence';
  if (name.startsWith('private-')) return 'private';
  return 'public';
}

/** A presence channel's member, as the other members see it: one entry per identity. */
export interface Member {
  id: string;
  info: Record<string, unknown>;
}

/**
 * The data of a `$message` push: an event published to a channel, or broadcast (`channel` null).
 *
 * @example
 * { "channel": "orders.eu", "event": "created", "data": { "id": 7 }, "from": "user-42" }
 */
export interface ChannelMessage<T = unknown> {
  channel: string | null;
  event: string;
  data: T;
  /** The publishing identity; absent when the server or a back-end system published. */
  from?: string;
  /**
   * On a channel with history: the epoch of its stream and this message's offset in it (1, 2, 3, … with no
   * gap). The epoch changes when the stream's history is lost (a restart of an in-memory history).
   */
  epoch?: string;
  offset?: number;
}

/** Where a reader is in a channel's stream: the epoch and the offset of the last message it has. */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/**
 * The payload of `$subscribe`: `since` asks for what was missed after a position (recovery after a
 * reconnect), `last` for the newest N messages (a late joiner). Both need a channel with history.
 */
export interface SubscribeRequest {
  channel: string;
  since?: StreamPosition;
  last?: number;
}

/** The reply to `$subscribe`. */
export interface SubscribeReply {
  channel: string;
  /** Presence channels: the members now. */
  members?: Member[];
  /** Channels with history: the stream's position now (after `publications`). */
  position?: StreamPosition;
  /**
   * With `since`: true when `publications` holds everything missed since then, exactly once and in order;
   * false when that is no longer held (too old, too many, or the epoch changed): re-read the state.
   */
  recovered?: boolean;
  /** The missed messages (`since`) or the newest ones (`last`), oldest first. */
  publications?: ChannelMessage[];
}

/** The data of a `$presence` push. */
export interface PresenceChange {
  channel: string;
  action: 'join' | 'leave';
  member: Member;
}

/** Why the server removed a connection from a channel (`$unsubscribed.reason`). */
export const UnsubscribeReason = {
  /** A grant the subscription needed was revoked. */
  grantRevoked: 'grant_revoked',
  /** The token expired and the connection was downgraded to anonymous. */
  tokenExpired: 'token_expired',
} as const;
export type UnsubscribeReason = (typeof UnsubscribeReason)[keyof typeof UnsubscribeReason];

/** The data of an `$unsubscribed` push. */
export interface Unsubscribed {
  channel: string;
  reason: UnsubscribeReason | (string & {});
  /** The grant that subscribing needs and the connection no longer has. */
  grant?: string;
}
