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
 * **Node liveness** (optional: `alive` and `sweep`, for stores shared by nodes that can die without
 * calling `removeNode`). A node is tracked once it has called `alive(node, ttlMs)`, and stays alive until
 * `ttlMs` after its latest call. `sweep()` removes every tracked node whose time ran out, as `removeNode`
 * would, and stops tracking it. A node that never called `alive`, or whose `removeNode` ran since, is not
 * tracked and never swept, so a store used without liveness keeps the plain contract. A node whose time ran
 * out but that calls `alive` before anyone sweeps is alive again. Once swept, a node's connections are gone
 * for good: calling `alive` again tracks it anew but brings nothing back.
 *
 * `MemoryPresence` is the reference implementation (it has no liveness: one process has no dead nodes).
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
  /** Removes everything `node` held (it died, restarted or shut down) and stops tracking its liveness; returns the resulting leaves. */
  removeNode(node: string): MaybePromise<PresenceChange[]>;
  /** The channels that have at least one connection. */
  channels(): MaybePromise<string[]>;
  /**
   * Node liveness: `node` is alive for `ttlMs` more (milliseconds from now, a positive number). The server
   * calls it for its own node every few seconds, well within `ttlMs` (a third of it, say), from before its
   * first `add` until it shuts down (then `removeNode`). The first call starts tracking the node: only
   * tracked nodes are swept. Optional: a store without it has no liveness, and dead nodes are removed only
   * by an explicit `removeNode`.
   */
  alive?(node: string, ttlMs: number): MaybePromise<void>;
  /**
   * Removes every tracked node whose liveness lapsed (`ttlMs` passed since its last `alive`) with all it
   * held, and returns the resulting leaves (as `removeNode` does) for the caller to announce. Any node may
   * call it, and several may at once: each dead node is claimed atomically by exactly one call, so each
   * leave is returned exactly once across all of them. Returns `[]` when no node lapsed.
   */
  sweep?(): MaybePromise<PresenceChange[]>;
  close(): Promise<void>;
}
