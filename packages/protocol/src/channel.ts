// Channel names and kinds, shared by server and client.

/** Channel kinds, told apart by the name's prefix. */
export type ChannelKind = 'public' | 'private' | 'presence';

/** Channel names: 1 to 200 characters of letters, digits and `_-.:@=,;` (no spaces, no `*`). */
/** Channel event names: 1 to this many characters. */
export const MAX_EVENT_LENGTH = 128;

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
