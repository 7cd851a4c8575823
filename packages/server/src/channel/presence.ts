// Presence: who is in a presence channel, one member per identity however many connections it has.
import type { Member } from '@switchboard/protocol';
import type { Identity } from '../identity.ts';
import type { Connection } from '../connection/connection.ts';

/**
 * The members of one presence channel on this node. A member joins with its identity's first connection
 * and leaves with its last; the connection remembers which member it is, so a leave still works after the
 * connection lost its identity (a downgrade on expiry).
 *
 * @example
 * const joined = presence.join(connection, identity); // the new member, or undefined if already there
 */
export class Presence {
  private readonly members = new Map<string, { member: Member; connections: number }>();
  private readonly memberOf = new Map<Connection, string>();

  /** Adds a connection; returns the member when its identity was not a member yet. */
  join(connection: Connection, identity: Identity): Member | undefined {
    this.memberOf.set(connection, identity.id);
    const entry = this.members.get(identity.id);
    if (entry !== undefined) {
      entry.connections++;
      return undefined;
    }
    const member: Member = { id: identity.id, info: identity.info ?? {} };
    this.members.set(identity.id, { member, connections: 1 });
    return member;
  }

  /** Removes a connection; returns the member when that was its identity's last connection here. */
  leave(connection: Connection): Member | undefined {
    const id = this.memberOf.get(connection);
    if (id === undefined) return undefined;
    this.memberOf.delete(connection);
    const entry = this.members.get(id)!;
    if (--entry.connections > 0) return undefined;
    this.members.delete(id);
    return entry.member;
  }

  list(): Member[] {
    return [...this.members.values()].map((entry) => entry.member);
  }

  get size(): number {
    return this.members.size;
  }
}
