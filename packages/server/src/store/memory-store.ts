// The in-memory store: nothing survives the process; the reference every other store is tested against.
import {
  STORE_QUERY_LIMIT,
  auditRecordOf,
  type AuditEntry,
  type AuditQuery,
  type AuditRecord,
  type ConnectionClose,
  type ConnectionOpen,
  type ConnectionQuery,
  type ConnectionRecord,
  type DisabledUser,
  type GrantRecord,
  type GrantSnapshot,
  type Store,
} from './store.ts';

function checkLimit(limit: number | undefined): number {
  const value = limit ?? STORE_QUERY_LIMIT;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`limit must be a positive integer, got ${value}`);
  return value;
}

function inRange(time: number, since: number | undefined, until: number | undefined): boolean {
  return (since === undefined || time >= since) && (until === undefined || time < until);
}

/**
 * A store in memory, for tests and single-process servers that need no persistence. Memory grows with
 * what is written: use the retention methods.
 *
 * @example
 * const store = new MemoryStore();
 * await store.migrate();
 */
export class MemoryStore implements Store {
  /** In open order. */
  private readonly connectionRecords = new Map<string, ConnectionRecord>();
  /** In append order, so ids increase. */
  private auditRecords: AuditRecord[] = [];
  private nextAuditId = 1;
  private readonly grants = new Map<string, GrantRecord>();
  private readonly disabled = new Map<string, DisabledUser>();
  private closed = false;

  async migrate(): Promise<void> {
    this.check();
  }

  async connectionOpened(connection: ConnectionOpen): Promise<void> {
    this.check();
    if (this.connectionRecords.has(connection.id)) throw new Error(`connection ${connection.id} is already stored`);
    this.connectionRecords.set(connection.id, structuredClone(connection));
  }

  async connectionClosed(id: string, close: ConnectionClose): Promise<boolean> {
    this.check();
    const record = this.connectionRecords.get(id);
    if (record === undefined || record.close !== undefined) return false;
    record.close = structuredClone(close);
    return true;
  }

  async closeNode(node: string, close: ConnectionClose): Promise<number> {
    this.check();
    let closed = 0;
    for (const record of this.connectionRecords.values()) {
      if (record.node !== node || record.close !== undefined) continue;
      record.close = structuredClone(close);
      closed++;
    }
    return closed;
  }

  async connection(id: string): Promise<ConnectionRecord | undefined> {
    this.check();
    const record = this.connectionRecords.get(id);
    return record === undefined ? undefined : structuredClone(record);
  }

  async connections(query: ConnectionQuery = {}): Promise<ConnectionRecord[]> {
    this.check();
    const limit = checkLimit(query.limit);
    const matching = [...this.connectionRecords.values()].filter(
      (record) =>
        (query.node === undefined || record.node === query.node) &&
        (query.identityId === undefined || record.identityId === query.identityId) &&
        (query.open === undefined || query.open === (record.close === undefined)) &&
        inRange(record.connectedAt, query.since, query.until),
    );
    // Newest first; a stable sort of the reversed open order breaks ties by the later open first.
    matching.reverse().sort((a, b) => b.connectedAt - a.connectedAt);
    return matching.slice(0, limit).map((record) => structuredClone(record));
  }

  async deleteClosedConnections(time: number): Promise<number> {
    this.check();
    let deleted = 0;
    for (const [id, record] of this.connectionRecords) {
      if (record.close !== undefined && record.close.closedAt < time) {
        this.connectionRecords.delete(id);
        deleted++;
      }
    }
    return deleted;
  }

  async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    this.check();
    for (const entry of entries) {
      if (typeof entry.type !== 'string' || entry.type.length === 0) throw new TypeError('an audit entry needs a non-empty type');
      if (!Number.isFinite(entry.at)) throw new TypeError(`an audit entry's "at" must be a finite number, got ${entry.at}`);
    }
    for (const entry of entries) this.auditRecords.push(auditRecordOf(structuredClone(entry), this.nextAuditId++));
  }

  async audit(query: AuditQuery = {}): Promise<AuditRecord[]> {
    this.check();
    const limit = checkLimit(query.limit);
    const matching = this.auditRecords.filter(
      (record) =>
        (query.identityId === undefined || record.identityId === query.identityId) &&
        (query.connectionId === undefined || record.connectionId === query.connectionId) &&
        (query.type === undefined || record.type === query.type) &&
        (query.channel === undefined || record.channel === query.channel) &&
        (query.room === undefined || record.room === query.room) &&
        (query.resource === undefined || record.resource === query.resource) &&
        (query.messageType === undefined || record.messageType === query.messageType) &&
        inRange(record.at, query.since, query.until),
    );
    matching.sort((a, b) => b.at - a.at || b.id - a.id);
    return matching.slice(0, limit).map((record) => structuredClone(record));
  }

  async deleteAuditBefore(time: number): Promise<number> {
    this.check();
    const before = this.auditRecords.length;
    this.auditRecords = this.auditRecords.filter((record) => record.at >= time);
    return before - this.auditRecords.length;
  }

  async saveGrants(record: GrantRecord): Promise<void> {
    this.check();
    this.grants.set(record.identityId, structuredClone(record));
  }

  async deleteGrants(identityId: string): Promise<boolean> {
    this.check();
    return this.grants.delete(identityId);
  }

  async disableUser(user: DisabledUser): Promise<void> {
    this.check();
    this.disabled.set(user.identityId, structuredClone(user));
  }

  async enableUser(identityId: string): Promise<boolean> {
    this.check();
    return this.disabled.delete(identityId);
  }

  async loadGrants(): Promise<GrantSnapshot> {
    this.check();
    return structuredClone({ grants: [...this.grants.values()], disabled: [...this.disabled.values()] });
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new Error('the store is closed');
  }
}
