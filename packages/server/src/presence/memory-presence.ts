// The in-memory presence store: one process; the reference every other presence back end is tested against.
import type { Member, PresenceChange } from '@switchboard/protocol';
import type { PresenceMember, PresenceStore } from './presence-store.ts';

/** One channel: its connections, and per identity the ids of its connections in the order they were added. */
interface ChannelState {
  connections: Map<string, PresenceMember>;
  identities: Map<string, Set<string>>;
}

/**
 * Presence for a single process (or one node's replica, fed by the bus's presence messages). Every
 * method answers synchronously. Memory is bounded by the connections held: an empty channel is dropped.
 *
 * @example
 * const presence = new MemoryPresence();
 * presence.add('presence-lobby', { connectionId: 'c1', node: 'n1', identityId: 'user-42', info: {} });
 * presence.list('presence-lobby'); // [{ id: 'user-42', info: {} }]
 */
export class MemoryPresence implements PresenceStore {
  private readonly state = new Map<string, ChannelState>();

  add(channel: string, member: PresenceMember): PresenceChange[] {
    let state = this.state.get(channel);
    const previous = state?.connections.get(member.connectionId);
    if (state !== undefined && previous !== undefined) {
      if (previous.identityId === member.identityId) {
        state.connections.set(member.connectionId, { ...member, info: { ...member.info } });
        return [];
      }
      const diffs = this.remove(channel, member.connectionId);
      diffs.push(...this.add(channel, member));
      return diffs;
    }
    if (state === undefined) {
      state = { connections: new Map(), identities: new Map() };
      this.state.set(channel, state);
    }
    state.connections.set(member.connectionId, { ...member, info: { ...member.info } });
    const ids = state.identities.get(member.identityId);
    if (ids !== undefined) {
      ids.add(member.connectionId);
      return [];
    }
    state.identities.set(member.identityId, new Set([member.connectionId]));
    return [{ channel, action: 'join', member: { id: member.identityId, info: { ...member.info } } }];
  }

  remove(channel: string, connectionId: string): PresenceChange[] {
    const state = this.state.get(channel);
    const entry = state?.connections.get(connectionId);
    if (state === undefined || entry === undefined) return [];
    state.connections.delete(connectionId);
    if (state.connections.size === 0) this.state.delete(channel);
    const ids = state.identities.get(entry.identityId)!;
    ids.delete(connectionId);
    if (ids.size > 0) return [];
    state.identities.delete(entry.identityId);
    return [{ channel, action: 'leave', member: { id: entry.identityId, info: { ...entry.info } } }];
  }

  list(channel: string): Member[] {
    const state = this.state.get(channel);
    if (state === undefined) return [];
    const members: Member[] = [];
    for (const [id, ids] of state.identities) {
      const info: Record<string, unknown> = {};
      for (const connectionId of ids) Object.assign(info, state.connections.get(connectionId)!.info);
      members.push({ id, info });
    }
    return members;
  }

  /** O(connections held): a node dies rarely. */
  removeNode(node: string): PresenceChange[] {
    const diffs: PresenceChange[] = [];
    for (const [channel, state] of [...this.state]) {
      for (const member of [...state.connections.values()]) {
        if (member.node === node) diffs.push(...this.remove(channel, member.connectionId));
      }
    }
    return diffs;
  }

  channels(): string[] {
    return [...this.state.keys()];
  }

  async close(): Promise<void> {
    this.state.clear();
  }
}
