// A live copy of a resource: a snapshot, then operations in stream order, recovery after a reconnect, and optimistic writes.
import { applyPatch, type Operation } from 'rfc6902';
import {
  ErrorCode,
  matchesQuery,
  type LiveEnded,
  type LiveOperation,
  type LiveReplayedOperation,
  type LiveQuery,
  type LiveRecord,
  type LiveSubscribeReply,
  type LiveWriteReply,
  type PatchOperation,
  type StreamPosition,
} from '@switchboard/protocol';
import { Emitter } from './emitter.ts';
import { RequestError } from './errors.ts';

/**
 * Where a live copy stands:
 * - `snapshot`: waiting for the first snapshot;
 * - `live`: equal to the server as of `position`, and receiving every change;
 * - `stale`: the connection is down; the records are those of the last position held;
 * - `recovering`: (re)subscribing from the last position after a reconnect or a gap;
 * - `ended`: closed by the application, or by the server (`ended` event says why).
 */
export type LiveState = 'snapshot' | 'live' | 'stale' | 'recovering' | 'ended';

/** One record changed in the local copy. `value` undefined: it is gone. */
export interface LiveChange<T> {
  key: string;
  value: T | undefined;
  previous: T | undefined;
  /** `server`: an operation or snapshot from the server; `local`: an optimistic write; `rollback`: a refused one undone. */
  source: 'server' | 'local' | 'rollback';
}

/**
 * Events of a live copy.
 *
 * @example
 * orders.on('change', ({ key, value }) => render(key, value));
 */
export type LiveEvents<T> = {
  /** A record changed (one event per record). */
  change: [change: LiveChange<T>];
  /** The state changed. */
  state: [info: { state: LiveState; previous: LiveState }];
  /**
   * The copy is equal to the server again: after the first snapshot (`resubscribed` false), and after every
   * reconnect or gap: `recovered` true when the missed operations were replayed, false when a fresh snapshot
   * replaced the records (history no longer held them, or the server restarted).
   */
  synced: [info: { resubscribed: boolean; recovered: boolean }];
  /** The server ended the subscription (grant revoked, resource removed); the copy no longer changes. */
  ended: [info: { reason: string; grant?: string }];
};

/** Options of a write. */
export interface LiveWriteOptions {
  /** The version the record must be at; otherwise the write fails with `conflict` (and `details.current`). */
  ifVersion?: number;
}

interface Held<T> {
  value: T;
  version: number;
}

/** An optimistic write not yet seen in the stream. `offset` is set once the server accepted it. */
interface Pending<T> {
  key: string;
  apply(value: T | undefined): T | undefined;
  position?: StreamPosition;
}

/** What a live copy needs from the client. */
export interface LiveHost {
  request(type: string, data: unknown): Promise<unknown>;
  /** Sends `$live.subscribe` for this entry now, if the link is up. */
  subscribe(entry: LiveEntry<any>): void;
  unsubscribe(entry: LiveEntry<any>): Promise<void>;
}

/** A shallow copy of an object or array. */
function shallow(value: unknown): unknown {
  return Array.isArray(value) ? [...value] : { ...(value as object) };
}

/**
 * A copy of `value` that a patch can be applied to in place without changing `value`: the objects along each
 * operation's paths are copied (copy-on-write), the rest is shared. Records the application holds stay as
 * they were, and a one-field patch of a record costs one shallow copy, not a deep clone.
 */
function copyAlong<T>(value: T, patch: PatchOperation[]): T {
  if (typeof value !== 'object' || value === null) return value;
  const root = shallow(value) as Record<string, unknown>;
  for (const operation of patch) {
    for (const pointer of [operation.path, operation.from]) {
      if (pointer === undefined || pointer === '') continue;
      // Every container above the target is copied; the target's own value is replaced or removed, and a
      // `move`/`copy` source is read, so neither needs copying itself unless a later operation goes inside it.
      const segments = pointer.split('/').slice(1, -1).map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
      let node: Record<string, unknown> = root;
      for (const segment of segments) {
        const child = node[segment];
        if (typeof child !== 'object' || child === null) break;
        const copied = shallow(child) as Record<string, unknown>;
        node[segment] = copied;
        node = copied;
      }
    }
  }
  return root as T;
}

function patched<T>(value: T, patch: PatchOperation[]): T | undefined {
  // A `copy` may put an object in two places; a later operation inside one must not change the other.
  const copy = (patch.some((operation) => operation.op === 'copy') ? structuredClone(value) : copyAlong(value, patch)) as object;
  const results = applyPatch(copy, patch as Operation[]);
  return results.every((result) => result === null) ? (copy as T) : undefined;
}

/**
 * A live, local copy of a resource (all of it, one key, or a filter), kept equal to the server. Made by
 * `client.live()`. Writes apply at once (optimistically) and roll back if the server refuses them.
 *
 * @example
 * const orders = client.live('orders', { where: { status: 'open' } });
 * await orders.ready;
 * orders.on('change', ({ key, value }) => render(key, value));
 * await orders.patch('o-7', [{ op: 'replace', path: '/status', value: 'paid' }]);
 */
export class LiveCollection<T = unknown> {
  readonly resource: string;
  readonly query: LiveQuery;
  /** Resolves at the first snapshot; rejects with the server's RequestError (`forbidden`, `unknown_resource`, …). */
  readonly ready: Promise<void>;
  readonly #entry: LiveEntry<T>;

  constructor(entry: LiveEntry<T>, ready: Promise<void>) {
    this.resource = entry.resource;
    this.query = entry.query;
    this.ready = ready;
    this.#entry = entry;
  }

  get state(): LiveState {
    return this.#entry.state;
  }

  /** The records as the application should show them: the server's, with pending optimistic writes applied. */
  get records(): ReadonlyMap<string, T> {
    return this.#entry.visible;
  }

  /** The stream position the copy is at. */
  get position(): StreamPosition | undefined {
    const position = this.#entry.position;
    return position === undefined ? undefined : { ...position };
  }

  get(key: string | number): T | undefined {
    return this.#entry.visible.get(String(key));
  }

  /** The server's version of a record (what `ifVersion` takes), or undefined. */
  version(key: string | number): number | undefined {
    return this.#entry.confirmed.get(String(key))?.version;
  }

  /** Writes waiting to be seen in the stream. */
  get pendingWrites(): number {
    return this.#entry.pending.length;
  }

  on<K extends keyof LiveEvents<T> & string>(name: K, listener: (...args: LiveEvents<T>[K]) => void): () => void {
    return this.#entry.emitter.on(name, listener);
  }

  /** Creates a record (its key from the value's key field; the server makes one when absent). `conflict` if it exists. */
  create(value: T): Promise<LiveRecord<T>> {
    return this.#entry.write('create', undefined, value, undefined, {});
  }

  /** Replaces (or creates) the record at `key`. */
  put(key: string | number, value: T, options: LiveWriteOptions = {}): Promise<LiveRecord<T>> {
    return this.#entry.write('put', String(key), value, undefined, options);
  }

  /** Changes part of a record with a JSON Patch (RFC 6902); the server validates the result. */
  patch(key: string | number, patch: PatchOperation[], options: LiveWriteOptions = {}): Promise<LiveRecord<T>> {
    return this.#entry.write('patch', String(key), undefined, patch, options);
  }

  delete(key: string | number, options: LiveWriteOptions = {}): Promise<void> {
    return this.#entry.write('delete', String(key), undefined, undefined, options).then(() => undefined);
  }

  /** Stops following the resource. */
  close(): Promise<void> {
    return this.#entry.close();
  }
}

/** The client's side of one live copy (internal: applications see `LiveCollection`). */
export class LiveEntry<T = unknown> {
  readonly resource: string;
  readonly query: LiveQuery;
  readonly signature: string;
  readonly emitter = new Emitter<LiveEvents<T>>();
  readonly collection: LiveCollection<T>;
  readonly confirmed = new Map<string, Held<T>>();
  readonly visible = new Map<string, T>();
  pending: Pending<T>[] = [];
  state: LiveState = 'snapshot';
  position: StreamPosition | undefined = undefined;
  /** The server's id of this copy's view on the current connection. */
  view: string | undefined = undefined;
  keyField: string | undefined = undefined;
  /** A `$live.subscribe` is on its way: operations wait here. */
  private waiting: LiveOperation<T>[] | undefined = undefined;
  private synced = false;
  private readonly host: LiveHost;
  private resolveReady!: () => void;
  private rejectReady!: (error: RequestError) => void;

  constructor(resource: string, query: LiveQuery, signature: string, host: LiveHost) {
    this.resource = resource;
    this.query = query;
    this.signature = signature;
    this.host = host;
    const ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    ready.catch(() => undefined);
    this.collection = new LiveCollection(this, ready);
  }

  get active(): boolean {
    return this.state !== 'ended';
  }

  private setState(state: LiveState): void {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this.emitter.emit('state', { state, previous });
  }

  /** The payload of the next `$live.subscribe`: from the position held, if any. */
  subscribeRequest(): Record<string, unknown> {
    this.waiting ??= [];
    if (this.synced) this.setState('recovering');
    const request: Record<string, unknown> = { resource: this.resource, ...this.query };
    if (this.position !== undefined) request.since = this.position;
    return request;
  }

  /** The link dropped: the view is gone with it; the records stay, marked stale. */
  disconnected(): void {
    if (!this.active) return;
    this.view = undefined;
    this.waiting = undefined;
    if (this.synced) this.setState('stale');
  }

  /** The reply to `$live.subscribe`. */
  confirm(reply: LiveSubscribeReply<T>): void {
    const held = this.waiting ?? [];
    this.waiting = undefined;
    this.view = reply.view;
    this.keyField = reply.keyField;
    const touched = new Set<string>();
    if (reply.records !== undefined) {
      // A snapshot: the records as they are at `position`.
      for (const key of this.confirmed.keys()) touched.add(key);
      this.confirmed.clear();
      for (const record of reply.records) {
        this.confirmed.set(record.key, { value: record.value, version: record.version });
        touched.add(record.key);
      }
      if (this.position?.epoch !== reply.position.epoch) this.pending = this.pending.filter((write) => write.position === undefined);
      this.position = { ...reply.position };
      this.settle(touched);
    } else {
      // What was missed, replayed in order: one change per operation, as if it had arrived live.
      const { epoch } = reply.position;
      for (const replayed of reply.operations ?? []) {
        const one = new Set<string>();
        this.applyOperation(replayed, one);
        this.position = { epoch, offset: replayed.offset };
        this.settle(one);
      }
      this.position = { ...reply.position };
      this.settle(touched);
    }
    for (const operation of held) this.receive(operation);
    if (this.waiting !== undefined) return; // a gap among the held ones: another subscribe is on its way
    const resubscribed = this.synced;
    this.synced = true;
    this.setState('live');
    this.resolveReady();
    this.emitter.emit('synced', { resubscribed, recovered: reply.records === undefined });
  }

  /** A `$live.op` for this copy's view. */
  receive(operation: LiveOperation<T>): void {
    if (this.waiting !== undefined) {
      this.waiting.push(operation);
      return;
    }
    const position = this.position;
    if (position === undefined) return;
    if (operation.epoch === position.epoch && operation.offset <= position.offset) return; // already held
    if (operation.epoch !== position.epoch || operation.prev > position.offset) {
      // The stream restarted, or something was missed: resubscribe from where we are.
      this.waiting = [operation];
      this.host.subscribe(this);
      return;
    }
    const touched = new Set<string>();
    if (!this.applyOperation(operation, touched)) {
      this.waiting = [];
      this.position = undefined; // cannot apply it: start again from a snapshot
      this.host.subscribe(this);
      return;
    }
    this.position = { epoch: operation.epoch, offset: operation.offset };
    this.settle(touched);
  }

  /** Applies one operation to the server's records; false when it does not fit them (a patch on a missing record). */
  private applyOperation(operation: LiveReplayedOperation<T>, touched: Set<string>): boolean {
    const key = operation.key;
    touched.add(key);
    switch (operation.op) {
      case 'put':
        this.confirmed.set(key, { value: operation.value as T, version: operation.version ?? 0 });
        return true;
      case 'delete':
        this.confirmed.delete(key);
        return true;
      case 'patch': {
        const current = this.confirmed.get(key);
        const next = current === undefined ? undefined : patched(current.value, operation.patch ?? []);
        if (next === undefined) return false;
        this.confirmed.set(key, { value: next, version: operation.version ?? current!.version + 1 });
        return true;
      }
    }
  }

  /** Drops the accepted writes the stream has passed, then recomputes what the touched records look like. */
  private settle(touched: Set<string>): void {
    const position = this.position;
    if (position !== undefined && this.pending.length > 0) {
      this.pending = this.pending.filter((write) => {
        const passed = write.position !== undefined && write.position.epoch === position.epoch && write.position.offset <= position.offset;
        if (passed) touched.add(write.key);
        return !passed;
      });
    }
    for (const key of touched) this.recompute(key, 'server');
  }

  /** The record as shown: the server's, with the pending writes on top, hidden when outside the query. */
  private recompute(key: string, source: LiveChange<T>['source']): void {
    let value: T | undefined = this.confirmed.get(key)?.value;
    for (const write of this.pending) if (write.key === key) value = write.apply(value);
    if (value !== undefined && !matchesQuery(this.query, key, value)) value = undefined;
    const previous = this.visible.get(key);
    if (value === previous) return;
    if (value === undefined) this.visible.delete(key);
    else this.visible.set(key, value);
    this.emitter.emit('change', { key, value, previous, source });
  }

  /** An optimistic write: shown at once, sent, kept until the stream passes it, undone if refused. */
  write(op: 'create' | 'put' | 'patch' | 'delete', key: string | undefined, value: T | undefined, patch: PatchOperation[] | undefined, options: LiveWriteOptions): Promise<LiveRecord<T>> {
    if (!this.active) return Promise.reject(new RequestError(ErrorCode.disconnected, `the live copy of ${this.resource} is closed`));
    const field = this.keyField;
    const own = field !== undefined && value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[field] : undefined;
    const target = key ?? (own === undefined ? undefined : String(own));
    let pending: Pending<T> | undefined;
    if (target !== undefined) {
      const apply =
        op === 'delete' ? () => undefined : op === 'patch' ? (current: T | undefined) => (current === undefined ? undefined : (patched(current, patch!) ?? current)) : () => value;
      pending = { key: target, apply };
      this.pending.push(pending);
      this.recompute(target, 'local');
    }
    const payload: Record<string, unknown> = { resource: this.resource };
    if (op !== 'create') payload.key = key;
    if (op === 'create' || op === 'put') payload.value = value;
    if (op === 'patch') payload.patch = patch;
    if (options.ifVersion !== undefined) payload.ifVersion = options.ifVersion;
    return this.host.request(`$live.${op}`, payload).then(
      (result) => {
        const reply = result as LiveWriteReply<T>;
        if (pending !== undefined) {
          pending.position = reply.position;
          this.settle(new Set());
        }
        return { key: reply.key, value: reply.value as T, version: reply.version ?? 0 };
      },
      (error: RequestError) => {
        if (pending !== undefined) {
          this.pending = this.pending.filter((write) => write !== pending);
          this.recompute(pending.key, 'rollback');
        }
        throw error;
      },
    );
  }

  /** The server ended this copy (or the client closed): no more changes. */
  end(info: { reason: string; grant?: string } | undefined, error: RequestError): void {
    if (!this.active) return;
    this.view = undefined;
    this.waiting = undefined;
    this.setState('ended');
    if (!this.synced) this.rejectReady(error);
    if (info !== undefined) this.emitter.emit('ended', info);
  }

  /** Ended by the server: some reasons mean "subscribe again" (the resource was reloaded, the scope changed). */
  ended(notice: LiveEnded): boolean {
    if (notice.reason === 'reset' || notice.reason === 'access_changed') {
      this.view = undefined;
      this.position = undefined;
      this.host.subscribe(this);
      return false;
    }
    const info = notice.grant === undefined ? { reason: notice.reason } : { reason: notice.reason, grant: notice.grant };
    this.end(info, new RequestError(notice.reason, `the server ended the live copy of ${this.resource}`, { ...info }));
    return true;
  }

  close(): Promise<void> {
    if (!this.active) return Promise.resolve();
    const unsubscribed = this.host.unsubscribe(this);
    this.end(undefined, new RequestError(ErrorCode.notSubscribed, `the live copy of ${this.resource} was closed before its snapshot`));
    return unsubscribed;
  }
}
