// Live data: resource subscriptions (views), snapshots, recovery from the stream, and client writes with grants and scope.
import {
  ErrorCode,
  MAX_FILTER_FIELDS,
  MAX_FILTER_VALUES,
  MAX_PATCH_OPERATIONS,
  matchesQuery,
  SystemType,
  canonicalJson,
  type LiveEnded,
  type LiveOperation,
  type LiveReplayedOperation,
  type StreamPosition,
  type LiveQuery,
  type LiveRecord,
  type LiveSubscribeReply,
  type LiveWriteReply,
  type RecordKey,
  type Where,
} from '@switchboard/protocol';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Auth } from '../auth/auth.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import type { Connection, ConnectionInfo } from '../connection/connection.ts';
import { DevErrorCode, MessageError, SwitchboardError } from '../errors.ts';
import type { Feature, ProtocolRoute } from '../feature.ts';
import { grantFor } from '../grants/grant-set.ts';
import type { AnyPlug, HandlerContext } from '../plug/define.ts';
import type { ResolvedResourceOptions } from '../options.ts';
import type { History } from '../stream/history.ts';
import type { Resource, ResourceHandle, ResourceInfo, WriteChange } from './define.ts';
import { fieldsOf } from './validate.ts';
import { MAX_KEY_LENGTH, patchOperationSchema, ResourceRuntime, type AppliedOperation, type OperationEntry, type WriteGuard, type WriteRequest } from './resource.ts';
import { isThenable, type MaybePromise } from '../maybe-promise.ts';

/** What the live-data feature is handed by `server.ts`. */
export interface LiveDataHost {
  readonly log: Logger;
  readonly bus: Bus;
  /** Where resources keep their streams of operations. */
  readonly history: History;
  sendTo(connection: Connection, envelope: { type: string; data?: unknown }): boolean;
  /** Encode-once delivery to many local connections. */
  fanout(message: BusMessage, recipients: Iterable<Connection>): number;
}

/** How a view subscription was admitted, which decides whether a grant change can end it. */
const Admitted = { public: 0, grant: 1, hook: 2 } as const;

/**
 * The subscribers of one resource with one query and one scope on this node. Each operation is judged once
 * per view and encoded once for all its subscribers. `last` is the offset of the last operation the view
 * delivered (or its stream position when it was made): the `prev` of the next one.
 */
interface View {
  readonly id: string;
  readonly served: Served;
  readonly signature: string;
  readonly query: LiveQuery;
  readonly scope: Where | undefined;
  readonly subscribers: Map<Connection, number>;
  epoch: string;
  last: number;
}

/** A resource and its views. `plug` is set while a serving plug declares it. */
interface Served {
  readonly runtime: ResourceRuntime;
  plug: string | undefined;
  readonly views: Map<string, View>;
}

// ---------------------------------------------------------------- payload schemas
const scalar = z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]);
const bound = z.union([z.number(), z.string().max(1024)]);
const condition = z.union([
  scalar,
  z.strictObject({ eq: scalar }),
  z.strictObject({ in: z.array(scalar).max(MAX_FILTER_VALUES) }),
  z
    .strictObject({ gt: bound.optional(), gte: bound.optional(), lt: bound.optional(), lte: bound.optional() })
    .refine((range) => Object.keys(range).length > 0, 'a range needs gt, gte, lt or lte'),
]);
const where = z
  .record(z.string().min(1).max(64), condition)
  .refine((fields) => Object.keys(fields).length <= MAX_FILTER_FIELDS, `at most ${MAX_FILTER_FIELDS} fields`);
const resourceName = z.string().min(1).max(64);
const key = z.string().min(1).max(MAX_KEY_LENGTH);
const version = z.number().int().min(0);
const position = z.strictObject({ epoch: z.string().min(1).max(64), offset: z.number().int().min(0) });
const subscribeInput = z.strictObject({ resource: resourceName, key: key.optional(), where: where.optional(), since: position.optional() });
const unsubscribeInput = z.strictObject({ view: z.string().min(1).max(64) });
const createInput = z.strictObject({ resource: resourceName, value: z.unknown() });
const putInput = z.strictObject({ resource: resourceName, key, value: z.unknown(), ifVersion: version.optional() });
const patchInput = z.strictObject({
  resource: resourceName,
  key,
  patch: z.array(patchOperationSchema).min(1).max(MAX_PATCH_OPERATIONS),
  ifVersion: version.optional(),
});
const deleteInput = z.strictObject({ resource: resourceName, key, ifVersion: version.optional() });


/**
 * The live-data feature: serves the resources the plugs declare. Each resource has one bus topic; its
 * listener judges every operation once per view (filter) and fans it out encoded once per view.
 *
 * @example
 * const live = new LiveData(host, auth, options.resources);
 * await live.prepare(plug); // before the plug serves
 */
export class LiveData implements Feature {
  readonly name = 'live';
  readonly routes: readonly ProtocolRoute[];
  /** Recovery and delivery counts, for the metrics. */
  readonly counts = { snapshots: 0, recovered: 0, reset: 0, replayed: 0, operations: 0, writes: 0, refused: 0 };
  private readonly host: LiveDataHost;
  private readonly auth: Auth;
  private readonly options: ResolvedResourceOptions;
  /** Every resource this server has started, by name, and by bus topic. */
  private readonly resources = new Map<string, Served>();
  private readonly byTopic = new Map<string, Served>();
  /** Each connection's views. */
  private readonly viewsOf = new Map<Connection, Map<string, View>>();
  private nextView = 1;

  constructor(host: LiveDataHost, auth: Auth, options: ResolvedResourceOptions) {
    this.host = host;
    this.auth = auth;
    this.options = options;
    const write = (op: WriteRequest['op']) => (data: Omit<WriteRequest, 'op'> & { resource: string }, ctx: HandlerContext) => this.onWrite(ctx, op, data);
    this.routes = [
      {
        type: SystemType.liveSubscribe,
        input: subscribeInput,
        description: 'subscribe to a resource (all, one key, or a filter): a snapshot, or with `since` what was missed',
        handler: (data: z.output<typeof subscribeInput>, ctx: HandlerContext) => this.onSubscribe(ctx, data),
      },
      {
        type: SystemType.liveUnsubscribe,
        input: unsubscribeInput,
        description: 'end a resource subscription',
        handler: (data: z.output<typeof unsubscribeInput>, ctx: HandlerContext) => this.onUnsubscribe(ctx.connection, data.view),
      },
      { type: SystemType.liveCreate, input: createInput, description: 'create a record', handler: write('create') },
      { type: SystemType.livePut, input: putInput, description: 'replace or create the record at a key', handler: write('put') },
      { type: SystemType.livePatch, input: patchInput, description: 'change a record with a JSON Patch (RFC 6902)', handler: write('patch') },
      { type: SystemType.liveDelete, input: deleteInput, description: 'delete the record at a key', handler: write('delete') },
    ];
  }

  // ---------------------------------------------------------------- resources of the plugs

  /**
   * Starts (or, on a hot swap, updates) the resources a plug declares, before it serves: their records are
   * loaded from their sources. Throws SwitchboardError when a name is taken by another plug.
   */
  async prepare(plug: AnyPlug, where: string): Promise<Record<string, ResourceHandle>> {
    const declared = (plug as { resources?: Record<string, Resource> }).resources ?? {};
    for (const name of Object.keys(declared)) {
      const owner = this.resources.get(name)?.plug;
      if (owner !== undefined && owner !== plug.name) {
        throw new SwitchboardError(DevErrorCode.plugConflict, `${where}: resource "${name}" is already declared by plug "${owner}"; a resource belongs to one plug`);
      }
    }
    for (const [name, definition] of Object.entries(declared)) {
      const served = this.resources.get(name);
      if (served === undefined) {
        const runtime = new ResourceRuntime(name, definition, { history: this.host.history, bus: this.host.bus, log: this.host.log, maxRecords: this.options.maxRecords });
        await runtime.start();
        const entry: Served = { runtime, plug: undefined, views: new Map() };
        this.resources.set(name, entry);
        this.byTopic.set(runtime.topic, entry);
        this.host.bus.subscribe(runtime.topic, this.onBusMessage);
        continue;
      }
      if (await served.runtime.replace(definition)) this.endViews(served, 'reset');
    }
    return this.handlesOf(plug);
  }

  /** After plugs changed: the resources the serving plugs declare are served; the others end their subscriptions. */
  sync(plugs: Iterable<{ name: string; definition: AnyPlug }>): void {
    const owners = new Map<string, string>();
    for (const plug of plugs) {
      for (const name of Object.keys((plug.definition as { resources?: object }).resources ?? {})) owners.set(name, plug.name);
    }
    for (const [name, served] of this.resources) {
      served.plug = owners.get(name);
      if (served.plug === undefined) this.endViews(served, 'resource_removed');
    }
  }

  /** A started resource, served or not (a plug's onLoad may seed its own before it serves). */
  handle(name: string): ResourceHandle | undefined {
    return this.resources.get(name)?.runtime;
  }

  /** The handles of a plug's resources: `ctx.resources`. */
  private handlesOf(plug: AnyPlug): Record<string, ResourceHandle> {
    const handles: Record<string, ResourceHandle> = {};
    for (const name of Object.keys((plug as { resources?: object }).resources ?? {})) {
      const runtime = this.resources.get(name)?.runtime;
      if (runtime) handles[name] = runtime;
    }
    return handles;
  }

  list(): ResourceInfo[] {
    const infos: ResourceInfo[] = [];
    for (const [name, served] of this.resources) {
      if (served.plug === undefined) continue;
      let subscribers = 0;
      for (const view of served.views.values()) subscribers += view.subscribers.size;
      const runtime = served.runtime;
      infos.push({
        name,
        plug: served.plug,
        key: runtime.definition.key,
        records: runtime.size,
        source: runtime.source.id,
        position: { ...runtime.position },
        views: served.views.size,
        subscribers,
      });
    }
    return infos;
  }

  /** The serving resource of a name, or `unknown_resource`. */
  served(name: string): Served {
    const served = this.resources.get(name);
    if (served === undefined || served.plug === undefined) throw new MessageError(ErrorCode.unknownResource, `no resource "${name}" is served`, { resource: name });
    return served;
  }

  /** Waits for queued writes, then closes every source (shutdown). */
  async stop(): Promise<void> {
    // Every queued write first: resources may share a source (one SQLite file), closed once after all are idle.
    for (const served of this.resources.values()) {
      this.host.bus.unsubscribe(served.runtime.topic, this.onBusMessage);
      await served.runtime.idle();
    }
    const closed = new Set<object>();
    for (const served of this.resources.values()) {
      if (closed.has(served.runtime.source)) continue;
      closed.add(served.runtime.source);
      await served.runtime.close().catch((error: unknown) => this.host.log.error({ err: error, resource: served.runtime.name }, 'closing a resource source failed'));
    }
    this.resources.clear();
    this.byTopic.clear();
  }

  // ---------------------------------------------------------------- delivery

  private readonly onBusMessage = (message: BusMessage): void => {
    const served = this.byTopic.get(message.topic);
    if (served === undefined || served.views.size === 0) return;
    const applied = message.envelope.data as AppliedOperation;
    for (const view of served.views.values()) {
      if (applied.epoch !== view.epoch) {
        // The stream restarted (its history was lost): offsets start again, and subscribers resynchronise.
        view.epoch = applied.epoch;
        view.last = 0;
      } else if (applied.offset <= view.last) continue;
      const operation = this.operationFor(view, applied, view.last);
      if (operation === undefined) continue;
      view.last = applied.offset;
      this.counts.operations++;
      this.host.fanout({ topic: message.topic, envelope: { type: SystemType.liveOp, data: operation } }, view.subscribers.keys());
    }
  };

  private matches(view: View, key: RecordKey, value: unknown): boolean {
    return value !== undefined && matchesQuery(view.query, key, value) && (view.scope === undefined || matchesQuery({ where: view.scope }, key, value));
  }

  /**
   * What an operation is for one view: as it is while the record stays in the view's filter, a `put` when it
   * moves in, a `delete` when it moves out, nothing when it is outside before and after.
   */
  private operationFor(view: View, applied: OperationEntry & { epoch: string; offset: number }, prev: number): LiveOperation | undefined {
    const wasIn = this.matches(view, applied.key, applied.before);
    const isIn = this.matches(view, applied.key, applied.after);
    const base = { view: view.id, resource: view.served.runtime.name, key: applied.key, epoch: applied.epoch, offset: applied.offset, prev };
    if (!wasIn && !isIn) return undefined;
    if (!isIn) return { ...base, op: 'delete' };
    if (!wasIn || applied.op === 'put') return { ...base, op: 'put', value: applied.after, version: applied.version! };
    return { ...base, op: 'patch', patch: applied.patch!, version: applied.version! };
  }

  // ---------------------------------------------------------------- subscriptions

  private async readAdmission(connection: Connection, served: Served): Promise<number> {
    const name = served.runtime.name;
    const rule = served.runtime.definition.access?.read ?? 'grant';
    if (rule === 'public') return Admitted.public;
    if (rule === 'none') throw new MessageError(ErrorCode.forbidden, `${name} is not readable by clients`);
    if (this.auth.grantsOfConnection(connection).allows('read', name)) return Admitted.grant;
    const identity = connection.identity;
    const answer = identity === undefined ? false : this.auth.askHook(identity, 'read', name);
    const allowed = typeof answer === 'boolean' ? answer : await answer;
    if (!allowed || connection.identity !== identity) throw forbidden('read', name);
    return Admitted.hook;
  }

  private checkQuery(served: Served, query: LiveQuery): void {
    const fields = fieldsOf(served.runtime.definition.schema);
    if (fields === undefined || query.where === undefined) return;
    for (const field of Object.keys(query.where)) {
      if (!fields.has(field)) {
        throw new MessageError(ErrorCode.invalidPayload, `${served.runtime.name} has no field "${field}" to filter on`, {
          issues: [{ path: ['where', field], message: `not a field of ${served.runtime.name}` }],
        });
      }
    }
  }

  private async onSubscribe(ctx: HandlerContext, request: z.output<typeof subscribeInput>): Promise<LiveSubscribeReply> {
    const connection = ctx.connection;
    const served = this.served(request.resource);
    const query: LiveQuery = {};
    if (request.key !== undefined) query.key = request.key;
    if (request.where !== undefined) query.where = request.where as Where;
    this.checkQuery(served, query);
    const admitted = await this.readAdmission(connection, served);
    if (connection.closed) throw new MessageError(ErrorCode.disconnected, 'the connection closed');
    if (served.plug === undefined) throw new MessageError(ErrorCode.unknownResource, `no resource "${request.resource}" is served`);
    const scope = served.runtime.definition.scope?.(connection);
    const view = this.join(connection, served, query, scope, admitted);
    const runtime = served.runtime;
    const since = request.since;
    if (since !== undefined && since.epoch === runtime.position.epoch && since.offset <= runtime.position.offset) {
      const limit = this.options.maxRecover;
      const page = await this.host.history.since(runtime.topic, since, { limit: limit + 1 });
      if (!page.reset && page.publications.length <= limit) {
        const operations: LiveReplayedOperation[] = [];
        let prev = since.offset;
        // A replay is bounded in bytes too: one larger than the connection's send buffer would close it as a
        // slow consumer (4001), and it would ask for the same replay again. A snapshot is sent instead.
        let bytes = 0;
        let tooBig = false;
        for (const publication of page.publications) {
          const operation = this.operationFor(view, { ...(publication.data as OperationEntry), epoch: page.position.epoch, offset: publication.offset }, prev);
          if (operation === undefined) continue;
          // The view, resource and epoch are the reply's: not repeated 10,000 times.
          const { view: _view, resource: _resource, epoch: _epoch, ...replayed } = operation;
          bytes += JSON.stringify(replayed).length + 1;
          if (bytes > this.options.maxRecoverBytes) {
            tooBig = true;
            break;
          }
          operations.push(replayed);
          prev = publication.offset;
        }
        if (!tooBig) return this.recoveredReply(runtime, view, page.position, operations);
      }
    }
    return this.snapshotReply(runtime, view, since);
  }

  private recoveredReply(runtime: ResourceRuntime, view: View, position: StreamPosition, operations: LiveReplayedOperation[]): LiveSubscribeReply {
    this.counts.recovered++;
    this.counts.replayed += operations.length;
    return { resource: runtime.name, view: view.id, keyField: runtime.definition.key, position, operations, recovered: true };
  }

  private snapshotReply(runtime: ResourceRuntime, view: View, since: StreamPosition | undefined): LiveSubscribeReply {
    // A snapshot: the records as they are now, with the position they are at (read together, synchronously).
    const records: LiveRecord[] = [];
    for (const [recordKey, held] of runtime.records) {
      if (this.matches(view, recordKey, held.value)) records.push({ key: recordKey, value: held.value, version: held.version });
    }
    this.counts.snapshots++;
    const reply: LiveSubscribeReply = { resource: runtime.name, view: view.id, keyField: runtime.definition.key, position: { ...runtime.position }, records };
    if (since !== undefined) {
      reply.recovered = false;
      this.counts.reset++;
    }
    return reply;
  }

  /** Adds the connection to the view of its query and scope (made on first use). */
  private join(connection: Connection, served: Served, query: LiveQuery, scope: Where | undefined, admitted: number): View {
    const signature = canonicalJson([query.key ?? null, query.where ?? null, scope ?? null]);
    let view = served.views.get(signature);
    const mine = this.viewsOf.get(connection);
    if (view !== undefined && mine?.has(view.id)) return view;
    if (mine !== undefined && mine.size >= this.options.maxPerConnection) {
      throw new MessageError(ErrorCode.limitExceeded, `at most ${this.options.maxPerConnection} resource subscriptions per connection`, { limit: 'maxPerConnection' });
    }
    if (view === undefined) {
      const runtime = served.runtime;
      view = { id: `v${(this.nextView++).toString(36)}`, served, signature, query, scope, subscribers: new Map(), epoch: runtime.position.epoch, last: runtime.position.offset };
      served.views.set(signature, view);
    }
    view.subscribers.set(connection, admitted);
    if (mine === undefined) this.viewsOf.set(connection, new Map([[view.id, view]]));
    else mine.set(view.id, view);
    return view;
  }

  private leave(connection: Connection, view: View): void {
    view.subscribers.delete(connection);
    this.viewsOf.get(connection)?.delete(view.id);
    if (view.subscribers.size === 0) {
      view.served.views.delete(view.signature);
    }
  }

  private onUnsubscribe(connection: Connection, id: string): { view: string } {
    const view = this.viewsOf.get(connection)?.get(id);
    if (view === undefined) throw new MessageError(ErrorCode.notSubscribed, `not subscribed to view ${id}`);
    this.leave(connection, view);
    return { view: id };
  }

  /** The connection's resource subscriptions, for the admin API. */
  describe(connection: Connection): Partial<ConnectionInfo> {
    const views = this.viewsOf.get(connection);
    return views && views.size > 0 ? { resources: [...views.values()].map((view) => ({ resource: view.served.runtime.name, view: view.id })) } : {};
  }

  /** The connection closed: it leaves every view. */
  close(connection: Connection): void {
    const views = this.viewsOf.get(connection);
    if (views === undefined) return;
    for (const view of [...views.values()]) this.leave(connection, view);
    this.viewsOf.delete(connection);
  }

  /** Ends every subscription of a resource's views, telling each connection why. */
  private endViews(served: Served, reason: string): void {
    for (const view of [...served.views.values()]) {
      for (const connection of [...view.subscribers.keys()]) this.end(connection, view, reason, undefined);
    }
  }

  private end(connection: Connection, view: View, reason: string, grant: string | undefined): void {
    this.leave(connection, view);
    const notice: LiveEnded = { view: view.id, resource: view.served.runtime.name, reason };
    if (grant !== undefined) notice.grant = grant;
    this.host.sendTo(connection, { type: SystemType.liveEnded, data: notice });
  }

  /**
   * After the connection's grants or identity changed: ends, at once, every view it may no longer read
   * (`grant_revoked`), and every view whose scope is now different (`access_changed`: the client subscribes
   * again and gets a snapshot of what it may see now).
   */
  accessChanged(connection: Connection, reason: string): void {
    const views = this.viewsOf.get(connection);
    if (views === undefined || views.size === 0) return;
    const grants = this.auth.grantsOfConnection(connection);
    for (const view of [...views.values()]) {
      const admitted = view.subscribers.get(connection);
      const name = view.served.runtime.name;
      const keep = admitted === Admitted.public || grants.allows('read', name) || (admitted === Admitted.hook && connection.identity !== undefined);
      if (!keep) {
        this.end(connection, view, reason, grantFor('read', name));
        continue;
      }
      const scope = view.served.runtime.definition.scope?.(connection);
      if (canonicalJson(scope ?? null) !== canonicalJson(view.scope ?? null)) this.end(connection, view, 'access_changed', undefined);
    }
  }

  // ---------------------------------------------------------------- writes

  /** A client's write: synchronous when its access check and the resource answer at once (no microtask in flight). */
  private onWrite(ctx: HandlerContext, op: WriteRequest['op'], data: Omit<WriteRequest, 'op'> & { resource: string }): MaybePromise<LiveWriteReply> {
    const connection = ctx.connection;
    const served = this.served(data.resource);
    const definition = served.runtime.definition;
    const name = served.runtime.name;
    const rule = definition.access?.write ?? 'grant';
    if (rule === 'none') throw new MessageError(ErrorCode.forbidden, `${name} is not writable by clients`);
    if (rule === 'grant') {
      const answer = this.auth.allows(connection, 'write', name);
      if (isThenable(answer)) {
        return Promise.resolve(answer).then((allowed) => {
          if (!allowed) throw forbidden('write', name);
          return this.applyWrite(connection, served, op, data);
        });
      }
      if (!answer) throw forbidden('write', name);
    }
    return this.applyWrite(connection, served, op, data);
  }

  private applyWrite(connection: Connection, served: Served, op: WriteRequest['op'], data: Omit<WriteRequest, 'op'> & { resource: string }): MaybePromise<LiveWriteReply> {
    const definition = served.runtime.definition;
    const scope = definition.scope?.(connection);
    const guard: WriteGuard = (change) => this.guard(connection, served, scope, change);
    const request: WriteRequest = { op, ...(data.key !== undefined ? { key: data.key } : {}) };
    if (data.value !== undefined || op === 'create' || op === 'put') request.value = data.value;
    if (data.patch !== undefined) request.patch = data.patch;
    if (data.ifVersion !== undefined) request.ifVersion = data.ifVersion;
    const refused = (error: unknown): never => {
      this.counts.refused++;
      throw this.visible(error, connection, served, scope);
    };
    let result: MaybePromise<LiveWriteReply>;
    try {
      result = served.runtime.write(request, guard);
    } catch (error) {
      return refused(error);
    }
    if (isThenable(result)) {
      return Promise.resolve(result).then((reply) => {
        this.counts.writes++;
        return reply;
      }, refused);
    }
    this.counts.writes++;
    return result;
  }

  /** Scope and the resource's own `authorizeWrite`, on the write's result. */
  private guard(connection: Connection, served: Served, scope: Where | undefined, change: WriteChange): void | Promise<void> {
    const name = served.runtime.name;
    if (scope !== undefined) {
      for (const value of [change.before, change.after]) {
        if (value !== undefined && !matchesQuery({ where: scope }, change.key, value)) {
          throw new MessageError(ErrorCode.forbidden, `that record of ${name} is outside what this connection may write`, { scope: true });
        }
      }
    }
    const authorize = served.runtime.definition.authorizeWrite;
    if (authorize === undefined) return undefined;
    const refuse = (answer: boolean | string): void => {
      if (answer === true) return;
      throw new MessageError(ErrorCode.forbidden, typeof answer === 'string' ? answer : `the write to ${name} was refused`);
    };
    let answer: boolean | string | Promise<boolean | string>;
    try {
      answer = authorize(change, connection);
    } catch (error) {
      this.host.log.error({ err: error, resource: name }, 'authorizeWrite threw; refused');
      throw new MessageError(ErrorCode.forbidden, `the write to ${name} was refused`);
    }
    if (!isThenable(answer)) return refuse(answer);
    return Promise.resolve(answer).then(refuse, (error: unknown) => {
      this.host.log.error({ err: error, resource: name }, 'authorizeWrite threw; refused');
      throw new MessageError(ErrorCode.forbidden, `the write to ${name} was refused`);
    });
  }

  /** A conflict names the current record only to a connection that may see it. */
  private visible(error: unknown, connection: Connection, served: Served, scope: Where | undefined): unknown {
    if (!(error instanceof MessageError) || error.code !== ErrorCode.conflict) return error;
    const current = error.details?.current as LiveRecord | undefined;
    if (current === undefined) return error;
    const rule = served.runtime.definition.access?.read ?? 'grant';
    const readable =
      rule === 'public' || (rule === 'grant' && this.auth.grantsOfConnection(connection).allows('read', served.runtime.name));
    if (readable && (scope === undefined || matchesQuery({ where: scope }, current.key, current.value))) return error;
    return new MessageError(ErrorCode.conflict, error.message, {});
  }
}

function forbidden(action: 'read' | 'write', name: string): MessageError {
  const grant = grantFor(action, name);
  return new MessageError(ErrorCode.forbidden, `missing grant "${grant}"`, { grant });
}
