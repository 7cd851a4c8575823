// The embedded store: SQLite through node:sqlite (nothing to install), one file under the app's data folder,
// schema migrations versioned in the file itself.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import {
  STORE_QUERY_LIMIT,
  auditRecordOf,
  storedText,
  type AuditEntry,
  type AuditQuery,
  type AuditRecord,
  type AuditReply,
  type ConnectionClose,
  type ConnectionOpen,
  type ConnectionQuery,
  type ConnectionRecord,
  type DisabledUser,
  type GrantRecord,
  type GrantSnapshot,
  type Store,
  type ThreadedStore,
} from './store.ts';

/**
 * The schema, one migration per version, applied in order inside a transaction; `PRAGMA user_version` holds
 * the version reached. Never edit a migration that shipped: add the next one.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE connections (
     id TEXT PRIMARY KEY, node TEXT NOT NULL, pid INTEGER NOT NULL, remote_address TEXT NOT NULL, identity_id TEXT,
     user_agent TEXT NOT NULL, protocol TEXT NOT NULL, codec TEXT NOT NULL, connected_at REAL NOT NULL, seq INTEGER NOT NULL,
     close_code INTEGER, close_reason TEXT, bytes_in INTEGER, bytes_out INTEGER, messages_in INTEGER, messages_out INTEGER, closed_at REAL);
   CREATE INDEX connections_by_time ON connections (connected_at DESC, seq DESC);
   CREATE INDEX connections_by_identity ON connections (identity_id, connected_at DESC);
   CREATE INDEX connections_open_by_node ON connections (node) WHERE closed_at IS NULL;
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, type TEXT NOT NULL, node TEXT NOT NULL, identity_id TEXT,
     connection_id TEXT, channel TEXT, room TEXT, resource TEXT, message_type TEXT, size INTEGER, outcome TEXT, recipients INTEGER, data TEXT);
   CREATE INDEX audit_by_time ON audit (at DESC, id DESC);
   CREATE INDEX audit_by_identity ON audit (identity_id, at DESC);
   CREATE INDEX audit_by_connection ON audit (connection_id, at DESC);
   CREATE INDEX audit_by_type ON audit (type, at DESC);
   CREATE TABLE grants (identity_id TEXT PRIMARY KEY, grant_set TEXT, added TEXT NOT NULL, removed TEXT NOT NULL, updated_at REAL NOT NULL);
   CREATE TABLE disabled_users (identity_id TEXT PRIMARY KEY, reason TEXT NOT NULL, disabled_at REAL NOT NULL);`,
  // 2: an index is a B-tree insert per audit row, and the ones keyed by connection and type cost three times
  // the row itself (docs/performance.md, finding 8). Queries by connection are bounded by its lifetime from
  // `connections` and walk the time index; by type, the time index with a filter. Identities keep theirs,
  // for identified rows only.
  `DROP INDEX audit_by_connection;
   DROP INDEX audit_by_type;
   DROP INDEX audit_by_identity;
   CREATE INDEX audit_by_identity ON audit (identity_id, at DESC) WHERE identity_id IS NOT NULL;`,
  // 3: a message's record keeps the JSON text it went over the wire as (AuditEntry.frame); its payload is read
  // from it when queried, so that nothing serialises a payload on the way in. A request is one row with its
  // reply (reply_…), not two (docs/performance.md, finding 8).
  `ALTER TABLE audit ADD COLUMN frame TEXT;
   ALTER TABLE audit ADD COLUMN reply_at REAL;
   ALTER TABLE audit ADD COLUMN reply_size INTEGER;
   ALTER TABLE audit ADD COLUMN reply_outcome TEXT;
   ALTER TABLE audit ADD COLUMN reply_data TEXT;
   ALTER TABLE audit ADD COLUMN reply_frame TEXT;`,
  // 4: the time indexes ascending. Records arrive in time order, so an ascending index takes each one at its
  // right-hand end, the insert SQLite makes cheapest; a descending one took each at its left-hand end, which
  // cost a fifth of a row's insert (docs/performance.md, finding 8). Newest-first queries walk it backwards.
  `DROP INDEX audit_by_time;
   DROP INDEX audit_by_identity;
   CREATE INDEX audit_by_time ON audit (at, id);
   CREATE INDEX audit_by_identity ON audit (identity_id, at, id) WHERE identity_id IS NOT NULL;`,
];

/** The schema version this code writes. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/** The audit table's columns, in the order `auditValues` gives their values. */
const AUDIT_COLUMNS = ['at', 'type', 'node', 'identity_id', 'connection_id', 'channel', 'room', 'resource', 'message_type', 'size', 'outcome', 'recipients', 'data', 'frame', 'reply_at', 'reply_size', 'reply_outcome', 'reply_data', 'reply_frame'] as const;
const AUDIT_WIDTH = AUDIT_COLUMNS.length;
/** Audit rows per INSERT statement at most. */
const AUDIT_ROWS_PER_INSERT = 32;
/** The columns a statement may spell out as a literal when all its rows share the value: few distinct ones. */
const LITERAL_COLUMNS = new Set<number>(['type', 'node', 'message_type', 'outcome', 'reply_outcome'].map((name) => AUDIT_COLUMNS.indexOf(name as (typeof AUDIT_COLUMNS)[number])));
/** A value written into a statement's text as it is: a short name, nothing in it to quote or escape. */
const LITERAL = /^[\w.:$-]{1,64}$/;
/** Insert statements kept, by shape; the least recently used goes first. */
const AUDIT_SHAPES_KEPT = 64;

/**
 * The audit's INSERTs, up to `AUDIT_ROWS_PER_INSERT` rows each, with what all their rows share written into the
 * statement rather than bound: NULL for a column none of them has, and a literal for a short name they all
 * have (the record and message types, the node, the outcomes). Binding a value costs about as much as SQLite's
 * own work on several columns, and a round trip's record shares 12 of its 19 values with its neighbours:
 * measured, a row costs a fifth less this way. A statement is prepared per shape (rows, and each column's
 * NULL, literal or parameter) and the most recent `AUDIT_SHAPES_KEPT` are kept.
 */
class AuditInserts {
  private readonly statements = new Map<string, StatementSync>();
  private readonly db: DatabaseSync;
  /** The rows of one statement, `AUDIT_WIDTH` values each (`auditValues` fills it). */
  readonly values: SQLInputValue[] = new Array<SQLInputValue>(AUDIT_WIDTH * AUDIT_ROWS_PER_INSERT).fill(null);
  /** Bound values of a statement, by how many there are. */
  private readonly args: SQLInputValue[][] = [];
  /** The columns a statement binds (its '?' marks). */
  private readonly bound: number[] = [];
  private readonly marks: string[] = [];

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** Inserts the first `rows` rows of `values`. */
  insert(rows: number): void {
    const values = this.values;
    const marks = this.marks;
    const bound = this.bound;
    bound.length = 0;
    let key = String(rows);
    for (let column = 0; column < AUDIT_WIDTH; column++) {
      const first = values[column];
      let shared = true;
      for (let row = 1; row < rows && shared; row++) shared = values[row * AUDIT_WIDTH + column] === first;
      let mark = '?';
      if (shared && first === null) mark = 'NULL';
      else if (shared && typeof first === 'string' && LITERAL_COLUMNS.has(column) && LITERAL.test(first)) mark = `'${first}'`;
      marks[column] = mark;
      if (mark === '?') bound.push(column);
      key += `,${mark}`;
    }
    // An array per length, filled by index: one emptied and pushed into again for every statement cost more.
    const count = rows * bound.length;
    let args = this.args[count];
    if (args === undefined) this.args[count] = args = new Array<SQLInputValue>(count).fill(null);
    let next = 0;
    for (let row = 0; row < rows; row++) {
      const start = row * AUDIT_WIDTH;
      for (let k = 0; k < bound.length; k++) args[next++] = values[start + bound[k]!]!;
    }
    try {
      this.statement(key, rows, marks).run(...args);
    } finally {
      // Kept for the next statement of this length: not its frames (up to a message's size each).
      args.fill(null);
    }
  }

  private statement(key: string, rows: number, marks: readonly string[]): StatementSync {
    let statement = this.statements.get(key);
    if (statement !== undefined) {
      this.statements.delete(key);
      this.statements.set(key, statement);
      return statement;
    }
    const tuple = `(${marks.join(', ')})`;
    statement = this.db.prepare(`INSERT INTO audit (${AUDIT_COLUMNS.join(', ')}) VALUES ${Array.from({ length: rows }, () => tuple).join(', ')}`);
    this.statements.set(key, statement);
    if (this.statements.size > AUDIT_SHAPES_KEPT) this.statements.delete(this.statements.keys().next().value!);
    return statement;
  }
}

/**
 * An audit entry's column values (`AUDIT_COLUMNS`), written into `values` from `at` on. Written by index into an
 * array made once: pushing the 19 values (one variadic call per row into an array emptied per statement) cost
 * about as much as SQLite's insert of the row.
 */
function auditValues(entry: AuditEntry, values: SQLInputValue[], at: number): void {
  const reply = entry.reply;
  values[at] = entry.at;
  values[at + 1] = storedText(entry.type);
  values[at + 2] = storedText(entry.node);
  values[at + 3] = storedText(entry.identityId);
  values[at + 4] = storedText(entry.connectionId);
  values[at + 5] = storedText(entry.channel);
  values[at + 6] = storedText(entry.room);
  values[at + 7] = storedText(entry.resource);
  values[at + 8] = storedText(entry.messageType);
  values[at + 9] = entry.size ?? null;
  values[at + 10] = storedText(entry.outcome);
  values[at + 11] = entry.recipients ?? null;
  values[at + 12] = entry.data === undefined ? null : JSON.stringify(entry.data);
  values[at + 13] = entry.frame ?? null;
  if (reply === undefined) {
    for (let column = 14; column < AUDIT_WIDTH; column++) values[at + column] = null;
    return;
  }
  values[at + 14] = reply.at;
  values[at + 15] = reply.size ?? null;
  values[at + 16] = storedText(reply.outcome);
  values[at + 17] = reply.data === undefined ? null : JSON.stringify(reply.data);
  values[at + 18] = reply.frame ?? null;
}

function checkLimit(limit: number | undefined): number {
  const value = limit ?? STORE_QUERY_LIMIT;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`limit must be a positive integer, got ${value}`);
  return value;
}

type Row = Record<string, SQLInputValue>;

/** Adds `column = ?` for each given field to a WHERE clause. */
function where(fields: [column: string, value: string | undefined][], extra: string[] = []): { sql: string; params: SQLInputValue[] } {
  const clauses = [...extra];
  const params: SQLInputValue[] = [];
  for (const [column, value] of fields) {
    if (value === undefined) continue;
    clauses.push(`${column} = ?`);
    params.push(storedText(value));
  }
  return { sql: clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : '', params };
}

function range(column: string, since: number | undefined, until: number | undefined, clauses: string[], params: SQLInputValue[]): void {
  if (since !== undefined) {
    clauses.push(`${column} >= ?`);
    params.push(since);
  }
  if (until !== undefined) {
    clauses.push(`${column} < ?`);
    params.push(until);
  }
}

function connectionOf(row: Row): ConnectionRecord {
  const record: ConnectionRecord = {
    id: row.id as string,
    node: row.node as string,
    pid: Number(row.pid),
    remoteAddress: row.remote_address as string,
    userAgent: row.user_agent as string,
    protocol: row.protocol as string,
    codec: row.codec as string,
    connectedAt: Number(row.connected_at),
  };
  if (row.identity_id !== null) record.identityId = row.identity_id as string;
  if (row.closed_at !== null) {
    record.close = {
      code: Number(row.close_code),
      reason: row.close_reason as string,
      bytesIn: Number(row.bytes_in),
      bytesOut: Number(row.bytes_out),
      messagesIn: Number(row.messages_in),
      messagesOut: Number(row.messages_out),
      closedAt: Number(row.closed_at),
    };
  }
  // Fields in the order a ConnectionRecord has them, identityId after remoteAddress as written.
  return record;
}

function auditOf(row: Row): AuditRecord {
  const entry: AuditEntry = { at: Number(row.at), type: row.type as string, node: row.node as string };
  if (row.identity_id !== null) entry.identityId = row.identity_id as string;
  if (row.connection_id !== null) entry.connectionId = row.connection_id as string;
  if (row.channel !== null) entry.channel = row.channel as string;
  if (row.room !== null) entry.room = row.room as string;
  if (row.resource !== null) entry.resource = row.resource as string;
  if (row.message_type !== null) entry.messageType = row.message_type as string;
  if (row.size !== null) entry.size = Number(row.size);
  if (row.outcome !== null) entry.outcome = row.outcome as string;
  if (row.recipients !== null) entry.recipients = Number(row.recipients);
  if (row.data !== null) entry.data = JSON.parse(row.data as string) as Record<string, unknown>;
  if (row.frame !== null) entry.frame = row.frame as string;
  if (row.reply_at !== null) {
    const reply: AuditReply = { at: Number(row.reply_at), size: Number(row.reply_size), outcome: row.reply_outcome as string };
    if (row.reply_data !== null) reply.data = JSON.parse(row.reply_data as string) as Record<string, unknown>;
    if (row.reply_frame !== null) reply.frame = row.reply_frame as string;
    entry.reply = reply;
  }
  return auditRecordOf(entry, Number(row.id));
}

/** Where `SqliteStore` keeps its file. */
export interface SqliteStoreOptions {
  /** The database file (created with its folder), or `:memory:`. */
  file: string;
  /** How long a write waits for another process's lock before it fails, in ms. Default 5000. */
  busyTimeoutMs?: number;
}

/**
 * Puts the database in WAL mode. Switching takes an exclusive lock that SQLite tries once, without the busy
 * timeout (`pagerExclusiveLock`): while another process holds the file open for a moment (a cluster's workers
 * all opening a new file at start-up) the switch fails with "database is locked", or leaves the mode as it was.
 * So it is tried again, with a growing pause, until it takes or `busyTimeoutMs` has passed. An in-memory
 * database has no WAL (its mode stays `memory`).
 */
async function switchToWal(db: DatabaseSync, file: string, busyTimeoutMs: number): Promise<void> {
  const deadline = Date.now() + busyTimeoutMs;
  for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 50)) {
    let failure: unknown;
    try {
      const mode = String((db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: unknown }).journal_mode).toLowerCase();
      if (mode === 'wal' || file === ':memory:') return;
      failure = new Error(`${file} stayed in journal mode "${mode}": another process held it while it was switched to WAL`);
    } catch (error) {
      if (!/locked|busy/i.test((error as Error)?.message ?? '')) throw error;
      failure = error;
    }
    if (Date.now() >= deadline) throw failure;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/**
 * A store in one SQLite file: the embedded default of `switchboard dev` and `start` (`data/switchboard.db`).
 * Writes are synchronous inside `node:sqlite` but batched by the recorder, so the message path never waits
 * for them. WAL mode: readers (the admin API, `switchboard audit`) do not block the writer.
 *
 * @example
 * const store = new SqliteStore({ file: './data/switchboard.db' });
 * await store.migrate();
 */
export class SqliteStore implements Store {
  readonly file: string;
  private db: DatabaseSync | undefined;
  private closed = false;
  private seq = 0;
  private readonly statements = new Map<string, StatementSync>();
  private auditInserts: AuditInserts | undefined;
  private readonly busyTimeoutMs: number;

  constructor(options: SqliteStoreOptions) {
    this.file = options.file === ':memory:' ? ':memory:' : resolve(options.file);
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  }

  /** The recorder's writes go to a worker thread with its own connection to the file (not for `:memory:`). */
  threaded(): ThreadedStore | undefined {
    if (this.file === ':memory:') return undefined;
    return { module: import.meta.url, name: 'SqliteStore', options: { file: this.file, busyTimeoutMs: this.busyTimeoutMs } satisfies SqliteStoreOptions };
  }

  private async open(): Promise<DatabaseSync> {
    if (this.closed) throw new Error('the store is closed');
    if (this.db) return this.db;
    // Imported on first use: node:sqlite prints an experimental warning on Node 22 that servers without a store never see.
    const { DatabaseSync } = await import('node:sqlite');
    if (this.file !== ':memory:') mkdirSync(dirname(this.file), { recursive: true });
    const db = new DatabaseSync(this.file);
    // busy_timeout first: cluster workers starting together open the same file at once, and every statement after
    // this waits for the others' locks instead of failing with "database is locked".
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(this.busyTimeoutMs))}`);
    try {
      await switchToWal(db, this.file, this.busyTimeoutMs);
    } catch (error) {
      db.close();
      throw error;
    }
    db.exec('PRAGMA synchronous = NORMAL');
    this.db = db;
    return db;
  }

  private statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db!.prepare(sql);
      if (this.statements.size < 200) this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs `body` on the open database, inside a transaction when `write`. */
  private async run<T>(body: (db: DatabaseSync) => T, write = false): Promise<T> {
    const db = await this.open();
    if (!write) return body(db);
    db.exec('BEGIN IMMEDIATE');
    try {
      const result = body(db);
      db.exec('COMMIT');
      return result;
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }

  async migrate(): Promise<void> {
    await this.run((db) => {
      const version = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
      if (version > MIGRATIONS.length) throw new Error(`${this.file} has schema version ${version}, newer than this Switchboard (${MIGRATIONS.length}); upgrade Switchboard`);
      for (let next = version; next < MIGRATIONS.length; next++) {
        db.exec(MIGRATIONS[next]!);
        db.exec(`PRAGMA user_version = ${next + 1}`);
      }
      const top = db.prepare('SELECT MAX(seq) AS seq FROM connections').get() as { seq: number | null };
      this.seq = Number(top.seq ?? 0);
    }, true);
  }

  async connectionOpened(connection: ConnectionOpen): Promise<void> {
    await this.run(() => {
      this.statement(
        'INSERT INTO connections (id, node, pid, remote_address, identity_id, user_agent, protocol, codec, connected_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        storedText(connection.id),
        storedText(connection.node),
        connection.pid,
        storedText(connection.remoteAddress),
        storedText(connection.identityId),
        storedText(connection.userAgent),
        storedText(connection.protocol),
        storedText(connection.codec),
        connection.connectedAt,
        ++this.seq,
      );
    });
  }

  private closeValues(close: ConnectionClose): SQLInputValue[] {
    return [close.code, storedText(close.reason), close.bytesIn, close.bytesOut, close.messagesIn, close.messagesOut, close.closedAt];
  }

  async connectionClosed(id: string, close: ConnectionClose): Promise<boolean> {
    return this.run(() => {
      const result = this.statement(
        'UPDATE connections SET close_code = ?, close_reason = ?, bytes_in = ?, bytes_out = ?, messages_in = ?, messages_out = ?, closed_at = ? WHERE id = ? AND closed_at IS NULL',
      ).run(...this.closeValues(close), storedText(id));
      return Number(result.changes) === 1;
    });
  }

  async closeNode(node: string, close: ConnectionClose): Promise<number> {
    return this.run(() => {
      const result = this.statement(
        'UPDATE connections SET close_code = ?, close_reason = ?, bytes_in = ?, bytes_out = ?, messages_in = ?, messages_out = ?, closed_at = ? WHERE node = ? AND closed_at IS NULL',
      ).run(...this.closeValues(close), storedText(node));
      return Number(result.changes);
    }, true);
  }

  async connection(id: string): Promise<ConnectionRecord | undefined> {
    return this.run(() => {
      const row = this.statement('SELECT * FROM connections WHERE id = ?').get(storedText(id)) as Row | undefined;
      return row === undefined ? undefined : connectionOf(row);
    });
  }

  async connections(query: ConnectionQuery = {}): Promise<ConnectionRecord[]> {
    const limit = checkLimit(query.limit);
    return this.run(() => {
      const extra: string[] = [];
      const { sql, params } = where([
        ['node', query.node],
        ['identity_id', query.identityId],
      ]);
      const clauses = sql === '' ? [] : [sql.slice(7)];
      if (query.open !== undefined) extra.push(query.open ? 'closed_at IS NULL' : 'closed_at IS NOT NULL');
      range('connected_at', query.since, query.until, extra, params);
      const all = [...clauses, ...extra];
      const text = `SELECT * FROM connections${all.length > 0 ? ` WHERE ${all.join(' AND ')}` : ''} ORDER BY connected_at DESC, seq DESC LIMIT ?`;
      return (this.statement(text).all(...params, limit) as Row[]).map(connectionOf);
    });
  }

  async deleteClosedConnections(time: number): Promise<number> {
    return this.run(() => Number(this.statement('DELETE FROM connections WHERE closed_at IS NOT NULL AND closed_at < ?').run(time).changes), true);
  }

  async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    for (const entry of entries) {
      if (typeof entry.type !== 'string' || entry.type.length === 0) throw new TypeError('an audit entry needs a non-empty type');
      if (!Number.isFinite(entry.at)) throw new TypeError(`an audit entry's "at" must be a finite number, got ${entry.at}`);
    }
    if (entries.length === 0) {
      await this.open();
      return;
    }
    await this.run((db) => {
      const inserts = (this.auditInserts ??= new AuditInserts(db));
      const values = inserts.values;
      try {
        for (let i = 0; i < entries.length; i += AUDIT_ROWS_PER_INSERT) {
          const rows = Math.min(AUDIT_ROWS_PER_INSERT, entries.length - i);
          // Every column of each row is written: what an earlier statement left in the array is never bound.
          for (let row = 0; row < rows; row++) auditValues(entries[i + row]!, values, row * AUDIT_WIDTH);
          inserts.insert(rows);
        }
      } finally {
        // Kept for the next batch: not this one's frames.
        values.fill(null);
      }
    }, true);
  }

  async audit(query: AuditQuery = {}): Promise<AuditRecord[]> {
    const limit = checkLimit(query.limit);
    return this.run(() => {
      const { sql, params } = where([
        ['identity_id', query.identityId],
        ['connection_id', query.connectionId],
        ['type', query.type],
        ['channel', query.channel],
        ['room', query.room],
        ['resource', query.resource],
        ['message_type', query.messageType],
      ]);
      const clauses = sql === '' ? [] : [sql.slice(7)];
      range('at', query.since, query.until, clauses, params);
      if (query.connectionId !== undefined) {
        // The connection's records lie within its lifetime (a second of slack either side): the time index
        // then walks only that stretch instead of the whole table.
        const lifetime = this.statement('SELECT connected_at, closed_at FROM connections WHERE id = ?').get(storedText(query.connectionId)) as Row | undefined;
        if (lifetime !== undefined) {
          clauses.push('at >= ?');
          params.push((lifetime.connected_at as number) - 1_000);
          if (lifetime.closed_at !== null) {
            clauses.push('at <= ?');
            params.push((lifetime.closed_at as number) + 1_000);
          }
        }
      }
      if (query.identityId !== undefined) clauses.push('identity_id IS NOT NULL'); // lets the partial index serve it
      const text = `SELECT * FROM audit${clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : ''} ORDER BY at DESC, id DESC LIMIT ?`;
      return (this.statement(text).all(...params, limit) as Row[]).map(auditOf);
    });
  }

  async deleteAuditBefore(time: number): Promise<number> {
    return this.run(() => Number(this.statement('DELETE FROM audit WHERE at < ?').run(time).changes), true);
  }

  async saveGrants(record: GrantRecord): Promise<void> {
    await this.run(() => {
      this.statement(
        'INSERT INTO grants (identity_id, grant_set, added, removed, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(identity_id) DO UPDATE SET grant_set = excluded.grant_set, added = excluded.added, removed = excluded.removed, updated_at = excluded.updated_at',
      ).run(storedText(record.identityId), record.set === null ? null : JSON.stringify(record.set), JSON.stringify(record.added), JSON.stringify(record.removed), record.updatedAt);
    });
  }

  async deleteGrants(identityId: string): Promise<boolean> {
    return this.run(() => Number(this.statement('DELETE FROM grants WHERE identity_id = ?').run(storedText(identityId)).changes) === 1);
  }

  async disableUser(user: DisabledUser): Promise<void> {
    await this.run(() => {
      this.statement(
        'INSERT INTO disabled_users (identity_id, reason, disabled_at) VALUES (?, ?, ?) ON CONFLICT(identity_id) DO UPDATE SET reason = excluded.reason, disabled_at = excluded.disabled_at',
      ).run(storedText(user.identityId), storedText(user.reason), user.disabledAt);
    });
  }

  async enableUser(identityId: string): Promise<boolean> {
    return this.run(() => Number(this.statement('DELETE FROM disabled_users WHERE identity_id = ?').run(storedText(identityId)).changes) === 1);
  }

  async loadGrants(): Promise<GrantSnapshot> {
    return this.run(() => {
      const grants = (this.statement('SELECT * FROM grants ORDER BY rowid').all() as Row[]).map((row) => ({
        identityId: row.identity_id as string,
        set: row.grant_set === null ? null : (JSON.parse(row.grant_set as string) as string[]),
        added: JSON.parse(row.added as string) as string[],
        removed: JSON.parse(row.removed as string) as string[],
        updatedAt: Number(row.updated_at),
      }));
      const disabled = (this.statement('SELECT * FROM disabled_users ORDER BY rowid').all() as Row[]).map((row) => ({
        identityId: row.identity_id as string,
        reason: row.reason as string,
        disabledAt: Number(row.disabled_at),
      }));
      return { grants, disabled };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    this.auditInserts = undefined;
    this.db?.close();
    this.db = undefined;
  }
}
