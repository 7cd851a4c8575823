// defineResource: how a plug declares live data — a record schema, its key, who may read and write, and where it lives.
import type { z } from 'zod';
import type { LiveQuery, LiveRecord, LiveWriteReply, PatchOperation, RecordKey, StreamPosition, Where } from '@switchboard/protocol';
import type { Connection } from '../connection/connection.ts';
import type { ResourceSource } from './source.ts';

/** Any zod schema. */
type Schema = z.ZodType;

/** A write a client asks for, as `authorizeWrite` sees it: the record before and after (undefined when absent). */
export interface WriteChange<T = unknown> {
  op: 'create' | 'put' | 'patch' | 'delete';
  key: RecordKey;
  before: T | undefined;
  after: T | undefined;
}

/** Who may do something with a resource: anyone (`public`), holders of the grant (`grant`), or no client (`none`: plugs and the admin API only). */
export type AccessRule = 'public' | 'grant' | 'none';

/**
 * A resource as a plug declares it. `T` is its record type. See docs/live-data.md.
 *
 * Reading needs the `read:<name>` grant and writing `write:<name>` (unless `access` says otherwise); `scope`
 * narrows both to the records a connection may see, and `authorizeWrite` decides on each client write.
 */
export interface ResourceDefinition<S extends Schema = Schema> {
  /** The schema of one record: an object schema. Writes are validated against it (a patch on its result). */
  schema: S;
  /** The record field that holds its key (a string or a number; sent on the wire as a string). */
  key: keyof z.output<S> & string;
  /** One line for the manifest. */
  description?: string;
  /** Where the records live: `memorySource()` (the default), `sqliteSource(...)` or `loaderSource(...)`. */
  source?: ResourceSource;
  /** Default `{ read: 'grant', write: 'grant' }`: `read:<name>` and `write:<name>` grants. */
  access?: { read?: AccessRule; write?: AccessRule };
  /**
   * The records a connection may see and write, as a filter (undefined: all). Applied on top of the filter
   * the client asks for; a write whose record is outside it (before or after) is refused with `forbidden`.
   *
   * @example
   * scope: (connection) => (connection.identity?.grants.includes('orders:all') ? undefined : { customer: connection.identity?.id ?? '' }),
   */
  scope?: (connection: Connection) => Where | undefined;
  /**
   * Decides on a client write once it is validated: true allows it; false or a string (the message) refuses it
   * with `forbidden`. Runs in write order for the resource; plug and admin writes skip it.
   */
  authorizeWrite?: (change: WriteChange<z.output<S>>, connection: Connection) => boolean | string | Promise<boolean | string>;
  /** Records it may hold; a create past this gets `limit_exceeded`. Default `resources.maxRecords` (100 000). */
  maxRecords?: number;
}

const RESOURCE_BRAND: unique symbol = Symbol.for('switchboard.resource');

/** A resource definition as returned by `defineResource`. */
export type Resource<S extends Schema = Schema> = ResourceDefinition<S> & { readonly [RESOURCE_BRAND]: true };

/** Whether a value came from `defineResource` (in any copy of this package). */
export function isResource(value: unknown): value is Resource {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RESOURCE_BRAND] === true;
}

/**
 * Declares a resource; list it in a plug's `resources` under its name.
 *
 * @example
 * const orders = defineResource({
 *   key: 'id',
 *   schema: z.object({ id: z.string(), customer: z.string(), total: z.number().min(0), status: z.enum(['open', 'paid']) }),
 *   source: sqliteSource({ file: './data/app.db' }),
 * });
 * export default definePlug({ name: 'shop', resources: { orders }, messages: {} });
 */
export function defineResource<S extends Schema>(definition: ResourceDefinition<S>): Resource<S> {
  return Object.assign(definition, { [RESOURCE_BRAND]: true as const });
}

/** Options of a write: `ifVersion` makes it conditional on the record's current version. */
export interface WriteOptions {
  /** The version the record must be at; otherwise the write fails with `conflict` and the current record. */
  ifVersion?: number;
}

/**
 * A resource as plugs and applications use it (`ctx.resources.orders`, `server.resource('orders')`). Writes
 * made here skip the client checks (grants, scope, `authorizeWrite`) but not the schema, and reach every
 * subscriber like any other.
 *
 * @example
 * await ctx.resources.orders.patch('o-7', [{ op: 'replace', path: '/status', value: 'paid' }]);
 */
export interface ResourceHandle<T = unknown, In = T> {
  readonly name: string;
  /** Records held now. */
  readonly size: number;
  /** The position of the last operation in the resource's stream. */
  readonly position: StreamPosition;
  get(key: RecordKey | number): LiveRecord<T> | undefined;
  /** The records a query matches (all without one), in key order of insertion. */
  list(query?: LiveQuery): LiveRecord<T>[];
  /** Creates a record; its key comes from the value (a random UUID when the value has none). `conflict` if it exists. */
  create(value: In): Promise<LiveWriteReply<T>>;
  /** Replaces (or creates) the record at `key`. */
  put(key: RecordKey | number, value: In, options?: WriteOptions): Promise<LiveWriteReply<T>>;
  /** Applies a JSON Patch (RFC 6902) to the record at `key`; the result must pass the schema. */
  patch(key: RecordKey | number, patch: PatchOperation[], options?: WriteOptions): Promise<LiveWriteReply<T>>;
  delete(key: RecordKey | number, options?: WriteOptions): Promise<LiveWriteReply<T>>;
}

/** The handles of a plug's resources, typed from their schemas: what `ctx.resources` is. */
export type ResourceHandles<R> = {
  [K in keyof R]: R[K] extends Resource<infer S> ? ResourceHandle<z.output<S>, z.input<S>> : never;
};

/** A resource as `server.resources()` and `GET /admin/resources` list it. */
export interface ResourceInfo {
  name: string;
  plug: string;
  key: string;
  records: number;
  source: string;
  position: StreamPosition;
  /** Views (distinct queries) with subscribers on this node, and their subscriptions. */
  views: number;
  subscribers: number;
}
