// Live data on the wire: resource subscriptions, snapshots, operations with stream positions, and writes.
import type { StreamPosition } from './channel.ts';

/** Resource names: a letter, then up to 63 letters, digits, `_`, `-` or `.`. */
export const RESOURCE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** A record's key on the wire: always a string (a numeric key field is sent as its decimal string). */
export type RecordKey = string;

/** A scalar a filter compares with. */
export type FilterValue = string | number | boolean | null;

/**
 * One field's condition: equal to a value, one of a list, or within a range (bounds combine: `{ gte: 10, lt: 20 }`).
 * Ranges compare numbers with numbers and strings with strings; a value of another type never matches.
 */
export type FieldCondition =
  | FilterValue
  | { eq: FilterValue }
  | { in: FilterValue[] }
  | { gt?: number | string; gte?: number | string; lt?: number | string; lte?: number | string };

/**
 * A declarative filter: every listed top-level field must meet its condition (AND). `{}` matches everything.
 *
 * @example
 * { status: { in: ['open', 'paid'] }, customer: 'c-7', total: { gte: 100 } }
 */
export type Where = Record<string, FieldCondition>;

/** What a live subscription covers: all records, one key, or those a filter matches. */
export interface LiveQuery {
  key?: RecordKey;
  where?: Where;
}

/** Filters stay small: at most this many fields, and this many values in one `in`. */
export const MAX_FILTER_FIELDS = 16;
export const MAX_FILTER_VALUES = 100;

function inRange(value: unknown, condition: { gt?: number | string; gte?: number | string; lt?: number | string; lte?: number | string }): boolean {
  const kind = typeof value;
  if (kind !== 'number' && kind !== 'string') return false;
  const v = value as number | string;
  const { gt, gte, lt, lte } = condition;
  if (gt !== undefined && !(typeof gt === kind && v > gt)) return false;
  if (gte !== undefined && !(typeof gte === kind && v >= gte)) return false;
  if (lt !== undefined && !(typeof lt === kind && v < lt)) return false;
  if (lte !== undefined && !(typeof lte === kind && v <= lte)) return false;
  return true;
}

/** Whether a field's value meets a condition. */
export function meets(value: unknown, condition: FieldCondition): boolean {
  if (condition === null || typeof condition !== 'object') return value === condition;
  if ('eq' in condition) return value === condition.eq;
  if ('in' in condition) return (condition.in as unknown[]).includes(value);
  return inRange(value, condition);
}

/**
 * Whether a record matches a query (same rules on the server, which decides what a subscriber receives, and
 * in the client, which decides whether an optimistic write shows in its copy).
 *
 * @example
 * matchesQuery({ where: { status: 'open' } }, 'o-1', { id: 'o-1', status: 'open' }) // true
 */
export function matchesQuery(query: LiveQuery, key: RecordKey, record: unknown): boolean {
  if (query.key !== undefined && query.key !== key) return false;
  const where = query.where;
  if (where === undefined) return true;
  if (typeof record !== 'object' || record === null) return false;
  for (const field in where) {
    if (!meets((record as Record<string, unknown>)[field], where[field]!)) return false;
  }
  return true;
}

/**
 * JSON with object keys sorted: equal queries give equal strings (the server shares a view between them, the
 * client a live copy).
 *
 * @example
 * canonicalJson({ b: 1, a: [2] }) // '{"a":[2],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  return `{${Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
    .join(',')}}`;
}

/** One JSON Patch (RFC 6902) operation. */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

/** The most operations one patch may carry. */
export const MAX_PATCH_OPERATIONS = 100;

/** A record as a snapshot carries it: its key, value and version (1 when created, +1 on every write). */
export interface LiveRecord<T = unknown> {
  key: RecordKey;
  value: T;
  version: number;
}

/**
 * The data of a `$live.op` push: one change to a resource, for the subscribers of one view (one query).
 * `offset` is its place in the resource's stream; `prev` the offset of the previous operation this view
 * received, so a subscriber at position `p` knows it missed nothing when `prev <= p < offset`.
 *
 * - `put`: the record at `key` is now `value` (created, replaced, or moved into the view's filter);
 * - `patch`: apply `patch` (RFC 6902) to the record at `key`;
 * - `delete`: the record at `key` is gone (deleted, or moved out of the view's filter).
 */
export interface LiveOperation<T = unknown> {
  view: string;
  resource: string;
  op: 'put' | 'patch' | 'delete';
  key: RecordKey;
  value?: T;
  patch?: PatchOperation[];
  /** The record's version after this operation (absent on delete). */
  version?: number;
  epoch: string;
  offset: number;
  prev: number;
}

/** A missed operation in a `$live.subscribe` reply: its view, resource and epoch are the reply's own. */
export type LiveReplayedOperation<T = unknown> = Omit<LiveOperation<T>, 'view' | 'resource' | 'epoch'>;

/** The payload of `$live.subscribe`: the query, and with `since` the position to recover from. */
export interface LiveSubscribeRequest extends LiveQuery {
  resource: string;
  since?: StreamPosition;
}

/**
 * The reply to `$live.subscribe`: the view's id (the `view` of its `$live.op` pushes on this connection),
 * the stream's position, and either `records` (a snapshot) or `operations` (what was missed since `since`,
 * oldest first, exactly once). `recovered` is present when `since` was given.
 */
export interface LiveSubscribeReply<T = unknown> {
  resource: string;
  view: string;
  /** The record field that holds the key. */
  keyField: string;
  position: StreamPosition;
  records?: LiveRecord<T>[];
  /** What was missed, oldest first; each in the reply's view and epoch. */
  operations?: LiveReplayedOperation<T>[];
  recovered?: boolean;
}

/** The reply to a write: the record's key, its version now, and the position of the write in the stream. */
export interface LiveWriteReply<T = unknown> {
  key: RecordKey;
  /** The new version; absent after a delete. */
  version?: number;
  /** The record as stored (after a create, put or patch). */
  value?: T;
  position: StreamPosition;
}

/** The data of a `$live.ended` push: the server ended a view for this connection. */
export interface LiveEnded {
  view: string;
  resource: string;
  reason: 'grant_revoked' | 'resource_removed' | (string & {});
  grant?: string;
}

/** `details` of a `conflict` error: the record as it is now (absent when it does not exist). */
export interface ConflictDetails<T = unknown> {
  current?: LiveRecord<T>;
}
