// The PostgreSQL store: connections, audit records and runtime grants in tables of one PostgreSQL database,
// shared by every node of a cluster, through the `postgres` driver (porsager/postgres). Schema migrations are
// versioned in the database itself and serialised across nodes by an advisory lock.
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import {
  STORE_QUERY_LIMIT,
  auditRecordOf,
  storedText as text,
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
} from '@switchboard/server/store';

/**
 * The schema, one migration per version, applied in order inside one transaction; the table
 * `switchboard_migrations` holds a row per version applied. Never edit a migration that shipped: add the next
 * one. Every table is prefixed `switchboard_`, so the store can share a database with the app's own tables.
 *
 * Times are milliseconds since the Unix epoch as `double precision` (exactly what a JavaScript number holds;
 * `to_timestamp(at / 1000)` reads one as a timestamp). Audit details are `json`, not `jsonb`: `json` keeps the
 * text as written, so a payload with `\u0000` (which `jsonb` refuses) is stored like any other.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE switchboard_connections (
     id text PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY, node text NOT NULL, pid integer NOT NULL,
     remote_address text NOT NULL, identity_id text, user_agent text NOT NULL, protocol text NOT NULL, codec text NOT NULL,
     connected_at double precision NOT NULL, close_code integer, close_reason text, bytes_in bigint, bytes_out bigint,
     messages_in bigint, messages_out bigint, closed_at double precision);
   CREATE INDEX switchboard_connections_by_time ON switchboard_connections (connected_at DESC, seq DESC);
   CREATE INDEX switchboard_connections_by_identity ON switchboard_connections (identity_id, connected_at DESC, seq DESC);
   CREATE INDEX switchboard_connections_by_node ON switchboard_connections (node, connected_at DESC, seq DESC);
   CREATE INDEX switchboard_connections_open_by_node ON switchboard_connections (node) WHERE closed_at IS NULL;
   CREATE INDEX switchboard_connections_by_close ON switchboard_connections (closed_at) WHERE closed_at IS NOT NULL;
   CREATE TABLE switchboard_audit (
     id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at double precision NOT NULL, type text NOT NULL, node text NOT NULL,
     identity_id text, connection_id text, channel text, room text, resource text, message_type text, size bigint,
     outcome text, recipients bigint, data json);
   CREATE INDEX switchboard_audit_by_time ON switchboard_audit (at DESC, id DESC);
   CREATE INDEX switchboard_audit_by_identity ON switchboard_audit (identity_id, at DESC, id DESC);
   CREATE INDEX switchboard_audit_by_connection ON switchboard_audit (connection_id, at DESC, id DESC);
   CREATE INDEX switchboard_audit_by_type ON switchboard_audit (type, at DESC, id DESC);
   CREATE TABLE switchboard_grants (
     identity_id text PRIMARY KEY, grant_set text[], added text[] NOT NULL, removed text[] NOT NULL, updated_at double precision NOT NULL);
   CREATE TABLE switchboard_disabled_users (identity_id text PRIMARY KEY, reason text NOT NULL, disabled_at double precision NOT NULL);`,
  // 2: every index is a B-tree insert per audit row; the ones keyed by connection and type cost more than the
  // row (docs/performance.md, finding 8). A query by connection is bounded by its lifetime from
  // switchboard_connections and walks the time index; by type, the time index with a filter. Identities keep
  // theirs, for identified rows only.
  `DROP INDEX switchboard_audit_by_connection;
   DROP INDEX switchboard_audit_by_type;
   DROP INDEX switchboard_audit_by_identity;
   CREATE INDEX switchboard_audit_by_identity ON switchboard_audit (identity_id, at DESC, id DESC) WHERE identity_id IS NOT NULL;`,
  // 3: a message's record keeps the JSON text it went over the wire as (AuditEntry.frame; text, not json, so
  // the server does not parse it on the way in); its payload is read from it when queried. A request is one
  // row with its reply (reply_…), not two.
  `ALTER TABLE switchboard_audit ADD COLUMN frame text, ADD COLUMN reply_at double precision, ADD COLUMN reply_size bigint,
     ADD COLUMN reply_outcome text, ADD COLUMN reply_data json, ADD COLUMN reply_frame text;`,
  // 4: the time indexes ascending. Records arrive in time order: an ascending index takes each at its
  // right-hand end, where a B-tree insert is cheapest (PostgreSQL caches that page), a descending one at its
  // left-hand end. Newest-first queries scan it backwards.
  `DROP INDEX switchboard_audit_by_time;
   DROP INDEX switchboard_audit_by_identity;
   CREATE INDEX switchboard_audit_by_time ON switchboard_audit (at, id);
   CREATE INDEX switchboard_audit_by_identity ON switchboard_audit (identity_id, at, id) WHERE identity_id IS NOT NULL;`,
];

/** The schema version this code writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * The advisory lock key `migrate()` holds for its transaction (`pg_advisory_xact_lock`), so that nodes
 * starting at once migrate one after the other. Take it yourself to hold migrations back.
 *
 * @example
 * await sql`SELECT pg_advisory_lock(${POSTGRES_MIGRATION_LOCK})`;
 */
export const POSTGRES_MIGRATION_LOCK = 0x7377_6264; // "swbd"

/**
 * The oldest PostgreSQL this store runs on, as `server_version_num` counts (10.0): its schema has identity
 * columns (`GENERATED ALWAYS AS IDENTITY`, PostgreSQL 10). Tested with 15; 13 and older are past their
 * community support.
 */
export const POSTGRES_MINIMUM_VERSION_NUM = 100_000;

/**
 * Why a server of this version cannot hold the store (undefined: it can). Checked before migrating: an older
 * server would refuse the migration with a syntax error that says nothing of versions.
 *
 * @example
 * unsupportedServer(90624, '9.6.24'); // 'runs PostgreSQL 9.6.24; Switchboard needs PostgreSQL 10 or newer …'
 */
export function unsupportedServer(versionNum: number, version: string): string | undefined {
  if (versionNum >= POSTGRES_MINIMUM_VERSION_NUM) return undefined;
  return `runs PostgreSQL ${version}; Switchboard needs PostgreSQL ${POSTGRES_MINIMUM_VERSION_NUM / 10_000} or newer (its tables use identity columns): upgrade the server`;
}

/** The SQLSTATE the migration raises when the database is newer than this code (a code of ours: class `SB`). */
const NEWER_SCHEMA = 'SBNEW';

/**
 * The whole migration as one statement, so one transaction, built from the constants above (no values): a
 * PL/pgSQL block that takes the advisory lock, creates the migrations table, refuses a newer schema and
 * applies each missing version with its row.
 *
 * One statement rather than BEGIN … COMMIT over several round trips: the driver crashes the process
 * (an uncaught TypeError in its write scheduler, porsager/postgres#1208) when the server dies while it holds a
 * transaction open, because it then writes ROLLBACK to the closed socket. So no method of this store keeps a
 * transaction open across round trips: each is a single statement, atomic by itself.
 */
const MIGRATE = `DO $migrate$
DECLARE reached integer;
BEGIN
  PERFORM pg_advisory_xact_lock(${POSTGRES_MIGRATION_LOCK});
  CREATE TABLE IF NOT EXISTS switchboard_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
  SELECT COALESCE(MAX(version), 0) INTO reached FROM switchboard_migrations;
  IF reached > ${MIGRATIONS.length} THEN
    RAISE EXCEPTION 'schema version % is newer than %', reached, ${MIGRATIONS.length} USING ERRCODE = '${NEWER_SCHEMA}', DETAIL = reached::text;
  END IF;
${MIGRATIONS.map((ddl, i) => `  IF reached < ${i + 1} THEN\n${ddl}\n  INSERT INTO switchboard_migrations (version) VALUES (${i + 1});\n  END IF;`).join('\n')}
END
$migrate$`;

/** How `PostgresStore` reaches its database. */
export interface PostgresStoreOptions {
  /**
   * A connection URL: `postgres://user:password@host:5432/database`. Query parameters go to the driver and the
   * server: `?sslmode=require`, `?search_path=switchboard` (the schema the tables live in), …
   */
  url: string;
  /** Connections in the pool, at most. Default 10. */
  poolSize?: number;
  /** How long connecting may take before the call that needed it rejects. Default 10,000 ms. */
  connectTimeoutMs?: number;
}

function checkLimit(limit: number | undefined): number {
  const value = limit ?? STORE_QUERY_LIMIT;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`limit must be a positive integer, got ${value}`);
  return value;
}

/** host:port/database of a URL, without the credentials, to name the database in messages. */
function describe(url: string): string {
  try {
    const parsed = new URL(url);
    return `PostgreSQL database ${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`;
  } catch {
    return 'the PostgreSQL database';
  }
}

/** The driver's reconnect delay (seconds) after `retries` failed attempts: at most 2 s, so a call during an outage fails fast. */
function backoff(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, 2);
}

interface ConnectionRow {
  id: string;
  node: string;
  pid: number;
  remote_address: string;
  identity_id: string | null;
  user_agent: string;
  protocol: string;
  codec: string;
  connected_at: number;
  close_code: number | null;
  close_reason: string | null;
  bytes_in: string | null;
  bytes_out: string | null;
  messages_in: string | null;
  messages_out: string | null;
  closed_at: number | null;
}

interface AuditRow {
  id: string;
  at: number;
  type: string;
  node: string;
  identity_id: string | null;
  connection_id: string | null;
  channel: string | null;
  room: string | null;
  resource: string | null;
  message_type: string | null;
  size: string | null;
  outcome: string | null;
  recipients: string | null;
  data: Record<string, unknown> | null;
  frame: string | null;
  reply_at: number | null;
  reply_size: string | null;
  reply_outcome: string | null;
  reply_data: Record<string, unknown> | null;
  reply_frame: string | null;
}

interface GrantRow {
  identity_id: string;
  grant_set: string[] | null;
  added: string[];
  removed: string[];
  updated_at: number;
}

interface DisabledRow {
  identity_id: string;
  reason: string;
  disabled_at: number;
}

function connectionOf(row: ConnectionRow): ConnectionRecord {
  const record: ConnectionRecord = {
    id: row.id,
    node: row.node,
    pid: row.pid,
    remoteAddress: row.remote_address,
    userAgent: row.user_agent,
    protocol: row.protocol,
    codec: row.codec,
    connectedAt: row.connected_at,
  };
  if (row.identity_id !== null) record.identityId = row.identity_id;
  if (row.closed_at !== null) {
    record.close = {
      code: Number(row.close_code),
      reason: row.close_reason ?? '',
      bytesIn: Number(row.bytes_in),
      bytesOut: Number(row.bytes_out),
      messagesIn: Number(row.messages_in),
      messagesOut: Number(row.messages_out),
      closedAt: row.closed_at,
    };
  }
  return record;
}

function auditOf(row: AuditRow): AuditRecord {
  const entry: AuditEntry = { at: row.at, type: row.type, node: row.node };
  if (row.identity_id !== null) entry.identityId = row.identity_id;
  if (row.connection_id !== null) entry.connectionId = row.connection_id;
  if (row.channel !== null) entry.channel = row.channel;
  if (row.room !== null) entry.room = row.room;
  if (row.resource !== null) entry.resource = row.resource;
  if (row.message_type !== null) entry.messageType = row.message_type;
  if (row.size !== null) entry.size = Number(row.size);
  if (row.outcome !== null) entry.outcome = row.outcome;
  if (row.recipients !== null) entry.recipients = Number(row.recipients);
  if (row.data !== null) entry.data = row.data;
  if (row.frame !== null) entry.frame = row.frame;
  if (row.reply_at !== null) {
    const reply: AuditReply = { at: row.reply_at, size: Number(row.reply_size), outcome: row.reply_outcome ?? '' };
    if (row.reply_data !== null) reply.data = row.reply_data;
    if (row.reply_frame !== null) reply.frame = row.reply_frame;
    entry.reply = reply;
  }
  return auditRecordOf(entry, Number(row.id));
}

/** The PostgreSQL error code of a driver error (`23505`: unique violation), if it is one. */
function sqlState(error: unknown): string | undefined {
  return error instanceof postgres.PostgresError ? error.code : undefined;
}

/** The audit table's columns: name, PostgreSQL type, and the entry's value (text through `text`, details serialised). */
const AUDIT_COLUMNS: readonly { name: string; type: string; value: (entry: AuditEntry) => string | number | null }[] = [
  { name: 'at', type: 'float8', value: (entry) => entry.at },
  { name: 'type', type: 'text', value: (entry) => text(entry.type) },
  { name: 'node', type: 'text', value: (entry) => text(entry.node) },
  { name: 'identity_id', type: 'text', value: (entry) => text(entry.identityId) },
  { name: 'connection_id', type: 'text', value: (entry) => text(entry.connectionId) },
  { name: 'channel', type: 'text', value: (entry) => text(entry.channel) },
  { name: 'room', type: 'text', value: (entry) => text(entry.room) },
  { name: 'resource', type: 'text', value: (entry) => text(entry.resource) },
  { name: 'message_type', type: 'text', value: (entry) => text(entry.messageType) },
  { name: 'size', type: 'int8', value: (entry) => entry.size ?? null },
  { name: 'outcome', type: 'text', value: (entry) => text(entry.outcome) },
  { name: 'recipients', type: 'int8', value: (entry) => entry.recipients ?? null },
  { name: 'data', type: 'json', value: (entry) => (entry.data === undefined ? null : JSON.stringify(entry.data)) },
  { name: 'frame', type: 'text', value: (entry) => text(entry.frame) },
  { name: 'reply_at', type: 'float8', value: (entry) => entry.reply?.at ?? null },
  { name: 'reply_size', type: 'int8', value: (entry) => entry.reply?.size ?? null },
  { name: 'reply_outcome', type: 'text', value: (entry) => text(entry.reply?.outcome) },
  { name: 'reply_data', type: 'json', value: (entry) => (entry.reply?.data === undefined ? null : JSON.stringify(entry.reply.data)) },
  { name: 'reply_frame', type: 'text', value: (entry) => text(entry.reply?.frame) },
];
const AUDIT_COLUMN_LIST = AUDIT_COLUMNS.map((column) => column.name).join(', ');

/**
 * One INSERT for a batch of audit entries: the columns whose values differ between the entries as one array
 * parameter each, taken apart by `unnest` (`at` always, so a batch of one has its row), a value they all share
 * as one parameter, and NULL when none has one. The arrays are the expensive part on both ends — the driver
 * escapes every element, PostgreSQL parses every element — and a round trip's records share 12 of their 19
 * values (their types, node and outcomes, the NULLs): measured alone, sending only what differs costs
 * PostgreSQL ~30% less per row. Rows are numbered in batch order (ORDER BY the ordinality), so ids follow it.
 * The details are serialised here, before any I/O: a batch that cannot be serialised fails whole. (One JSON
 * parameter for the whole batch, taken apart by json_array_elements, costs this thread less but PostgreSQL
 * more: measured, it fell behind.)
 */
function auditInsert(entries: readonly AuditEntry[]): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const arrays: string[] = [];
  const names: string[] = [];
  const select: string[] = [];
  for (const [index, column] of AUDIT_COLUMNS.entries()) {
    const values = entries.map(column.value);
    const first = values[0];
    if (index > 0 && values.every((value) => value === first)) {
      if (first === null) select.push(`NULL::${column.type}`);
      else {
        params.push(first);
        // json as text, cast here: a parameter PostgreSQL types as json the driver would serialise again.
        select.push(column.type === 'json' ? `$${params.length}::text::json` : `$${params.length}::${column.type}`);
      }
      continue;
    }
    params.push(values);
    arrays.push(`$${params.length}::${column.type === 'json' ? 'text' : column.type}[]`);
    names.push(column.name);
    select.push(column.type === 'json' ? `${column.name}::json` : column.name);
  }
  const text =
    `INSERT INTO switchboard_audit (${AUDIT_COLUMN_LIST}) SELECT ${select.join(', ')} ` +
    `FROM unnest(${arrays.join(', ')}) WITH ORDINALITY AS batch (${names.join(', ')}, n) ORDER BY n`;
  return { text, params };
}

/** How long `close()` lets running calls finish. */
const CLOSE_WAIT_MS = 5_000;

/**
 * A one-dimensional array as a PostgreSQL array literal, `{"a","b \\" c",1.5,NULL}`: strings quoted, numbers
 * and NULL not. By hand because the driver's own serialiser is only registered by its per-connection type query,
 * which this store turns off (see the constructor); the literal's grammar is PostgreSQL's (8.15.6, Array Input
 * and Output). A string is escaped only when it holds a backslash or a quote, with `replaceAll` (a regular
 * expression with a `$&` replacement per element cost the writer thread ~1 µs more per audit row: the frames
 * are JSON, full of quotes).
 */
function arrayLiteral(values: readonly (string | number | null)[]): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) literal += ',';
    if (value === null || value === undefined) literal += 'NULL';
    else if (typeof value === 'number') literal += value;
    else literal += '"' + (value.includes('"') || value.includes('\\') ? value.replaceAll('\\', '\\\\').replaceAll('"', '\\"') : value) + '"';
  }
  return literal + '}';
}

/**
 * The array types this store sends as parameters (text[], float8[] and int8[]: their OIDs are fixed in every
 * PostgreSQL), serialised by `arrayLiteral`. None is read back as an array: `loadGrants` reads its arrays as
 * JSON, so `parse` only hands back the literal.
 */
const ARRAYS = {
  arrays: { to: 1009, from: [1009, 1022, 1016], serialize: arrayLiteral, parse: (literal: string) => literal },
} satisfies Record<string, postgres.PostgresType>;

/**
 * A store in a PostgreSQL database, shared by every node of a cluster: `switchboard_*` tables, created and
 * upgraded by `migrate()`. Every value goes to the server as a query parameter, never as SQL text. The pool
 * connects on the first call and reconnects by itself after the server went away: calls made while it is
 * unreachable reject (within `connectTimeoutMs`), later ones work again.
 *
 * @example
 * import { PostgresStore } from '@switchboard/postgres';
 *
 * const store = new PostgresStore({ url: process.env.DATABASE_URL!, poolSize: 10 });
 * await store.migrate();
 * await store.appendAudit([{ at: Date.now(), type: 'auth.failed', node: 'n1' }]);
 * await store.close();
 */
export class PostgresStore implements Store {
  /** What the messages call the database: host, port and name, never the credentials. */
  readonly database: string;
  private readonly sql: postgres.Sql;
  private closing: Promise<void> | undefined;
  /** Calls of this store running now: what `close()` waits for. */
  private readonly running = new Set<Promise<unknown>>();
  private readonly options: PostgresStoreOptions;

  constructor(options: PostgresStoreOptions) {
    this.options = { ...options };
    const poolSize = options.poolSize ?? 10;
    if (!Number.isSafeInteger(poolSize) || poolSize < 1) throw new RangeError(`poolSize must be a positive integer, got ${poolSize}`);
    this.database = describe(options.url);
    this.sql = postgres(options.url, {
      max: poolSize,
      connect_timeout: (options.connectTimeoutMs ?? 10_000) / 1000,
      backoff,
      // CREATE TABLE IF NOT EXISTS and friends say NOTICE; a store has nothing to print.
      onnotice: () => {},
      connection: { application_name: 'switchboard' },
      // Not the driver's query for every array type on each new connection: when the server dies during that
      // query, its rejection is unhandled (porsager/postgres#1223), and an unhandled rejection ends a Node
      // process: a PostgreSQL restart while the pool warms up would take the Switchboard server down with it.
      // The arrays this store sends are its own (ARRAYS); it reads arrays as JSON (array_to_json).
      fetch_types: false,
      types: ARRAYS,
    });
  }

  /**
   * The recorder writes from a worker thread with a pool of its own (a few connections), so that building
   * each batch's statement stays off the event loop.
   */
  threaded(): ThreadedStore {
    return { module: import.meta.url, name: 'PostgresStore', options: { ...this.options, poolSize: Math.min(2, this.options.poolSize ?? 10) } satisfies PostgresStoreOptions };
  }

  /**
   * Runs one call of this store on the pool, counted while it runs (`close()` waits for these), or rejects
   * once the store is closed.
   */
  private async run<T>(call: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    if (this.closing) throw new Error('the store is closed');
    const running = call(this.sql);
    this.running.add(running);
    try {
      return await running;
    } finally {
      this.running.delete(running);
    }
  }

  async migrate(): Promise<void> {
    return this.run(async (sql) => {
      const [server] = await sql<{ num: number; version: string }[]>`
        SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS version`;
      const unsupported = unsupportedServer(server!.num, server!.version);
      if (unsupported !== undefined) throw new Error(`${this.database} ${unsupported}`);
      try {
        // A constant of this file (see MIGRATE): no values, nothing to parameterise.
        await sql.unsafe(MIGRATE);
      } catch (error) {
        if (sqlState(error) !== NEWER_SCHEMA) throw error;
        const version = (error as postgres.PostgresError).detail;
        throw new Error(`${this.database} has schema version ${version}, newer than this Switchboard (${MIGRATIONS.length}); upgrade Switchboard`, { cause: error });
      }
    });
  }

  async connectionOpened(connection: ConnectionOpen): Promise<void> {
    return this.run(async (sql) => {
      try {
        await sql`
          INSERT INTO switchboard_connections (id, node, pid, remote_address, identity_id, user_agent, protocol, codec, connected_at)
          VALUES (${text(connection.id)}, ${text(connection.node)}, ${connection.pid}, ${text(connection.remoteAddress)}, ${text(connection.identityId)},
                  ${text(connection.userAgent)}, ${text(connection.protocol)}, ${text(connection.codec)}, ${connection.connectedAt})`;
      } catch (error) {
        if (sqlState(error) === '23505') throw new Error(`connection ${connection.id} is already stored`, { cause: error });
        throw error;
      }
    });
  }

  async connectionClosed(id: string, close: ConnectionClose): Promise<boolean> {
    return this.run(async (sql) => {
      const result = await sql`
        UPDATE switchboard_connections SET close_code = ${close.code}, close_reason = ${text(close.reason)}, bytes_in = ${close.bytesIn},
          bytes_out = ${close.bytesOut}, messages_in = ${close.messagesIn}, messages_out = ${close.messagesOut}, closed_at = ${close.closedAt}
        WHERE id = ${text(id)} AND closed_at IS NULL`;
      return result.count === 1;
    });
  }

  async closeNode(node: string, close: ConnectionClose): Promise<number> {
    return this.run(async (sql) => {
      const result = await sql`
        UPDATE switchboard_connections SET close_code = ${close.code}, close_reason = ${text(close.reason)}, bytes_in = ${close.bytesIn},
          bytes_out = ${close.bytesOut}, messages_in = ${close.messagesIn}, messages_out = ${close.messagesOut}, closed_at = ${close.closedAt}
        WHERE node = ${text(node)} AND closed_at IS NULL`;
      return result.count;
    });
  }

  async connection(id: string): Promise<ConnectionRecord | undefined> {
    return this.run(async (sql) => {
      const [row] = await sql<ConnectionRow[]>`SELECT * FROM switchboard_connections WHERE id = ${text(id)}`;
      return row === undefined ? undefined : connectionOf(row);
    });
  }

  async connections(query: ConnectionQuery = {}): Promise<ConnectionRecord[]> {
    return this.run(async (sql) => {
      const limit = checkLimit(query.limit);
      // Each given field adds a parameterised fragment; absent ones add nothing.
      const rows = await sql<ConnectionRow[]>`
        SELECT * FROM switchboard_connections WHERE true
          ${query.node === undefined ? sql`` : sql`AND node = ${text(query.node)}`}
          ${query.identityId === undefined ? sql`` : sql`AND identity_id = ${text(query.identityId)}`}
          ${query.open === undefined ? sql`` : query.open ? sql`AND closed_at IS NULL` : sql`AND closed_at IS NOT NULL`}
          ${query.since === undefined ? sql`` : sql`AND connected_at >= ${query.since}`}
          ${query.until === undefined ? sql`` : sql`AND connected_at < ${query.until}`}
        ORDER BY connected_at DESC, seq DESC LIMIT ${limit}`;
      return rows.map(connectionOf);
    });
  }

  async deleteClosedConnections(time: number): Promise<number> {
    return this.run(async (sql) => {
      return (await sql`DELETE FROM switchboard_connections WHERE closed_at IS NOT NULL AND closed_at < ${time}`).count;
    });
  }

  async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    return this.run(async (sql) => {
      for (const entry of entries) {
        if (typeof entry.type !== 'string' || entry.type.length === 0) throw new TypeError('an audit entry needs a non-empty type');
        if (!Number.isFinite(entry.at)) throw new TypeError(`an audit entry's "at" must be a finite number, got ${entry.at}`);
      }
      // Nothing to write still asks the database: the recorder probes with an empty batch whether the store is back.
      if (entries.length === 0) {
        await sql`SELECT 1`;
        return;
      }
      const { text: statement, params } = auditInsert(entries);
      await sql.unsafe(statement, params as postgres.ParameterOrJSON<never>[], { prepare: true });
    });
  }

  async audit(query: AuditQuery = {}): Promise<AuditRecord[]> {
    return this.run(async (sql) => {
      const limit = checkLimit(query.limit);
      const equal = (column: string, value: string | undefined) => (value === undefined ? sql`` : sql`AND ${sql(column)} = ${text(value)}`);
      const rows = await sql<AuditRow[]>`
        SELECT * FROM switchboard_audit WHERE true
          ${equal('identity_id', query.identityId)}
          ${equal('connection_id', query.connectionId)}
          ${equal('type', query.type)}
          ${equal('channel', query.channel)}
          ${equal('room', query.room)}
          ${equal('resource', query.resource)}
          ${equal('message_type', query.messageType)}
          ${
            // Within the connection's lifetime (a second of slack either side), so the time index walks only that stretch.
            query.connectionId === undefined
              ? sql``
              : sql`AND at >= COALESCE((SELECT connected_at - 1000 FROM switchboard_connections WHERE id = ${text(query.connectionId)}), '-Infinity'::double precision)
                    AND at <= COALESCE((SELECT closed_at + 1000 FROM switchboard_connections WHERE id = ${text(query.connectionId)}), 'Infinity'::double precision)`
          }
          ${query.since === undefined ? sql`` : sql`AND at >= ${query.since}`}
          ${query.until === undefined ? sql`` : sql`AND at < ${query.until}`}
        ORDER BY at DESC, id DESC LIMIT ${limit}`;
      return rows.map(auditOf);
    });
  }

  async deleteAuditBefore(time: number): Promise<number> {
    return this.run(async (sql) => {
      return (await sql`DELETE FROM switchboard_audit WHERE at < ${time}`).count;
    });
  }

  async saveGrants(record: GrantRecord): Promise<void> {
    return this.run(async (sql) => {
      const list = (values: string[]) => values.map((value) => text(value));
      await sql`
        INSERT INTO switchboard_grants (identity_id, grant_set, added, removed, updated_at)
        VALUES (${text(record.identityId)}, ${record.set === null ? null : list(record.set)}, ${list(record.added)}, ${list(record.removed)}, ${record.updatedAt})
        ON CONFLICT (identity_id) DO UPDATE SET grant_set = EXCLUDED.grant_set, added = EXCLUDED.added, removed = EXCLUDED.removed, updated_at = EXCLUDED.updated_at`;
    });
  }

  async deleteGrants(identityId: string): Promise<boolean> {
    return this.run(async (sql) => {
      return (await sql`DELETE FROM switchboard_grants WHERE identity_id = ${text(identityId)}`).count === 1;
    });
  }

  async disableUser(user: DisabledUser): Promise<void> {
    return this.run(async (sql) => {
      await sql`
        INSERT INTO switchboard_disabled_users (identity_id, reason, disabled_at) VALUES (${text(user.identityId)}, ${text(user.reason)}, ${user.disabledAt})
        ON CONFLICT (identity_id) DO UPDATE SET reason = EXCLUDED.reason, disabled_at = EXCLUDED.disabled_at`;
    });
  }

  async enableUser(identityId: string): Promise<boolean> {
    return this.run(async (sql) => {
      return (await sql`DELETE FROM switchboard_disabled_users WHERE identity_id = ${text(identityId)}`).count === 1;
    });
  }

  async loadGrants(): Promise<GrantSnapshot> {
    return this.run(async (sql) => {
      // Both tables in one statement, so one snapshot: a change committed meanwhile is seen whole or not at all.
      const rows = await sql<(GrantRow & DisabledRow & { kind: 'grant' | 'disabled' })[]>`
        SELECT 'grant' AS kind, identity_id, array_to_json(grant_set) AS grant_set, array_to_json(added) AS added, array_to_json(removed) AS removed, updated_at, NULL::text AS reason, NULL::float8 AS disabled_at FROM switchboard_grants
        UNION ALL
        SELECT 'disabled', identity_id, NULL, NULL, NULL, NULL, reason, disabled_at FROM switchboard_disabled_users
        ORDER BY kind, identity_id`;
      const snapshot: GrantSnapshot = { grants: [], disabled: [] };
      for (const row of rows) {
        if (row.kind === 'grant') snapshot.grants.push({ identityId: row.identity_id, set: row.grant_set, added: row.added, removed: row.removed, updatedAt: row.updated_at });
        else snapshot.disabled.push({ identityId: row.identity_id, reason: row.reason, disabledAt: row.disabled_at });
      }
      return snapshot;
    });
  }

  /**
   * Lets running calls finish (5 s at most), then closes the pool's connections. The store counts its calls
   * itself rather than leaving the wait to the driver's `end({ timeout })`: the driver keeps a call that failed
   * on a connection the server reset as running (porsager/postgres#1130), so its `end` waited the whole timeout.
   */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.running.size > 0) await Promise.race([Promise.allSettled(this.running), sleep(CLOSE_WAIT_MS, undefined, { ref: false })]);
      // Nothing of this store's runs any more (or it ran out of time): the connections are ended at once.
      await this.sql.end({ timeout: 0 });
    })();
    await this.closing;
  }
}
