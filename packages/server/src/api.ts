// The server API plugs and applications call: broadcast, send, connections, manifest, channels, grants.
import type { Logger } from 'pino';
import type { ChannelKind, Member } from '@switchboard/protocol';
import type { Connection } from './connection/connection.ts';
import type { Manifest } from '@switchboard/protocol';
import type { ResourceHandle, ResourceInfo } from './resource/define.ts';
import type { RoomInfo } from './room/define.ts';

/** Who a broadcast skips. */
export interface BroadcastOptions {
  /** A connection (or its id) that must not receive the message: "to all but the sender". */
  except?: string | Connection;
}

/** Who a channel publish skips. */
export interface PublishOptions {
  /** A connection (or its id) that must not receive the message. */
  except?: string | Connection;
}

/** A channel as `channels()` and `GET /admin/channels` show it. */
export interface ChannelInfo {
  name: string;
  kind: ChannelKind;
  /** Connections of this node subscribed to it. */
  subscribers: number;
  /** Presence channels: distinct identities subscribed on this node. */
  members?: number;
}

/** Options of a runtime grant change. */
export interface GrantChangeOptions {
  /** The `reason` the affected clients see in `$grants` (default `grant_changed`). */
  reason?: string;
}

/**
 * Channels, as plugs and applications use them. See docs/channels.md.
 *
 * @example
 * ctx.server.publish('orders.eu', 'created', { id: 7 });
 */
export interface ChannelApi {
  /**
   * Publishes an event to every subscriber of a channel (on every node, through the bus), in order. Throws a
   * `MessageError` `rate_limited` when the channel keeps history and this node already holds
   * `channels.history.maxPending` messages waiting for the history's answer (docs/channels.md).
   */
  publish(channel: string, event: string, data?: unknown, options?: PublishOptions): void;
  /** The channels with subscribers on this node. */
  channels(): ChannelInfo[];
  /** The members of a presence channel, one per identity, on every node (from the presence store). */
  members(channel: string): Promise<Member[]>;
}

/**
 * Runtime grants and users: a change applies at once to every connection of that identity on this node.
 * See docs/auth.md.
 *
 * @example
 * server.revoke('user-42', ['subscribe:private-team-a'], { reason: 'left the team' });
 */
export interface GrantApi {
  /** Adds grants to an identity; returns its grants now. */
  grant(identityId: string, grants: string[], options?: GrantChangeOptions): string[];
  /** Removes grants from an identity (even ones its token or the default grants give); returns its grants now. */
  revoke(identityId: string, grants: string[], options?: GrantChangeOptions): string[];
  /** Replaces an identity's grants (the default grants still apply); returns its grants now. */
  setGrants(identityId: string, grants: string[], options?: GrantChangeOptions): string[];
  /** Drops every runtime change: the identity's grants come from its token again; returns its grants now. */
  resetGrants(identityId: string, options?: GrantChangeOptions): string[];
  /** An identity's effective grants (of its connections here, or what it would get). */
  grantsOf(identityId: string): string[];
  /** Closes every connection of the identity with 4004 and refuses its credentials until `enableUser`; returns how many closed. */
  disableUser(identityId: string, reason?: string): number;
  /** Accepts the identity again; false when it was not disabled. */
  enableUser(identityId: string): boolean;
}

/**
 * What plugs reach as `ctx.server` and applications as the server object.
 *
 * @example
 * ctx.server.broadcast('chat.message', { text }, { except: ctx.connection });
 */
export interface ServerApi extends ChannelApi, GrantApi {
  /** Sends a message to every connection (on every node, through the bus). */
  broadcast(type: string, data?: unknown, options?: BroadcastOptions): void;
  /**
   * Sends a message to one connection. On a single node: false when it is not (or no longer) here. With a
   * cluster bus, a connection not here is sent to through the bus, and the node that holds it delivers it
   * (true: handed to the cluster; nobody delivers it if the connection is gone).
   */
  send(connectionId: string, type: string, data?: unknown): boolean;
  connection(id: string): Connection | undefined;
  connections(): IterableIterator<Connection>;
  readonly connectionCount: number;
  /** What the server accepts now: every message type with its schemas and plug version. */
  manifest(): Manifest;
  /**
   * A resource by name, to read and write from application code (docs/live-data.md). Throws SB_BAD_ARGUMENT
   * when no plug declares it. `T` is the record type you expect.
   */
  resource<T = unknown>(name: string): ResourceHandle<T>;
  /** The resources served, with their record and subscriber counts. */
  resources(): ResourceInfo[];
  /** The room instances running on this server. */
  rooms(): RoomInfo[];
  /** Creates a room instance of a kind (a plug's `rooms`); rejects with MessageError (`unknown_room`, `limit_exceeded`, `invalid_payload`). */
  createRoom(kind: string, options?: unknown, id?: string): Promise<RoomInfo>;
  /** Ends a room instance (its members get `$room.closed` with reason `closed`); false when there is none. */
  closeRoom(id: string, message?: string): boolean;
  readonly log: Logger;
}

/** Events the server emits, for applications and tests. */
export interface ServerEvents {
  open: [connection: Connection];
  close: [connection: Connection, code: number, reason: string];
  /** A connection subscribed to a channel (emitted once per channel it joins, not for a repeated `$subscribe`). */
  subscribe: [connection: Connection, channel: string];
  /** A connection left a channel: unsubscribed, revoked, or closed (then before `close`). */
  unsubscribe: [connection: Connection, channel: string];
  /** A connection's identity or grants changed (`$auth`, expiry, a runtime grant change); `reason` as in `$grants`. */
  access: [connection: Connection, reason: string];
  'plug:loaded': [info: { name: string; version: string; file: string | undefined; previousVersion: string | undefined }];
  'plug:unloaded': [info: { name: string; version: string; file: string | undefined }];
  'plug:rejected': [info: { file: string | undefined; error: Error }];
}
