// The store contract: what persistence keeps — connections, audit records, runtime grants — and its schema migration.

/** A connection as it opened. Times are milliseconds since the Unix epoch. */
export interface ConnectionOpen {
  /** The connection id; unique in the store. */
  id: string;
  node: string;
  /** The process id of the node's process that held it. */
  pid: number;
  remoteAddress: string;
  /** The user (identity id); absent for an anonymous connection. */
  identityId?: string;
  userAgent: string;
  /** The protocol version spoken, e.g. `switchboard.v1`. */
  protocol: string;
  /** The codec's name, e.g. `json`. */
  codec: string;
  connectedAt: number;
}

/** How a connection ended, and its counters. */
export interface ConnectionClose {
  code: number;
  reason: string;
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  closedAt: number;
}

/** A stored connection: how it opened and, once it closed, how it ended. */
export interface ConnectionRecord extends ConnectionOpen {
  close?: ConnectionClose;
}

/** Which connections `connections` returns. Every given field must match. */
export interface ConnectionQuery {
  node?: string;
  identityId?: string;
  /** true: only open ones; false: only closed ones. */
  open?: boolean;
  /** Connected at or after (inclusive). */
  since?: number;
  /** Connected before (exclusive). */
  until?: number;
  /** At most this many, newest first. Default 100. */
  limit?: number;
}

/** An audit record to append: something that happened, and to whom. */
export interface AuditEntry {
  /** When it happened, in milliseconds since the Unix epoch. */
  at: number;
  /** What happened, e.g. `auth.failed`, `grants.revoked`, `channel.subscribe.refused`. */
  type: string;
  /** The node that recorded it. */
  node: string;
  identityId?: string;
  connectionId?: string;
  channel?: string;
  /** The room instance or the resource it concerns. */
  room?: string;
  resource?: string;
  /** The message type, for message records (`message.in`, `message.out`, …). */
  messageType?: string;
  /** Bytes of the message (its encoded frame). */
  size?: number;
  /** `ok`, or the error code it ended with. */
  outcome?: string;
  /** A fan-out is recorded once, with how many connections it reached. */
  recipients?: number;
  /** Details (the payload, unless redacted); must survive a JSON round trip. */
  data?: Record<string, unknown>;
  /**
   * The message as the JSON text that went over the wire, in place of `data.payload`: the recorder hands a
   * message over this way (already redacted) so that the message path never serialises a payload. A store
   * keeps the text as it is and gives the record it reads back `data.payload` and `data.id` from it
   * (`auditRecordOf`); the record itself has no `frame`.
   */
  frame?: string;
  /** A request (`message.in` with an id) is recorded once, with the reply it got. */
  reply?: AuditReply;
}

/** The reply a request got: when it went out, its size and outcome, its payload (or frame, as above). */
export interface AuditReply {
  /** When the reply was sent, in milliseconds since the Unix epoch. */
  at: number;
  /** Bytes of the reply's frame. */
  size: number;
  /** `ok`, or the error code the reply carries. */
  outcome: string;
  /** `payload`: the reply's data, or its error (unless redacted). */
  data?: Record<string, unknown>;
  /** The reply as the JSON text that went over the wire, in place of `data.payload` (see `AuditEntry.frame`). */
  frame?: string;
}

/** A stored audit record: the entry (its frames read into `data`) plus the id the store gave it (increasing in append order). */
export interface AuditRecord extends Omit<AuditEntry, 'frame' | 'reply'> {
  id: number;
  reply?: Omit<AuditReply, 'frame'>;
}

/**
 * The `data` of a record appended with a `frame`: its other details plus `payload` (the envelope's `data`, or
 * going out its `error`) and `id`, as a store returns them. A frame that does not parse adds nothing.
 *
 * @example
 * auditFrameData('message.in', '{"type":"chat.send","id":1,"data":{"text":"hi"}}'); // { payload: { text: 'hi' }, id: 1 }
 */
export function auditFrameData(type: string, frame: string, data?: Record<string, unknown>): Record<string, unknown> {
  let envelope: { id?: unknown; data?: unknown; error?: unknown } | null;
  try {
    envelope = JSON.parse(frame) as typeof envelope;
  } catch {
    return { ...data };
  }
  if (envelope === null || typeof envelope !== 'object') return { ...data };
  const payload = type === 'message.in' ? envelope.data : (envelope.error ?? envelope.data);
  const out: Record<string, unknown> = { ...data };
  if (payload !== undefined) out.payload = payload;
  if (envelope.id !== undefined) out.id = envelope.id;
  return out;
}

/** The `data` of a reply appended with a `frame`: its other details plus `payload` (the reply's data or error). */
export function auditReplyData(frame: string, data?: Record<string, unknown>): Record<string, unknown> {
  // The request's record has the id; the reply's frame repeats it.
  const { id: _, ...out } = auditFrameData('message.out', frame, data);
  return out;
}

/**
 * A text value as a store keeps it: U+0000 becomes U+FFFD. PostgreSQL text cannot hold U+0000 (the write would
 * fail), and Node 22's node:sqlite ends a bound string at its first one (Node 24 keeps it), so a close reason or
 * a name with one would be cut short. JSON text (frames, details) never holds a raw U+0000: JSON escapes it.
 * (On its way to PostgreSQL a lone surrogate, not being UTF-8, becomes U+FFFD too.)
 *
 * @example
 * storedText('a\u0000b'); // 'a\uFFFDb'
 */
export function storedText(value: string): string;
export function storedText(value: string | undefined): string | null;
export function storedText(value: string | undefined): string | null {
  if (value === undefined) return null;
  return value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value;
}

/**
 * An appended entry as a store returns it, with the id the store gave it: its frames (its own, its reply's)
 * read into `data`, none left on the record.
 */
export function auditRecordOf(entry: AuditEntry, id: number): AuditRecord {
  const { frame, reply, ...record } = entry;
  const out: AuditRecord = { ...record, id };
  if (frame !== undefined) out.data = auditFrameData(entry.type, frame, entry.data);
  if (reply !== undefined) {
    const { frame: replyFrame, ...rest } = reply;
    out.reply = replyFrame === undefined ? rest : { ...rest, data: auditReplyData(replyFrame, rest.data) };
  }
  return out;
}

/** Which audit records `audit` returns. Every given field must match. */
export interface AuditQuery {
  identityId?: string;
  connectionId?: string;
  type?: string;
  channel?: string;
  room?: string;
  resource?: string;
  messageType?: string;
  /** At or after (inclusive). */
  since?: number;
  /** Before (exclusive). */
  until?: number;
  /** At most this many, newest first. Default 100. */
  limit?: number;
}

/** The runtime grant layer of one identity (see `GrantApi`), as persisted. */
export interface GrantRecord {
  identityId: string;
  /** Replaces the token's grants when not null (`setGrants`); `[]` means "none", unlike null. */
  set: string[] | null;
  /** Added with `grant`. */
  added: string[];
  /** Removed with `revoke`. */
  removed: string[];
  updatedAt: number;
}

/** A user refused until enabled again (`disableUser`). */
export interface DisabledUser {
  identityId: string;
  reason: string;
  disabledAt: number;
}

/** Everything grant-related a node loads when it starts. */
export interface GrantSnapshot {
  grants: GrantRecord[];
  disabled: DisabledUser[];
}

/** The default `limit` of store queries. */
export const STORE_QUERY_LIMIT = 100;

/**
 * The store: what Switchboard persists. Every method is asynchronous (real back ends are).
 *
 * Guarantees every implementation keeps (`test/store-contract.ts`):
 * - `migrate()` brings the schema up to date; it is idempotent and keeps the data. Call it once before
 *   anything else. After `close()` (idempotent) every other method rejects.
 * - Records come back as they were written (field for field, arrays in order, absent fields absent), and
 *   are copies: changing a returned or a written object changes nothing stored.
 * - Connections: `connectionOpened` rejects an id that is already stored. `connectionClosed` records the
 *   close once: it returns false (and changes nothing) for an unknown or already closed id.
 *   `closeNode` closes every open connection of a node that died, returning how many.
 * - Queries match every given field, return newest first (by time, then by append order) and at most
 *   `limit` (default 100; anything but a positive integer rejects with a RangeError) records; ranges are `since` inclusive, `until` exclusive.
 * - Retention: `deleteAuditBefore(time)` and `deleteClosedConnections(time)` delete what is older than
 *   `time` (audit: `at < time`; connections: closed with `closedAt < time`) and return how many.
 * - Grants: `saveGrants` replaces an identity's record; `disableUser` replaces its reason; `loadGrants`
 *   returns every record and disabled user.
 *
 * `MemoryStore` is the reference implementation.
 *
 * @example
 * await store.migrate();
 * await store.connectionOpened({ id, node, pid: process.pid, remoteAddress, userAgent, protocol: 'switchboard.v1', codec: 'json', connectedAt: Date.now() });
 * await store.appendAudit([{ at: Date.now(), type: 'auth.failed', node, connectionId: id }]);
 */
export interface Store {
  /** Creates or upgrades the schema. */
  migrate(): Promise<void>;

  connectionOpened(connection: ConnectionOpen): Promise<void>;
  /** Records how a connection ended; false if it is unknown or already closed. */
  connectionClosed(id: string, close: ConnectionClose): Promise<boolean>;
  /** Closes every connection of `node` that is still open (the node died or restarted); returns how many. */
  closeNode(node: string, close: ConnectionClose): Promise<number>;
  connection(id: string): Promise<ConnectionRecord | undefined>;
  connections(query?: ConnectionQuery): Promise<ConnectionRecord[]>;
  /** Deletes connections that closed before `time`; returns how many. Open ones are kept. */
  deleteClosedConnections(time: number): Promise<number>;

  /**
   * Appends audit records, all or none: rejects, storing nothing, when an entry has no `type` or its `at`
   * is not a finite number. An empty batch stores nothing but still reaches the database, and rejects when it
   * is unavailable: the recorder, without a spool, asks with one whether the store is back.
   */
  appendAudit(entries: readonly AuditEntry[]): Promise<void>;
  audit(query?: AuditQuery): Promise<AuditRecord[]>;
  /** Deletes audit records older than `time` (`at < time`); returns how many. */
  deleteAuditBefore(time: number): Promise<number>;

  /** Replaces the runtime grants of `record.identityId`. */
  saveGrants(record: GrantRecord): Promise<void>;
  /** Forgets an identity's runtime grants (`resetGrants`); false if it had none. */
  deleteGrants(identityId: string): Promise<boolean>;
  /** Disables a user, or replaces the reason of a disabled one. */
  disableUser(user: DisabledUser): Promise<void>;
  /** false if the user was not disabled. */
  enableUser(identityId: string): Promise<boolean>;
  /** Every runtime grant record and disabled user, for a node that starts. */
  loadGrants(): Promise<GrantSnapshot>;

  close(): Promise<void>;

  /**
   * How to open this same store in another thread: a module (URL) whose export `name` is a store class
   * taking `options`. The recorder then writes connection and audit records from a worker thread, so that
   * the database driver's work stays off the event loop. Absent (or undefined, as for an in-memory
   * database): the recorder writes on the main thread.
   */
  threaded?(): ThreadedStore | undefined;
}

/** What `Store.threaded()` returns: a store another thread can construct. */
export interface ThreadedStore {
  /** The module's URL (`import.meta.url` of the store's file). */
  module: string;
  /** The export: a class whose constructor takes `options`. */
  name: string;
  /** Structured-cloneable options. */
  options: unknown;
}
