// Where a resource's records live: in memory, in a SQLite table, or behind an application's own loader and writer.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { MaybePromise } from '../maybe-promise.ts';

/** A record as a source loads it: the value (its key is the resource's key field) and its version (default 1). */
export interface StoredRecord {
  value: unknown;
  version?: number;
}

/** A change a source must store: the record at `key` is now `value` (at `version`), or it is gone. */
export type SourceChange = { op: 'put'; key: string; value: unknown; version: number } | { op: 'delete'; key: string };

/**
 * The storage of one resource. The resource keeps its records in memory for snapshots and filters, loads
 * them from the source once (when the plug is installed) and writes every change through it before the
 * change is applied and delivered: a write the source refuses (throws) changes nothing and the client gets
 * `handler_error`. Writes to one resource are handed over one at a time, in order.
 *
 * @example
 * const source: ResourceSource = { id: 'api:orders', load: () => [], write: (resource, change) => api.save(change) };
 */
export interface ResourceSource {
  /**
   * Names the storage (`memory`, `sqlite:/data/app.db#orders`). A hot swap that brings a source with the same
   * id keeps the records held; another id reloads them from the new source (subscribers get a fresh snapshot).
   */
  readonly id: string;
  /** Every record with its version. Called once per resource, before it serves. */
  load(resource: string): MaybePromise<Iterable<StoredRecord>>;
  write(resource: string, change: SourceChange): MaybePromise<void>;
  close?(): MaybePromise<void>;
}

/**
 * Records in memory only: the default. They live as long as the server process (across hot swaps of the
 * plug); a restart starts from `initial`.
 *
 * @example
 * source: memorySource([{ id: 'welcome', text: 'Hello' }]) // with key: 'id'
 */
export function memorySource(initial: readonly unknown[] = []): ResourceSource {
  return {
    id: 'memory',
    load: () => initial.map((value) => ({ value })),
    write: () => undefined,
  };
}

/** Where `sqliteSource` keeps a resource. */
export interface SqliteSourceOptions {
  /** The database file (created with its folder when missing), or `:memory:`. */
  file: string;
  /** The table; default the resource name (characters other than letters, digits and `_` become `_`). */
  table?: string;
}

/**
 * Records in a SQLite table through `node:sqlite` (nothing to install): one row per record, `key`, `value`
 * (JSON) and `version`. Writes are synchronous and durable before the change is delivered.
 *
 * @example
 * source: sqliteSource({ file: './data/app.db' })
 */
export function sqliteSource(options: SqliteSourceOptions): ResourceSource {
  const file = options.file === ':memory:' ? ':memory:' : resolve(options.file);
  let db: DatabaseSync | undefined;
  const statements = new Map<string, { upsert: StatementSync; remove: StatementSync }>();
  const tableOf = (resource: string): string => (options.table ?? resource).replace(/[^A-Za-z0-9_]/g, '_');
  const open = async (): Promise<DatabaseSync> => {
    if (db) return db;
    // Imported on first use: node:sqlite prints an experimental warning on Node 22, which servers without a SQLite resource never see.
    const { DatabaseSync } = await import('node:sqlite');
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    db = new DatabaseSync(file);
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    return db;
  };
  return {
    id: `sqlite:${file}#${options.table ?? '*'}`,
    async load(resource) {
      const database = await open();
      const table = tableOf(resource);
      database.exec(`CREATE TABLE IF NOT EXISTS "${table}" (key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL)`);
      statements.set(resource, {
        upsert: database.prepare(`INSERT INTO "${table}" (key, value, version) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = excluded.version`),
        remove: database.prepare(`DELETE FROM "${table}" WHERE key = ?`),
      });
      const rows = database.prepare(`SELECT key, value, version FROM "${table}" ORDER BY rowid`).all() as { key: string; value: string; version: number }[];
      return rows.map((row) => ({ value: JSON.parse(row.value) as unknown, version: Number(row.version) }));
    },
    write(resource, change) {
      const prepared = statements.get(resource);
      if (!prepared) throw new Error(`sqliteSource: resource ${resource} was not loaded`);
      if (change.op === 'put') prepared.upsert.run(change.key, JSON.stringify(change.value), change.version);
      else prepared.remove.run(change.key);
    },
    close() {
      db?.close();
      db = undefined;
      statements.clear();
    },
  };
}

/** An application's own storage, wrapped: an existing database, an HTTP API, legacy code. */
export interface LoaderSourceOptions<T> {
  /** Every record, when the resource starts. Versions start at 1. */
  load(): MaybePromise<Iterable<T>>;
  /** Stores a created or changed record; throwing refuses the write. */
  save?(record: T, key: string): MaybePromise<void>;
  /** Deletes a record; throwing refuses the write. */
  remove?(key: string): MaybePromise<void>;
  /** Names the storage for hot swaps (see `ResourceSource.id`); default `loader`. */
  id?: string;
}

/**
 * Wraps code that already reads and writes the data: `load` fills the resource at start, `save` and
 * `remove` carry every change back before it is delivered. Without `save`/`remove`, changes stay in memory.
 *
 * @example
 * source: loaderSource({
 *   load: () => legacy.query('SELECT * FROM orders'),
 *   save: (order) => legacy.upsertOrder(order),
 *   remove: (id) => legacy.deleteOrder(id),
 * })
 */
export function loaderSource<T = unknown>(options: LoaderSourceOptions<T>): ResourceSource {
  return {
    id: options.id ?? 'loader',
    async load() {
      return [...(await options.load())].map((value) => ({ value }));
    },
    write(_resource, change) {
      if (change.op === 'put') return options.save?.(change.value as T, change.key);
      return options.remove?.(change.key);
    },
  };
}
