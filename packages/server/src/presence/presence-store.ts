// The presence contract: the members of presence channels across the cluster, keyed by node.
import type { Member, PresenceChange } from '@switchboard/protocol';
import type { MaybePromise } from '../maybe-promise.ts';

/** One connection in a presence channel. */
export interface PresenceMember {
  connectionId: string;
  /** The node that holds the connection. */
  node: string;
  identityId: string;
  /** What the other members see of this connection (merged into its identity's `Member.info`). */
  info: Record<string, unknown>;
}

/**
 * Presence: the connections in each presence channel, seen as one `Member` per identity. An identity
 * joins with its first connection in a channel and leaves with its last; `add` and `remove` return
 * exactly those identity-level changes (the `$presence` pushes), so a second tab joins silently.
 *
 * Guarantees every implementation keeps (`test/presence-contract.ts`):
 * - `list` has one entry per identity; its `info` is the shallow merge of its connections' `info`, in the
 *   order they were added (a later connection's keys win). The order of the list is unspecified.
 * - A join's `member.info` is the first connection's info; a leave's is the last connection's.
 * - Adding a connection that is already in the channel replaces its entry: with the same identity that
 *   changes nothing others see (no diff); with another identity it is a remove then an add (the leave, if any, before the join).
 * - Removing what is not there returns no diffs; nothing throws on unknown channels or ids.
 * - `removeNode` removes every connection that node held, in every channel, and returns the leaves of the
 *   identities that had no connection left (one per identity per channel).
 * - A channel with no connections left is dropped: `channels()` lists only channels with members.
 * - Returned members are copies: changing them changes nothing stored.
 *
 * `MemoryPresence` is the reference implementation.
 *
 * @example
 * const diffs = await presence.add('presence-lobby', { connectionId, node, identityId: 'user-42', info: { name: 'Ada' } });
 * for (const change of diffs) push(change); // [{ channel, action: 'join', member: { id: 'user-42', info: { name: 'Ada' } } }]
 */
export interface PresenceStore {
  /** Adds a connection to a channel; returns the join of its identity if this is its first connection there. */
  add(channel: string, member: PresenceMember): MaybePromise<PresenceChange[]>;
  /** Removes a connection from a channel; returns the leave of its identity if that was its last connection there. */
  remove(channel: string, connectionId: string): MaybePromise<PresenceChange[]>;
  /** The channel's members, one per identity; empty for an unknown channel. */
  list(channel: string): MaybePromise<Member[]>;
  /** Removes everything `node` held (it died or restarted); returns the resulting leaves. */
  removeNode(node: string): MaybePromise<PresenceChange[]>;
  /** The channels that have at least one connection. */
  channels(): MaybePromise<string[]>;
  close(): Promise<void>;
}
