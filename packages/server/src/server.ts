// createServer: the composition root. The one place that picks implementations, lists the features in order,
// wires lifecycle → inbound → outbound, and builds the ServerApi facade once.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { EventEmitter } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { hostname } from 'node:os';
import { Recorder } from './observe/recorder.ts';
import { recorderTap } from './observe/audit-tap.ts';
import type { AuditEntry, ConnectionOpen, Store } from './store/store.ts';
import { BROADCAST_TOPIC, ClusterMessageKind, DIRECT_TOPIC, GRANTS_TOPIC, nodeTopic, type BusMessage, type ClusterMessage } from './bus/bus.ts';
import { CloseCode, jsonCodec, ROOM_SOCKET_PREFIX, SystemType, type Envelope } from '@switchboard/protocol';
import { pino, type Logger } from 'pino';
import { z } from 'zod';
import { AdminApi, adminError } from './admin.ts';
import type { ServerApi, ServerEvents } from './api.ts';
import { Auth } from './auth/auth.ts';
import { resolveAuthOptions } from './auth/options.ts';
import { MemoryBus } from './bus/memory-bus.ts';
import { MemoryPresence } from './presence/memory-presence.ts';
import type { PresenceStore } from './presence/presence-store.ts';
import { MemoryHistory } from './stream/memory-history.ts';
import { registerChannelRoutes } from './channel/admin-routes.ts';
import { Channels } from './channel/channels.ts';
import { LiveData } from './resource/live.ts';
import { Rooms } from './room/rooms.ts';
import { registerRoomRoutes } from './room/admin-routes.ts';
import { registerResourceRoutes } from './resource/admin-routes.ts';
import { AddressLimits } from './connection/address-limits.ts';
import { clientAddress } from './connection/client-address.ts';
import type { Connection } from './connection/connection.ts';
import { Heartbeat } from './connection/heartbeat.ts';
import { Lifecycle } from './pipeline/lifecycle.ts';
import { DevErrorCode, SwitchboardError } from './errors.ts';
import { FeatureList, type Feature } from './feature.ts';
import { registerGrantRoutes } from './auth/admin-routes.ts';
import { GrantStore } from './grants/store.ts';
import { Metrics } from './metrics.ts';
import { createTransportLogger } from './observe/logging.ts';
import { Observability } from './observe/observability.ts';
import { FaultCode, Faults, runAs, type CodeOwner } from './observe/faults.ts';
import { resolveOptions, type ResolvedOptions, type ServerOptions } from './options.ts';
import { InFlight } from './pipeline/drain.ts';
import { Inbound, toIssues } from './pipeline/inbound.ts';
import { Outbound } from './pipeline/outbound.ts';
import { buildRoute, PROTOCOL_OWNER, routeHooks, type Route, type RouteOwner } from './plug/route.ts';
import type { Schema } from './plug/define.ts';
import type { ResourceHandle } from './resource/define.ts';
import { importPlug, isPlugFile } from './plug/loader.ts';
import type { LoadedPlug } from './plug/registry.ts';
import { PlugRegistry } from './plug/registry.ts';
import { PlugWatcher } from './plug/watcher.ts';
import { createAssetHandler, createStaticHandler } from './static.ts';
import { createAdminPageHandler, registerPlugHistory } from './admin-page/serve.ts';
import { createWsTransport } from './transport/ws-transport.ts';

/** Where a listening server can be reached. */
export interface ListenInfo {
  host: string;
  port: number;
  /** The HTTP URL, e.g. http://127.0.0.1:3000 */
  url: string;
  /** The WebSocket URL, e.g. ws://127.0.0.1:3000/ws */
  wsUrl: string;
}

/** A plug as the server lists it. */
export interface PlugInfo {
  name: string;
  version: string;
  file: string | undefined;
  messages: string[];
}

/** What `/admin/metrics` and `server.metrics()` report. */
export type MetricsSnapshot = ReturnType<Metrics['snapshot']>;

/** The server: the plug-facing API plus lifecycle control. */
export interface SwitchboardServer extends ServerApi {
  /** Starts listening; resolves once connections are accepted. */
  listen(): Promise<ListenInfo>;
  /**
   * Graceful shutdown: stop accepting, refuse new messages, let running handlers finish, close every
   * connection with 1001, and force whatever is left when `timeoutMs` runs out.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Shuts down gracefully on SIGTERM and SIGINT, then exits; reopens the log files on SIGUSR1 (`reopenLogs`).
   * Returns a function that removes the handlers.
   */
  handleSignals(): () => void;
  /** Reopens the access log file by its name, after logrotate moved it (SIGUSR1 does this under `handleSignals`). */
  reopenLogs(): void;
  readonly events: EventEmitter<ServerEvents>;
  readonly http: HttpServer;
  readonly options: ResolvedOptions;
  /** Installs or replaces a plug at runtime (static mode or tests). Rejects, changing nothing, when it is invalid. */
  loadPlug(plug: unknown): Promise<PlugInfo>;
  unloadPlug(name: string): Promise<boolean>;
  plugs(): PlugInfo[];
  /** Resolves once every plug file change seen so far has been applied. */
  plugsSettled(): Promise<void>;
  /** Per-message-type measurements, as `/admin/metrics` shows them under `messages`. */
  metrics(): MetricsSnapshot;
}

function plugInfo(plug: LoadedPlug): PlugInfo {
  return { name: plug.name, version: plug.version, file: plug.file, messages: Object.keys(plug.definition.messages) };
}

function defaultLogger(): Logger {
  const level = process.env.SWITCHBOARD_LOG_LEVEL ?? 'info';
  // In production a worker thread writes the lines, so a slow stdout never blocks the event loop
  // (observe/logging.ts); in development, plain synchronous writes: every line is out before the next statement.
  if (process.env.NODE_ENV === 'production') return createTransportLogger({ name: 'switchboard', level });
  return pino({ name: 'switchboard', level });
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}

/** The payload of a protocol message that takes none: absent, null or `{}`. */
const nothing = z.union([z.strictObject({}), z.null()]).optional();

/** The protocol's own routes that belong to no feature: liveness and the manifest. */
function coreFeature(manifest: () => unknown): Feature {
  return {
    name: 'core',
    routes: [
      { type: SystemType.ping, input: nothing, description: 'liveness check; replies {}', handler: () => ({}) },
      { type: SystemType.manifest, input: nothing, description: 'what the server accepts now', handler: () => manifest() },
    ],
  };
}

/**
 * Creates a Switchboard server. Nothing listens until `listen()`.
 *
 * @example
 * const server = createServer({ port: 3000, plugs: './plugs', watch: true, public: './public' });
 * const { url } = await server.listen();
 * server.handleSignals();
 */
export function createServer(input: ServerOptions = {}): SwitchboardServer {
  const options = resolveOptions(input);
  const authOptions = resolveAuthOptions(options.auth);
  const log = options.logger ?? defaultLogger();
  const transport = options.transport ?? createWsTransport();
  const bus = options.bus ?? new MemoryBus();
  const codecs = options.codecs && options.codecs.length > 0 ? options.codecs : [jsonCodec];
  const limits = options.limits;
  const metrics = new Metrics();
  const inFlight = new InFlight();
  const addressLimits = new AddressLimits(limits.perAddress);
  const trustedProxies: ReadonlySet<string> = new Set(options.trustProxy);
  const globalHooks = routeHooks(options.hooks, 'global', undefined);
  /** Every plug version (and import scope) of this server, for attributing faults. */
  const owned = new WeakSet<CodeOwner>([PROTOCOL_OWNER]);
  let shuttingDown = false;
  const isShuttingDown = () => shuttingDown;

  // ------------------------------------------------------------ records: connections, the audit log, runtime grants
  const store = options.store;
  const node = options.node ?? hostname();
  const auditOn = store !== undefined && options.audit.enabled !== false;
  const recorder =
    store === undefined
      ? undefined
      : new Recorder({
          store,
          node,
          log,
          batchSize: options.audit.batchSize,
          flushMs: options.audit.flushMs,
          maxQueue: options.audit.maxQueue,
          spoolFile: options.audit.spool === false ? undefined : resolve(options.audit.spool),
          maxSpoolBytes: options.audit.maxSpoolBytes,
          payloads: options.audit.payloads,
          thread: options.audit.thread,
          redact: options.audit.redact,
        });
  const tap = recorder !== undefined && auditOn ? recorderTap(recorder, node) : undefined;
  const audit = (entry: Omit<AuditEntry, 'at' | 'node'>): void => {
    if (auditOn) recorder!.record({ at: Date.now(), node, ...entry });
  };

  // ------------------------------------------------------------ the message path
  const outbound = new Outbound({
    transport,
    log,
    metrics,
    defaultCodec: codecs[0]!,
    maxBufferedBytes: limits.maxBufferedBytes,
    hooks: globalHooks,
    onSlowConsumer: (connection) => lifecycle.close(connection, CloseCode.slowConsumer, 'slow consumer'),
    isRoute: (type) => type === SystemType.error || protocolRoutes.has(type) || registry.routes.has(type),
  });
  outbound.tap = tap;
  const sendTo = (connection: Connection, envelope: Envelope): boolean => outbound.sendTo(connection, envelope);

  // In development, what an application sends as a declared push or channel event is checked against the
  // plug's schema, and the parsed data is what goes out (the client's types are the schema's output).
  const check = (schemas: () => ReadonlyMap<string, Schema>, kind: string) => (name: string, data: unknown) => {
    const schema = schemas().get(name);
    if (schema === undefined) return data;
    const result = schema.safeParse(data);
    if (result.success) return result.data;
    const issues = toIssues(result.error.issues).map((issue) => `${issue.path.join('.') || '(data)'}: ${issue.message}`);
    throw new SwitchboardError(DevErrorCode.pushInvalid, `${kind} "${name}" does not match its declared schema: ${issues.join('; ')}`);
  };
  const checkPush = options.development ? check(() => registry.pushSchemas, 'push') : undefined;
  const checkEvent = options.development ? check(() => registry.eventSchemas, 'channel event') : undefined;
  const withData = (envelope: Envelope, data: unknown): Envelope => (data === undefined ? { type: envelope.type } : { ...envelope, data });
  const push = (connection: Connection, envelope: Envelope): boolean =>
    outbound.sendTo(connection, checkPush ? withData(envelope, checkPush(envelope.type, envelope.data)) : envelope);
  const closeConnection = (connection: Connection, code: number, reason: string): void => lifecycle.closeConnection(connection, code, reason);

  // ------------------------------------------------------------ features, in order (teardown in reverse)
  const grantStore = new GrantStore();
  // A bus other than the in-memory one links this node to others: grant changes and direct sends cross it.
  const clustered = !(bus instanceof MemoryBus);
  const auth = new Auth(
    {
      log,
      sendTo,
      closeConnection,
      accessChanged: (connection, reason) => {
        features.accessChanged(connection, reason);
        lifecycle.events.emit('access', connection, reason);
      },
      changed: clustered ? (identityId, change, reason) => bus.publish({ kind: ClusterMessageKind.grants, topic: GRANTS_TOPIC, node, identityId, change, ...(reason === undefined ? {} : { reason }) }) : undefined,
    },
    authOptions,
    grantStore,
  );
  const history =
    options.history ?? new MemoryHistory({ maxPublications: options.channels.history.maxPublications, maxAgeMs: options.channels.history.maxAgeMs });
  const fanout = (message: BusMessage, recipients: Iterable<Connection>): number => outbound.fanout(message, recipients);
  const membership = (connection: Connection, channel: string, subscribed: boolean): void => {
    lifecycle.events.emit(subscribed ? 'subscribe' : 'unsubscribe', connection, channel);
  };
  const presence: PresenceStore = options.presence ?? new MemoryPresence();
  const channels = new Channels({ log, bus, history, presence, node, sendTo, fanout, membership }, auth, options.channels);
  // Resources keep their operations in their own in-memory history (other bounds than channels) unless a shared back end is given.
  const resourceHistory =
    options.history ?? new MemoryHistory({ maxPublications: options.resources.history.maxOperations, maxAgeMs: options.resources.history.maxAgeMs });
  const live = new LiveData({ log, bus, history: resourceHistory, sendTo, fanout }, auth, options.resources);
  // Room state patches are node-local: their own in-memory history.
  const roomHistory = new MemoryHistory({ maxPublications: options.rooms.history.maxPatches });
  const rooms = new Rooms(
    {
      log,
      history: roomHistory,
      sendTo,
      fanout: (envelope, recipients) => outbound.fanout({ topic: 'local', envelope }, recipients),
      closeConnection: (connection, code, reason) => closeConnection(connection, code, reason),
      checkPushes: options.development,
    },
    auth,
    options.rooms,
  );
  const features = new FeatureList([coreFeature(() => registry.manifest), auth, channels, live, rooms]);

  /** A grant change or a user disabled/enabled: in the audit log, then as the API answers. */
  function changed<T>(type: string, identityId: string, data: Record<string, unknown>, result: T): T {
    audit({ type, identityId, data: { ...data, result: result as unknown } });
    return result;
  }

  // Runtime grants and disabled users persist in the store, in the order they change: a revoked user does not
  // get access back when the server restarts.
  let persisting: Promise<unknown> = Promise.resolve();
  const persist = (what: string, write: (store: Store) => Promise<unknown>): void => {
    if (store === undefined) return;
    persisting = persisting.then(() => write(store)).catch((error: unknown) => log.error({ err: error, code: FaultCode.storeUnavailable, what }, `persisting ${what} failed`));
  };
  grantStore.persist = {
    saved: (identityId, record) => persist('runtime grants', (s) => s.saveGrants({ identityId, ...record, updatedAt: Date.now() })),
    deleted: (identityId) => persist('runtime grants', (s) => s.deleteGrants(identityId)),
    disabled: (identityId, reason) => persist('a disabled user', (s) => s.disableUser({ identityId, reason, disabledAt: Date.now() })),
    enabled: (identityId) => persist('an enabled user', (s) => s.enableUser(identityId)),
  };

  // ------------------------------------------------------------ the facade plugs and applications use
  const api: ServerApi = {
    broadcast(type, data, broadcastOptions) {
      if (checkPush) data = checkPush(type, data);
      const except = broadcastOptions?.except;
      const message: BusMessage = { topic: BROADCAST_TOPIC, envelope: data === undefined ? { type } : { type, data } };
      if (except !== undefined) message.except = typeof except === 'string' ? except : except.id;
      bus.publish(message);
    },
    send(connectionId, type, data) {
      const connection = lifecycle.byId.get(connectionId);
      if (connection !== undefined) return connection.send(type, data);
      if (!clustered) return false;
      // Not here: the node that holds it delivers it (every node listens on the direct topic).
      if (checkPush) data = checkPush(type, data);
      bus.publish({ kind: ClusterMessageKind.direct, topic: DIRECT_TOPIC, connectionId, envelope: data === undefined ? { type } : { type, data } });
      return true;
    },
    connection: (id) => lifecycle.byId.get(id),
    connections: () => lifecycle.byId.values(),
    get connectionCount() {
      return lifecycle.byId.size;
    },
    manifest: () => registry.manifest,
    resource<T>(name: string) {
      const handle = live.handle(name);
      if (handle === undefined) throw new SwitchboardError(DevErrorCode.badArgument, `no resource "${name}": declare it in a plug's resources`);
      return handle as ResourceHandle<T>;
    },
    resources: () => live.list(),
    rooms: () => rooms.list(),
    async createRoom(kind, roomOptions, id) {
      return (await rooms.create(kind, roomOptions, id)).describe();
    },
    closeRoom: (id, message) => rooms.closeRoom(id, message),
    publish: (channel, event, data, publishOptions) => channels.publish(channel, event, checkEvent ? checkEvent(event, data) : data, publishOptions),
    channels: () => channels.channels(),
    members: (channel) => channels.members(channel),
    grant: (identityId, grants, changeOptions) => changed('grants.grant', identityId, { grants }, auth.grant(identityId, grants, changeOptions)),
    revoke: (identityId, grants, changeOptions) => changed('grants.revoke', identityId, { grants }, auth.revoke(identityId, grants, changeOptions)),
    setGrants: (identityId, grants, changeOptions) => changed('grants.set', identityId, { grants }, auth.setGrants(identityId, grants, changeOptions)),
    resetGrants: (identityId, changeOptions) => changed('grants.reset', identityId, {}, auth.resetGrants(identityId, changeOptions)),
    grantsOf: (identityId) => auth.grantsOf(identityId),
    disableUser: (identityId, reason) => changed('user.disabled', identityId, { reason: reason ?? null }, auth.disableUser(identityId, reason)),
    enableUser: (identityId) => changed('user.enabled', identityId, {}, auth.enableUser(identityId)),
    log,
  };

  const registry = new PlugRegistry(options.hooks, api, log, (plug, where) => {
    rooms.prepare(plug, where);
    return live.prepare(plug, where);
  });
  const protocolHooks = routeHooks(options.hooks, PROTOCOL_OWNER.name, undefined);
  const protocolRoutes = new Map<string, Route>();
  for (const [type, route] of features.routes) {
    protocolRoutes.set(type, buildRoute(type, PROTOCOL_OWNER, { input: route.input, handler: route.handler, description: route.description }, protocolHooks, true));
  }
  // A connection bound to a room (/socket/:id) sends the room's own message types; each is a protocol route
  // (no call: grant; joining needed join:<kind>) that the room validates against its schema.
  const boundRoutes = new Map<string, Route>();
  const boundRoute = (connection: Connection, type: string): Route | undefined => {
    if (!rooms.accepts(connection, type)) return undefined;
    let route = boundRoutes.get(type);
    if (route === undefined) {
      route = buildRoute(type, PROTOCOL_OWNER, { input: z.unknown(), handler: (data, ctx) => rooms.dispatchBound(ctx, type, data) }, protocolHooks, true);
      if (boundRoutes.size < 10_000) boundRoutes.set(type, route);
    }
    return route;
  };
  const faults = new Faults({
    policy: options.faults.policy,
    stallMs: options.faults.stallMs,
    log,
    owns: (owner) => owned.has(owner) || rooms.owns(owner),
    unload: (name) => unload({ name }),
  });
  const inbound = new Inbound({
    log,
    metrics,
    outbound,
    inFlight,
    features,
    faults,
    api,
    rateLimit: limits.rateLimit,
    maxInFlight: limits.maxInFlight,
    handlerTimeoutMs: limits.handlerTimeoutMs,
    lookup: (type, connection) =>
      type.charCodeAt(0) === 36 /* $ */ ? protocolRoutes.get(type) : connection.bound === undefined ? registry.routes.get(type) : boundRoute(connection, type),
    shuttingDown: isShuttingDown,
    takeAddressToken: (connection) => addressLimits.takeMessage(connection.remoteAddress),
    closeConnection,
    ...(checkPush ? { checkPush } : {}),
    ...(tap ? { tap } : {}),
  });
  const lifecycle: Lifecycle = new Lifecycle({
    log,
    metrics,
    features,
    codecs,
    maxConnections: limits.maxConnections,
    burst: limits.rateLimit.burst,
    maxEarlyFrames: limits.maxEarlyFrames,
    maxEarlyBytes: limits.maxEarlyBytes,
    welcome: (connection) => ({
      connectionId: connection.id,
      protocol: 1,
      codec: connection.codec.name,
      manifestVersion: registry.manifest.version,
      heartbeatMs: options.heartbeat.intervalMs,
      maxPayload: limits.maxPayload,
    }),
    hooks: () => registry,
    ownerOf: (name) => registry.get(name),
    api: () => api,
    addressOf: (request) => clientAddress(request, trustedProxies),
    admitAddress: (address) => addressLimits.admit(address),
    addressOpened: (address) => addressLimits.opened(address),
    addressClosed: (address) => addressLimits.closed(address),
    handleFrame: (connection, data, isBinary) => inbound.frame(connection, data, isBinary),
    sendTo,
    push,
    shuttingDown: isShuttingDown,
  });
  if (recorder !== undefined) {
    lifecycle.events.on('open', (connection) => {
      const record: ConnectionOpen = {
        id: connection.id,
        node,
        pid: process.pid,
        remoteAddress: connection.remoteAddress,
        userAgent: connection.userAgent,
        protocol: 'switchboard.v1',
        codec: connection.codec.name,
        connectedAt: connection.connectedAt,
      };
      const identityId = connection.identity?.id;
      if (identityId !== undefined) record.identityId = identityId;
      recorder.opened(record);
    });
    lifecycle.events.on('close', (connection, code, reason) => {
      // Requests still waiting for a reply are recorded before the connection's close.
      tap?.closed(connection);
      const info = connection.info();
      recorder.closed(connection.id, { code, reason, bytesIn: info.bytesIn, bytesOut: info.bytesOut, messagesIn: info.messagesIn, messagesOut: info.messagesOut, closedAt: Date.now() });
    });
  }
  const heartbeat = new Heartbeat({
    intervalMs: options.heartbeat.intervalMs,
    idleTimeoutMs: options.idleTimeoutMs,
    log,
    connections: () => lifecycle.byId.values(),
    closeConnection,
  });
  bus.subscribe(BROADCAST_TOPIC, (message) => outbound.fanout(message, lifecycle.byId.values()));
  if (clustered) {
    const events = bus as Partial<EventEmitter>;
    if (typeof events.on === 'function') {
      events.on.call(bus, 'down', (error?: Error) =>
        log.warn({ err: error, node }, 'the cluster bus is down: only this node\'s connections are served; the health check answers 503'),
      );
      events.on.call(bus, 'up', () => log.info({ node }, 'the cluster bus is up: cross-node delivery works'));
    }
    // What other nodes send this one: direct sends to connections it may hold, grant changes made elsewhere.
    const onCluster = (message: ClusterMessage): void => {
      if (message.kind === ClusterMessageKind.direct) {
        const connection = lifecycle.byId.get(message.connectionId);
        if (connection !== undefined) sendTo(connection, message.envelope);
      } else if (message.kind === ClusterMessageKind.grants && message.node !== node) {
        try {
          auth.applyRemote(message.identityId, message.change, message.reason);
        } catch (error) {
          log.error({ err: error, identityId: message.identityId, from: message.node }, 'a grant change from another node could not be applied');
        }
      }
    };
    bus.subscribe(DIRECT_TOPIC, onCluster);
    bus.subscribe(nodeTopic(node), onCluster);
    bus.subscribe(GRANTS_TOPIC, onCluster);
  }

  // ------------------------------------------------------------ HTTP: admin API and static files
  const servePublic = options.public === false ? undefined : createStaticHandler(options.public);
  const serveAssets = options.assets ? createAssetHandler(options.assets) : undefined;
  const serveStatic =
    servePublic || serveAssets
      ? async (req: IncomingMessage, res: ServerResponse) =>
          ((await serveAssets?.(req, res)) ?? false) || ((await servePublic?.(req, res)) ?? false)
      : undefined;
  const admin = new AdminApi(options.adminPath, options.adminToken);
  // Admin actions are audited: every write, with the body it sent as its payload (redacted like a message's),
  // and every request refused (by the token check, for a missing route or a bad body, or by its route). Reads
  // that passed (the admin page polls several routes a second) are not actions and would drown the log.
  admin.onRequest = ({ method, path, status, admin: authorized, remoteAddress, body }) => {
    if (method === 'GET' && authorized && status < 400) return;
    const data: Record<string, unknown> = { method, path, status, authorized, remoteAddress };
    if (body !== undefined) data.payload = body;
    audit({ type: 'admin.request', data });
  };
  const startedAt = Date.now();
  const plugsDir = typeof options.plugs === 'string' ? resolve(options.plugs) : undefined;
  let watcher: PlugWatcher | undefined;
  let listening: ListenInfo | undefined;
  let closing: Promise<void> | undefined;
  let retention: NodeJS.Timeout | undefined;

  admin.route('GET', '/metrics', () => ({
    status: 200,
    body: {
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      connections: { open: lifecycle.byId.size, opened: metrics.connectionsOpened, closed: metrics.connectionsClosed },
      messages: metrics.snapshot(),
      inFlight: inFlight.count,
      history: { ...channels.recoveries },
      live: { ...live.counts },
      ...(recorder ? { audit: { ...recorder.counts, queued: recorder.queued, spoolBytes: recorder.spooled, storeAvailable: recorder.available } } : {}),
      rooms: { instances: rooms.list().length, ...rooms.counts },
      ...faults.snapshot(),
    },
  }));
  admin.route('GET', '/connections', () => ({ status: 200, body: { connections: [...lifecycle.byId.values()].map((c) => c.info()) } }));
  /** `?identityId=&connectionId=&type=&channel=&room=&resource=&messageType=&since=&until=&limit=` → store query fields. */
  const queryOf = (query: URLSearchParams, text: readonly string[], times: readonly string[]): Record<string, string | number> | string => {
    const out: Record<string, string | number> = {};
    for (const [key, value] of query) {
      if (text.includes(key)) out[key] = value;
      else if (times.includes(key)) {
        const parsed = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
        if (!Number.isFinite(parsed)) return `"${key}" must be a time (ms since the epoch, or ISO 8601)`;
        out[key] = parsed;
      } else return `unknown query field "${key}"; use ${[...text, ...times].join(', ')}`;
    }
    return out;
  };
  admin.route('GET', '/audit', async (request) => {
    if (store === undefined) return adminError(404, 'no_store', 'no store is configured: nothing is recorded (docs/operations.md)');
    const query = queryOf(request.query, ['identityId', 'connectionId', 'type', 'channel', 'room', 'resource', 'messageType'], ['since', 'until', 'limit']);
    if (typeof query === 'string') return adminError(400, 'invalid_query', query);
    try {
      return { status: 200, body: { records: await store.audit(query) } };
    } catch (error) {
      return adminError(error instanceof RangeError ? 400 : 503, error instanceof RangeError ? 'invalid_query' : 'store_unavailable', (error as Error).message);
    }
  });
  admin.route('GET', '/connections/history', async (request) => {
    if (store === undefined) return adminError(404, 'no_store', 'no store is configured: nothing is recorded (docs/operations.md)');
    const raw = queryOf(request.query, ['node', 'identityId', 'open'], ['since', 'until', 'limit']);
    if (typeof raw === 'string') return adminError(400, 'invalid_query', raw);
    const { open, ...rest } = raw;
    const query = open === undefined ? rest : { ...rest, open: open === 'true' };
    try {
      return { status: 200, body: { connections: await store.connections(query) } };
    } catch (error) {
      return adminError(error instanceof RangeError ? 400 : 503, error instanceof RangeError ? 'invalid_query' : 'store_unavailable', (error as Error).message);
    }
  });
  admin.route('GET', '/plugs', () => ({ status: 200, body: { plugs: registry.list().map(plugInfo) } }));
  admin.route('GET', '/manifest', () => ({ status: 200, body: registry.manifest }));
  registerGrantRoutes(admin, auth);
  registerChannelRoutes(admin, channels, auth);
  registerResourceRoutes(admin, live);
  registerRoomRoutes(admin, rooms);
  // The admin web page (admin-page/serve.ts): its shell and static files at adminPath/ (no data, so no admin
  // check), and the plug hot-swap history it shows, GET adminPath/plugs/history (checked, like every admin route).
  const adminPage = createAdminPageHandler(options.adminPath);
  registerPlugHistory(admin, lifecycle.events);

  // ------------------------------------------------------------ observability (observe/observability.ts): Prometheus
  // at metricsPath (protected like the admin API), the access log, and flushing logs at shutdown.
  const observe = new Observability({
    options,
    log,
    admin,
    sources: {
      metrics,
      connectionsOpen: () => lifecycle.byId.size,
      inFlight: () => inFlight.count,
      channels: () => channels.channels(),
      resources: () => live.list(),
      rooms: () => rooms.list(),
      roomCounts: rooms.counts,
      faults: () => ({ total: faults.total, stalls: faults.stalls }),
      audit: () => (recorder ? { ...recorder.counts, queued: recorder.queued, spoolBytes: recorder.spooled, storeAvailable: recorder.available } : undefined),
      busConnected: () => (clustered ? bus.connected !== false : undefined),
      events: lifecycle.events,
    },
  });

  /** `GET /healthz`: unauthenticated, cheap, and honest — 503 as soon as shutdown begins, so traffic drains away. */
  const health = (res: ServerResponse): void => {
    // Unhealthy, too, while the cluster bus is down: this node serves its own connections, but publishes no
    // longer reach the others' (a green check then is the failure users report most).
    const busDown = clustered && bus.connected === false;
    const body = JSON.stringify({
      status: shuttingDown ? 'shutting_down' : busDown ? 'bus_down' : 'ok',
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      connections: lifecycle.byId.size,
      plugs: registry.list().length,
      ...(clustered ? { node, bus: busDown ? 'down' : 'up' } : {}),
    });
    res.writeHead(shuttingDown || busDown ? 503 : 200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (observe.request(req, res)) return; // starts the access-log entry; answers a scrape of metricsPath
    const url = req.url ?? '/';
    if (options.healthPath !== false && (url === options.healthPath || url.startsWith(`${options.healthPath}?`))) return health(res);
    if (adminPage(req, res)) return; // the admin page: GET adminPath, adminPath/ and adminPath/ui/…
    if (admin.matches(url)) {
      void admin.handle(req, res);
      return;
    }
    const respond404 = () => {
      const text = 'Not Found';
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': text.length });
      res.end(text);
    };
    if (!serveStatic) return respond404();
    serveStatic(req, res).then(
      (served) => {
        if (!served) respond404();
      },
      (error: unknown) => {
        log.error({ err: error, url }, 'static file failed');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      },
    );
  };
  const http = createHttpServer(onRequest);
  transport.attach(
    http,
    {
      path: options.path,
      prefixes: [ROOM_SOCKET_PREFIX],
      maxPayload: limits.maxPayload,
      upgradeTimeoutMs: limits.upgradeTimeoutMs,
      upgradeAnswered: observe.upgradeAnswered, // upgrades in the access log: 101, or the refusal's status
    },
    lifecycle,
  );

  // ------------------------------------------------------------ plugs
  function announceSwap(changed: boolean): void {
    if (!changed) return;
    const envelope = { type: SystemType.manifest, data: registry.manifest };
    // Each node pushes its own manifest to its own connections: no bus.
    outbound.fanout({ topic: 'local', envelope }, lifecycle.byId.values());
  }

  /** A scope for plug code that runs before its LoadedPlug exists (import, onLoad), for attributing faults. */
  function scopeFor(name: string, version: string): RouteOwner {
    const scope: RouteOwner = { name, version, state: new Map() };
    owned.add(scope);
    return scope;
  }

  async function install(definition: unknown, source: { file?: string; version: string }): Promise<LoadedPlug> {
    const name = (definition as { name?: unknown } | null)?.name;
    const scope = scopeFor(typeof name === 'string' ? name : basename(source.file ?? 'plug'), source.version);
    const result = await runAs(scope, () => registry.install(definition, source));
    const { plug, previous } = result;
    owned.add(plug);
    live.sync(registry.list());
    rooms.sync(registry.list());
    log.info(
      { plug: plug.name, version: plug.version, previousVersion: previous?.version, file: plug.file, messages: Object.keys(plug.definition.messages) },
      previous ? 'plug swapped' : 'plug loaded',
    );
    lifecycle.events.emit('plug:loaded', { name: plug.name, version: plug.version, file: plug.file, previousVersion: previous?.version });
    announceSwap(result.manifestChanged);
    return plug;
  }

  async function loadFile(file: string): Promise<void> {
    try {
      const imported = await runAs(scopeFor(basename(file), 'import'), importPlug, file);
      // The same bytes again (a touch, an editor's second write): nothing to do.
      const current = registry.byFile(file);
      if (current?.source === imported.version) return;
      const declared = (imported.definition as { version?: unknown } | null)?.version;
      if (current && typeof declared === 'string' && declared === current.version) {
        log.warn(
          { file, plug: current.name, version: declared },
          `plug file changed but its version "${declared}" did not; swapped anyway (bump "version" so clients can tell the versions apart)`,
        );
      }
      await install(imported.definition, { file, version: imported.version });
    } catch (error) {
      const err = error as Error;
      const serving = registry.byFile(file);
      log.error(
        { file, code: (err as SwitchboardError).code, servingVersion: serving?.version },
        `plug rejected: ${err.message}${serving ? ` (version ${serving.version} keeps serving)` : ''}`,
      );
      lifecycle.events.emit('plug:rejected', { file, error: err });
    }
  }

  /** Removes a plug (by name, or the one a deleted file held) and tells everyone; false when there was none. */
  async function unload(target: { name: string } | { file: string }): Promise<boolean> {
    const removed = await registry.remove(target);
    if (!removed) return false;
    live.sync(registry.list());
    rooms.sync(registry.list());
    rooms.sync(registry.list());
    log.info({ plug: removed.name, version: removed.version, file: removed.file }, 'plug removed');
    lifecycle.events.emit('plug:unloaded', { name: removed.name, version: removed.version, file: removed.file });
    announceSwap(true);
    return true;
  }

  async function loadInitialPlugs(): Promise<void> {
    if (plugsDir === undefined) {
      for (const plug of options.plugs as unknown[]) await install(plug, { version: 'static' });
      return;
    }
    const info = await stat(plugsDir).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new SwitchboardError(DevErrorCode.plugsDirMissing, `plugs folder ${plugsDir} does not exist; create it or pass plugs: [...]`);
    }
    const files = (await readdir(plugsDir)).filter(isPlugFile).sort();
    for (const name of files) await loadFile(join(plugsDir, name));
    if (options.watch) {
      watcher = new PlugWatcher(plugsDir, { load: loadFile, unload: async (file) => void (await unload({ file })) });
      watcher.start();
    }
  }

  // ------------------------------------------------------------ listen and shutdown
  /** Before serving: the store's schema is up to date, a crash's open connections are closed, runtime grants are back. */
  async function openStore(): Promise<void> {
    if (store === undefined) return;
    await store.migrate();
    const now = Date.now();
    const crash = (reason: string) => ({ code: 1006, reason, bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, closedAt: now });
    const stale = await store.closeNode(node, crash('the node restarted'));
    if (stale > 0) log.warn({ node, connections: stale }, 'connections left open by an earlier run of this node were closed in the store');
    // A dead cluster worker's: its node name (it holds the pid) never starts again, so a successor closes them.
    for (const dead of options.staleNodes) {
      if (dead === node) continue;
      const left = await store.closeNode(dead, crash('the node died'));
      if (left > 0) log.warn({ node: dead, connections: left }, 'connections left open by a worker that died were closed in the store');
    }
    grantStore.load(await store.loadGrants());
    if (options.audit.retentionMs > 0) {
      const enforce = (): void => {
        const before = Date.now() - options.audit.retentionMs;
        void Promise.all([store.deleteAuditBefore(before), store.deleteClosedConnections(before)]).catch((error: unknown) =>
          log.error({ err: error }, 'enforcing the audit retention failed'),
        );
      };
      enforce();
      retention = setInterval(enforce, 3_600_000);
      retention.unref();
    }
  }

  /**
   * In a cluster: presence entries an earlier run of this node left are removed (their leaves announced), and
   * with a store that tracks liveness the node says it is alive and sweeps dead nodes, so a node that died
   * leaves no ghosts; a store that lost its data (`reset`) gets this node's members again.
   */
  let liveness: NodeJS.Timeout | undefined;
  async function joinCluster(): Promise<void> {
    if (!clustered) return;
    const { heartbeatMs, nodeTtlMs } = options.cluster;
    channels.announce(await presence.removeNode(node));
    const events = presence as Partial<EventEmitter>;
    if (typeof events.on === 'function') {
      events.on.call(presence, 'reset', () => {
        log.warn({ node }, 'the presence store lost its data; this node adds its members again');
        channels.restorePresence();
      });
    }
    if (presence.alive === undefined || presence.sweep === undefined) return;
    const beat = async (): Promise<void> => {
      await presence.alive!(node, nodeTtlMs);
      const leaves = await presence.sweep!();
      if (leaves.length > 0) log.warn({ node, leaves: leaves.length }, 'presence of nodes that stopped answering was removed');
      channels.announce(leaves);
    };
    const tick = (): void => {
      beat().catch((error: unknown) => log.warn({ err: error, node }, 'presence heartbeat failed; retrying'));
    };
    await beat();
    liveness = setInterval(tick, heartbeatMs);
    liveness.unref();
  }

  async function listen(): Promise<ListenInfo> {
    if (listening) return listening;
    await observe.start(); // opens the access log file: a path that cannot be written fails here
    await openStore();
    await joinCluster();
    faults.start();
    await loadInitialPlugs();
    await new Promise<void>((resolveListen, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        reject(
          new SwitchboardError(
            DevErrorCode.listenFailed,
            error.code === 'EADDRINUSE'
              ? `port ${options.port} on ${options.host} is in use; pick another with --port or PORT`
              : `cannot listen on ${options.host}:${options.port}: ${error.message}`,
            { cause: error },
          ),
        );
      };
      http.once('error', onError);
      http.listen(options.port, options.host, () => {
        http.off('error', onError);
        resolveListen();
      });
    }).catch((error: unknown) => {
      faults.stop();
      throw error;
    });
    heartbeat.start();
    const address = http.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    listening = { host: options.host, port, url: `http://${host}:${port}`, wsUrl: `ws://${host}:${port}${options.path}` };
    return listening;
  }

  async function shutdown(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(0, deadline - Date.now());
    shuttingDown = true;
    watcher?.close();
    rooms.stop();
    transport.close();
    // Let running handlers (protocol ones too: a $subscribe waiting on an authorize hook) finish so their replies go
    // out first. HTTP stays up meanwhile, so a load balancer's health check sees 503 and sends no one new.
    await Promise.race([inFlight.drained(), delay(remaining())]);
    const httpClosed = listening ? new Promise<void>((done) => http.close(() => done())) : Promise.resolve();
    http.closeIdleConnections();
    const closed = new Promise<void>((done) => {
      if (lifecycle.byId.size === 0) return done();
      const onClose = () => {
        if (lifecycle.byId.size > 0) return;
        lifecycle.events.off('close', onClose);
        done();
      };
      lifecycle.events.on('close', onClose);
    });
    for (const connection of [...lifecycle.byId.values()]) lifecycle.closeConnection(connection, CloseCode.goingAway, 'server shutting down');
    await Promise.race([closed, delay(remaining())]);
    for (const connection of lifecycle.byId.values()) connection.socket.terminate();
    heartbeat.stop();
    await registry.clear();
    await live.stop();
    await roomHistory.close();
    await channels.settled(); // the leaves of the connections just closed are announced before the bus goes
    await bus.close();
    await history.close();
    await presence.close();
    clearInterval(retention);
    clearInterval(liveness);
    await recorder?.close();
    await persisting;
    await store?.close();
    if (resourceHistory !== history) await resourceHistory.close();
    faults.stop();
    http.closeAllConnections();
    await httpClosed;
    log.info('server stopped');
    await observe.close(); // the access log's and the application log's last lines are written before close resolves
  }

  const control = {
    listen,
    close(closeOptions?: { timeoutMs?: number }) {
      return (closing ??= shutdown(closeOptions?.timeoutMs ?? options.shutdownTimeoutMs));
    },
    handleSignals() {
      const onSignal = (signal: NodeJS.Signals) => {
        log.info({ signal }, 'shutting down');
        const force = setTimeout(() => process.exit(1), options.shutdownTimeoutMs + 2_000);
        force.unref();
        server.close().then(
          () => process.exit(0),
          (error: unknown) => {
            log.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      // SIGUSR1, as for nginx: reopen the log files logrotate moved. (With a listener, Node no longer starts
      // its inspector on SIGUSR1; use --inspect for that.)
      const onReopen = () => server.reopenLogs();
      process.on('SIGUSR1', onReopen);
      return () => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        process.off('SIGUSR1', onReopen);
      };
    },
    events: lifecycle.events,
    http,
    options,
    async loadPlug(plug: unknown) {
      return plugInfo(await install(plug, { version: 'static' }));
    },
    unloadPlug: (name: string) => unload({ name }),
    plugs: () => registry.list().map(plugInfo),
    plugsSettled: () => watcher?.idle() ?? Promise.resolve(),
    metrics: () => metrics.snapshot(),
    reopenLogs: () => observe.reopen(),
  };
  // The server is the facade plus control: it inherits the ServerApi methods rather than forwarding them.
  const server: SwitchboardServer = Object.assign(Object.create(api) as ServerApi, control);
  return server;
}
