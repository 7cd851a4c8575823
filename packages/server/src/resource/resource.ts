// One resource at run time: its records, versions and stream; writes validated, stored, appended and published in order.
import { randomUUID } from 'node:crypto';
import { applyPatch, type Operation } from 'rfc6902';
import {
  ErrorCode,
  matchesQuery,
  SystemType,
  type Issue,
  type LiveQuery,
  type LiveRecord,
  type LiveWriteReply,
  MAX_PATCH_OPERATIONS,
  type PatchOperation,
  type RecordKey,
  type StreamPosition,
} from '@switchboard/protocol';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Bus } from '../bus/bus.ts';
import { MessageError } from '../errors.ts';
import { isThenable, settled, type MaybePromise } from '../maybe-promise.ts';
import { toIssues } from '../pipeline/inbound.ts';
import { compileKeyCheck, type KeyCheck } from '../plug/strict.ts';
import type { History } from '../stream/history.ts';
import type { Resource, ResourceHandle, WriteChange, WriteOptions } from './define.ts';
import type { ResourceSource } from './source.ts';
import { memorySource } from './source.ts';

/** The bus topic (and history stream) of a resource. */
export function resourceTopic(name: string): string {
  return `resource:${name}`;
}

/** Keys are 1 to this many characters. */
export const MAX_KEY_LENGTH = 256;

/**
 * One operation as the resource's stream keeps it and its bus topic carries it: what changed, and the
 * record before and after, so that each view (filter) can tell whether it moved in, out, or stayed.
 */
export interface OperationEntry {
  op: 'put' | 'patch' | 'delete';
  key: RecordKey;
  /** `patch`: the operations applied. */
  patch?: PatchOperation[];
  /** The version after (absent on delete). */
  version?: number;
  before?: unknown;
  after?: unknown;
}

/** An operation with its place in the stream. */
export interface AppliedOperation extends OperationEntry {
  resource: string;
  epoch: string;
  offset: number;
}

/** A write as the runtime takes it. */
export interface WriteRequest {
  op: 'create' | 'put' | 'patch' | 'delete';
  key?: RecordKey;
  value?: unknown;
  patch?: PatchOperation[];
  ifVersion?: number;
}

/** Checks a client write once its result is known; throws MessageError to refuse it. */
export type WriteGuard = (change: WriteChange) => MaybePromise<void>;

/** What a runtime is handed by the live-data feature. */
export interface ResourceHost {
  readonly history: History;
  readonly bus: Bus;
  readonly log: Logger;
  readonly maxRecords: number;
}

interface Held {
  value: unknown;
  version: number;
}


/** Runs `next` on a value that may be a promise, without making one when it is not. */
function then<T, U>(value: MaybePromise<T>, next: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return isThenable(value) ? value.then(next) : next(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** One JSON Patch operation, as every write path (client, plug, admin) is checked against. */
export const patchOperationSchema = z.strictObject({
  op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
  path: z.string().max(1024),
  value: z.unknown().optional(),
  from: z.string().max(1024).optional(),
});
const patchSchema = z.array(patchOperationSchema).min(1).max(MAX_PATCH_OPERATIONS);

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

function invalid(message: string, issues: Issue[]): MessageError {
  return new MessageError(ErrorCode.invalidPayload, message, { issues });
}

/**
 * A resource's records (in memory, for snapshots and filters; loaded from and written through its source)
 * and its stream. Writes run one at a time, in order: synchronously while the source and the history answer
 * synchronously (memory, SQLite), queued behind the one in progress otherwise.
 */
export class ResourceRuntime implements ResourceHandle {
  readonly name: string;
  readonly topic: string;
  definition: Resource;
  source: ResourceSource;
  /** Records by key, in insertion order. */
  readonly records = new Map<RecordKey, Held>();
  position: StreamPosition = { epoch: '', offset: 0 };
  private readonly host: ResourceHost;
  private keyCheck: KeyCheck | undefined;
  private tail: Promise<unknown> | undefined;

  constructor(name: string, definition: Resource, host: ResourceHost) {
    this.name = name;
    this.topic = resourceTopic(name);
    this.definition = definition;
    this.source = definition.source ?? memorySource();
    this.host = host;
    this.keyCheck = compileKeyCheck(definition.schema);
  }

  get size(): number {
    return this.records.size;
  }

  get maxRecords(): number {
    return this.definition.maxRecords ?? this.host.maxRecords;
  }

  /** Loads the records from the source and reads the stream's position. */
  async start(): Promise<void> {
    const loaded = await this.source.load(this.name);
    this.records.clear();
    for (const { value, version } of loaded) {
      const parsed = this.definition.schema.safeParse(value);
      if (!parsed.success) {
        this.host.log.warn({ resource: this.name, issues: toIssues(parsed.error.issues) }, 'a stored record does not match the resource schema; kept as stored');
      }
      const record = parsed.success ? parsed.data : value;
      this.records.set(this.keyOf(record), { value: deepFreeze(record), version: version ?? 1 });
    }
    this.position = { ...(await this.host.history.position(this.topic)) };
  }

  /** A hot swap brought a new definition: keep the records when the storage is the same one, reload otherwise. */
  async replace(definition: Resource): Promise<boolean> {
    const source = definition.source ?? memorySource();
    this.definition = definition;
    this.keyCheck = compileKeyCheck(definition.schema);
    if (source.id === this.source.id) {
      // The same storage: keep the open one; a new, unopened copy of it is closed (the very same object is not).
      if (source !== this.source) await source.close?.();
      return false;
    }
    await this.idle();
    await this.source.close?.();
    this.source = source;
    await this.host.history.remove(this.topic);
    await this.start();
    return true;
  }

  /** Closes the source (once every resource using it is idle: see LiveData.stop). */
  async close(): Promise<void> {
    await this.source.close?.();
  }

  /** Resolves once the writes queued so far are done. */
  async idle(): Promise<void> {
    while (this.tail !== undefined) await this.tail;
  }

  // ---------------------------------------------------------------- reads

  get(key: RecordKey | number): LiveRecord | undefined {
    const held = this.records.get(String(key));
    return held === undefined ? undefined : { key: String(key), value: held.value, version: held.version };
  }

  list(query: LiveQuery = {}): LiveRecord[] {
    const records: LiveRecord[] = [];
    for (const [key, held] of this.records) {
      if (matchesQuery(query, key, held.value)) records.push({ key, value: held.value, version: held.version });
    }
    return records;
  }

  // ---------------------------------------------------------------- writes (ResourceHandle: trusted, no guard)

  create(value: unknown): Promise<LiveWriteReply> {
    return this.promised({ op: 'create', value });
  }

  put(key: RecordKey | number, value: unknown, options: WriteOptions = {}): Promise<LiveWriteReply> {
    return this.promised({ op: 'put', key: String(key), value, ...ifVersion(options) });
  }

  patch(key: RecordKey | number, patch: PatchOperation[], options: WriteOptions = {}): Promise<LiveWriteReply> {
    return this.promised({ op: 'patch', key: String(key), patch, ...ifVersion(options) });
  }

  delete(key: RecordKey | number, options: WriteOptions = {}): Promise<LiveWriteReply> {
    return this.promised({ op: 'delete', key: String(key), ...ifVersion(options) });
  }

  /** A write as a promise; one that finished at once (a memory resource) is `settled`, so the pipeline need not wait for it. */
  private promised(request: WriteRequest): Promise<LiveWriteReply> {
    try {
      const result = this.write(request);
      return isThenable(result) ? Promise.resolve(result) : settled(result);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * Validates, checks versions, asks the guard, stores, appends and publishes one write; the reply carries
   * the new version and the write's position. Throws (or rejects with) MessageError: `invalid_payload`,
   * `not_found`, `conflict`, `limit_exceeded`, or what the guard throws.
   */
  write(request: WriteRequest, guard?: WriteGuard): MaybePromise<LiveWriteReply> {
    if (this.tail === undefined) {
      const result = this.run(request, guard);
      if (!isThenable(result)) return result;
      this.track(result);
      return result;
    }
    const queued = this.tail.then(() => this.run(request, guard));
    this.track(queued);
    return queued;
  }

  private track(pending: Promise<unknown>): void {
    const settled = pending.then(
      () => undefined,
      () => undefined,
    );
    this.tail = settled;
    void settled.then(() => {
      if (this.tail === settled) this.tail = undefined;
    });
  }

  private run(request: WriteRequest, guard: WriteGuard | undefined): MaybePromise<LiveWriteReply> {
    const { key, before, after, entry } = this.prepare(request);
    const change: WriteChange = { op: request.op, key, before: before?.value, after };
    const guarded = guard?.(change);
    return then(guarded, () =>
      then(this.source.write(this.name, after === undefined ? { op: 'delete', key } : { op: 'put', key, value: after, version: entry.version! }), () =>
        then(this.host.history.append(this.topic, entry), (position) => this.commit(key, after, entry, position)),
      ),
    );
  }

  /** What a write would do, checked against the record as it is now. */
  private prepare(request: WriteRequest): { key: RecordKey; before: Held | undefined; after: unknown; entry: OperationEntry } {
    const keyField = this.definition.key;
    let key = request.key;
    let value = request.value;
    if (request.op === 'create' || request.op === 'put') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('a record must be an object', [{ path: ['value'], message: 'expected an object' }]);
      const own = (value as Record<string, unknown>)[keyField];
      if (own === undefined) {
        key ??= randomUUID();
        value = { ...(value as object), [keyField]: key };
      } else if (key === undefined) key = String(own);
      else if (String(own) !== key) {
        throw invalid(`the record's ${keyField} is ${JSON.stringify(own)} but the key is ${JSON.stringify(key)}`, [{ path: ['value', keyField], message: 'does not match the key' }]);
      }
    }
    if (key === undefined || key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw invalid(`a key is 1 to ${MAX_KEY_LENGTH} characters`, [{ path: ['key'], message: `expected 1 to ${MAX_KEY_LENGTH} characters` }]);
    }
    const before = this.records.get(key);
    if (request.op === 'create' && before !== undefined) throw this.conflict(key, before, `a record with key ${JSON.stringify(key)} exists`);
    if (request.ifVersion !== undefined && (before?.version ?? 0) !== request.ifVersion) {
      throw this.conflict(key, before, `the record is at version ${before?.version ?? 0}, not ${request.ifVersion}`);
    }
    if ((request.op === 'patch' || request.op === 'delete') && before === undefined) {
      throw new MessageError(ErrorCode.notFound, `no record with key ${JSON.stringify(key)} in ${this.name}`, { key });
    }
    if (before === undefined && this.records.size >= this.maxRecords) {
      throw new MessageError(ErrorCode.limitExceeded, `${this.name} holds ${this.maxRecords} records, its limit`, { limit: 'maxRecords' });
    }
    const version = (before?.version ?? 0) + 1;
    if (request.op === 'delete') return { key, before, after: undefined, entry: { op: 'delete', key, before: before!.value } };
    if (request.op === 'patch') value = this.patched(before!.value, request.patch ?? []);
    const after = this.validated(value, key);
    const entry: OperationEntry =
      request.op === 'patch'
        ? { op: 'patch', key, patch: request.patch!, version, before: before!.value, after }
        : before === undefined
          ? { op: 'put', key, version, after }
          : { op: 'put', key, version, before: before.value, after };
    return { key, before, after, entry };
  }

  /** A patch applied to a copy of the record; refused whole when any operation fails. */
  private patched(current: unknown, patch: PatchOperation[]): unknown {
    const shape = patchSchema.safeParse(patch);
    if (!shape.success) {
      const issues = toIssues(shape.error.issues).map((issue) => ({ ...issue, path: ['patch', ...issue.path] }));
      throw invalid(`not a JSON Patch: ${issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`, issues);
    }
    for (const [index, operation] of patch.entries()) {
      for (const pointer of [operation.path, operation.from]) {
        if (pointer === undefined) continue;
        if (pointer === '') throw invalid('a patch cannot replace the whole record; use put', [{ path: ['patch', index, 'path'], message: 'the root cannot be patched' }]);
        if (pointer.split('/').some((segment) => FORBIDDEN_SEGMENTS.has(segment))) {
          throw invalid(`patch path ${JSON.stringify(pointer)} is not allowed`, [{ path: ['patch', index, 'path'], message: 'reserved property name' }]);
        }
      }
    }
    const copy = structuredClone(current) as object;
    const results = applyPatch(copy, patch as Operation[]);
    const failed = results.findIndex((result) => result !== null);
    if (failed >= 0) {
      const error = results[failed]!;
      throw invalid(`patch operation ${failed} failed: ${error.message || error.name}`, [{ path: ['patch', failed], message: error.message || error.name }]);
    }
    return copy;
  }

  /** The record after the schema (and the strict key check), or `invalid_payload` naming each issue. */
  private validated(value: unknown, key: RecordKey): unknown {
    const parsed = this.definition.schema.safeParse(value);
    if (!parsed.success) {
      const issues = toIssues(parsed.error.issues).map((issue) => ({ ...issue, path: ['value', ...issue.path] }));
      throw invalid(`the record does not match the schema of ${this.name}: ${issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`, issues);
    }
    const extra = this.keyCheck?.(value);
    if (extra !== undefined) throw invalid(`the record does not match the schema of ${this.name}: ${extra.message}`, [{ ...extra, path: ['value', ...extra.path] }]);
    const record = parsed.data as Record<string, unknown>;
    if (String(record[this.definition.key]) !== key) {
      throw invalid(`the record's ${this.definition.key} cannot change (it is the key)`, [{ path: ['value', this.definition.key], message: 'the key cannot change' }]);
    }
    return deepFreeze(record);
  }

  private conflict(key: RecordKey, held: Held | undefined, message: string): MessageError {
    return new MessageError(ErrorCode.conflict, message, held === undefined ? {} : { current: { key, value: held.value, version: held.version } });
  }

  /** The write is stored and has its position: apply it, tell every node, and reply. */
  private commit(key: RecordKey, after: unknown, entry: OperationEntry, position: StreamPosition): LiveWriteReply {
    if (after === undefined) this.records.delete(key);
    else this.records.set(key, { value: after, version: entry.version! });
    this.position = { epoch: position.epoch, offset: position.offset };
    const applied: AppliedOperation = { ...entry, resource: this.name, epoch: position.epoch, offset: position.offset };
    this.host.bus.publish({ topic: this.topic, envelope: { type: SystemType.liveOp, data: applied } });
    const reply: LiveWriteReply = { key, position: { epoch: position.epoch, offset: position.offset } };
    if (after !== undefined) {
      reply.version = entry.version!;
      reply.value = after;
    }
    return reply;
  }

  /** The key of a record: its key field, as a string. */
  keyOf(value: unknown): RecordKey {
    const own = (value as Record<string, unknown> | null)?.[this.definition.key];
    return String(own);
  }
}

function ifVersion(options: WriteOptions): { ifVersion?: number } {
  return options.ifVersion === undefined ? {} : { ifVersion: options.ifVersion };
}
