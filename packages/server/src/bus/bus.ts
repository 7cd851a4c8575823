// The bus contract: publish out, receive in. Fan-out and the cluster's control messages travel here.
import type { Envelope } from '@switchboard/protocol';
import type { PresenceMember } from '../presence/presence-store.ts';

/** Topic every node listens on: messages for every connection. */
export const BROADCAST_TOPIC = 'all';

/** The bus topic that carries a channel's messages. */
export function channelTopic(channel: string): string {
  return `channel:${channel}`;
}

/**
 * The topic of one node: direct sends to connections known to be on that node.
 *
 * @example
 * bus.subscribe(nodeTopic(myNode), onClusterMessage);
 */
export function nodeTopic(node: string): string {
  return `node:${node}`;
}

/** Direct sends whose connection's node is not known: every node listens and the holder delivers. */
export const DIRECT_TOPIC = 'direct';

/** Runtime grant changes and disabled users, for every node. */
export const GRANTS_TOPIC = 'grants';

/** Plug swap notices, for every node. */
export const PLUGS_TOPIC = 'plugs';

/** The topic that carries a presence channel's connection-level changes (not the `$presence` pushes). */
export function presenceTopic(channel: string): string {
  return `presence:${channel}`;
}

/** The kinds of cluster message. A message without `kind` is a publication. */
export const ClusterMessageKind = {
  /** An envelope for every local recipient of a topic (a broadcast or a channel message). */
  publication: 'publication',
  /** An envelope for one connection, on whichever node holds it. */
  direct: 'direct',
  /** A runtime grant change or a disabled/enabled user. */
  grants: 'grants',
  /** A connection joined or left a presence channel. */
  presence: 'presence',
  /** A plug was installed (or swapped) or removed on a node. */
  plug: 'plug',
} as const;
export type ClusterMessageKind = (typeof ClusterMessageKind)[keyof typeof ClusterMessageKind];

/**
 * One publication on the bus: an envelope for every local recipient of `topic`. The shape of every bus
 * message before cluster kinds existed; `kind` may be left out.
 *
 * @example
 * bus.publish({ topic: channelTopic('orders.eu'), envelope: { type: '$message', data }, except: sender.id });
 */
export interface BusMessage {
  kind?: typeof ClusterMessageKind.publication;
  topic: string;
  envelope: Envelope;
  /** A connection id that must not receive it (broadcast to all but the sender). */
  except?: string;
}

/** A publication (the same type as `BusMessage`). */
export type PublicationMessage = BusMessage;

/**
 * An envelope for one connection on any node: published to `nodeTopic(node)` when the node is known,
 * else to `DIRECT_TOPIC`. A node that does not hold the connection ignores it.
 *
 * @example
 * bus.publish({ kind: 'direct', topic: DIRECT_TOPIC, connectionId: 'k3x…', envelope: { type: 'note', data } });
 */
export interface DirectMessage {
  kind: typeof ClusterMessageKind.direct;
  topic: string;
  connectionId: string;
  envelope: Envelope;
}

/** A runtime grant change, as `GrantApi` makes them. */
export type GrantChange =
  | { op: 'grant'; grants: string[] }
  | { op: 'revoke'; grants: string[] }
  | { op: 'set'; grants: string[] }
  | { op: 'reset' }
  /** Several at once, applied in this order: reset, set, add, remove (what `POST /admin/grants` makes). */
  | { op: 'update'; reset?: boolean; set?: string[]; add?: string[]; remove?: string[] }
  | { op: 'disable'; reason: string }
  | { op: 'enable' };

/**
 * A grant change made on `node`, for every other node to apply to its connections of `identityId`.
 *
 * @example
 * bus.publish({ kind: 'grants', topic: GRANTS_TOPIC, node, identityId: 'user-42',
 *   change: { op: 'revoke', grants: ['subscribe:private-team-a'] }, reason: 'left the team' });
 */
export interface GrantsMessage {
  kind: typeof ClusterMessageKind.grants;
  topic: string;
  /** The node that made the change; it has applied it already and may skip its own echo. */
  node: string;
  identityId: string;
  change: GrantChange;
  /** The `reason` clients see in `$grants`. */
  reason?: string;
}

/**
 * A connection joined or left a presence channel on `node`. Nodes that keep a replica of presence apply
 * it (`add` / `remove`), which yields the identity-level join/leave their own subscribers are pushed.
 *
 * @example
 * bus.publish({ kind: 'presence', topic: presenceTopic('presence-lobby'), channel: 'presence-lobby',
 *   node, action: 'join', member: { connectionId, node, identityId: 'user-42', info: {} } });
 */
export interface PresenceMessage {
  kind: typeof ClusterMessageKind.presence;
  topic: string;
  channel: string;
  /** The node that holds the connection and published the change. */
  node: string;
  action: 'join' | 'leave';
  member: PresenceMember;
}

/**
 * A plug was installed (first load or swap) or removed on `node`; other nodes reload or drop it.
 *
 * @example
 * bus.publish({ kind: 'plug', topic: PLUGS_TOPIC, node, action: 'install', plug: 'chat', version: '1.2.0' });
 */
export interface PlugMessage {
  kind: typeof ClusterMessageKind.plug;
  topic: string;
  /** The node where the swap happened. */
  node: string;
  action: 'install' | 'remove';
  plug: string;
  /** The version installed, or the version removed. */
  version: string;
}

/** Every message the bus carries, told apart by `kind` (absent on a publication). */
export type ClusterMessage = BusMessage | DirectMessage | GrantsMessage | PresenceMessage | PlugMessage;

/**
 * Whether a message is a publication (`kind` absent or `'publication'`).
 *
 * @example
 * if (isPublication(message)) deliver(message.envelope, message.except);
 */
export function isPublication(message: ClusterMessage): message is BusMessage {
  return message.kind === undefined || message.kind === ClusterMessageKind.publication;
}

/**
 * Receives the publications of a publication topic (`BROADCAST_TOPIC`, `channelTopic(…)`), which carry
 * nothing else.
 */
export type BusListener = (message: BusMessage) => void;

/** Receives every kind: for the topics that carry cluster messages (node, direct, grants, presence, plugs). */
export type ClusterListener = (message: ClusterMessage) => void;

/**
 * A bus carries messages between the nodes of a cluster: publications for fan-out (every node delivers
 * them to its own connections, encoding each once per codec) and the typed cluster messages. Messages
 * published to one topic arrive in the order they were published, whatever their kinds, and arrive as
 * they were published (a JSON round trip at most: no `undefined` members).
 *
 * Publication topics carry only publications, so their listeners may be `BusListener`s; a listener of
 * any other topic takes `ClusterMessage` and switches on `kind`.
 *
 * The in-memory bus is the reference implementation; every bus must pass `test/bus-contract.ts`.
 */
export interface Bus {
  /**
   * A bus between nodes says here whether cross-node delivery works now (false while its link is down:
   * the health check answers 503). Absent on a bus that cannot fail (the in-memory one). A bus that is also
   * an EventEmitter of `down` / `up` has those logged by the server.
   */
  readonly connected?: boolean;
  /**
   * A bus between nodes: resolves once every subscribe and unsubscribe made so far is in effect across the
   * cluster (what other nodes publish from then on arrives). Absent on a bus whose subscriptions take effect
   * at once (the in-memory one).
   */
  settled?(): Promise<void>;
  publish(message: ClusterMessage): void;
  /**
   * Starts receiving a topic. Subscribing twice with one listener is a no-op. An inline listener is typed
   * as a `BusListener`; annotate its parameter as `ClusterMessage` on a topic that carries other kinds.
   */
  subscribe(topic: string, listener: BusListener): void;
  subscribe(topic: string, listener: ClusterListener): void;
  unsubscribe(topic: string, listener: BusListener): void;
  unsubscribe(topic: string, listener: ClusterListener): void;
  close(): Promise<void>;
}
