// createServer: the one place that chooses implementations and wires transport, plugs, bus, HTTP and admin.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CloseCode, jsonCodec, SystemType } from '@switchboard/protocol';
import { pino, type Logger } from 'pino';
import { AdminApi } from './admin.ts';
import type { ServerApi } from './api.ts';
import { Auth } from './auth/auth.ts';
import { resolveAuthOptions } from './auth/options.ts';
import { registerChannelRoutes } from './channel/admin-routes.ts';
import { Channels } from './channel/channels.ts';
import { resolveChannelOptions } from './channel/options.ts';
import { registerGrantRoutes } from './grants/admin-routes.ts';
import { GrantStore } from './grants/store.ts';
import { MemoryBus } from './bus/memory-bus.ts';
import { resolveOptions, type ResolvedOptions, type ServerOptions } from './config.ts';
import { Core, type ServerEvents } from './core.ts';
import { DevErrorCode, SwitchboardError } from './errors.ts';
import { importPlug, isPlugFile } from './plug/loader.ts';
import type { LoadedPlug } from './plug/registry.ts';
import { PlugWatcher } from './plug/watcher.ts';
import { createAssetHandler, createStaticHandler } from './static.ts';
import { createWsTransport } from './transport/ws-transport.ts';
import type { EventEmitter } from 'node:events';

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

/** The server: the plug-facing API plus lifecycle control. */
export interface SwitchboardServer extends ServerApi {
  /** Starts listening; resolves once connections are accepted. */
  listen(): Promise<ListenInfo>;
  /**
   * Graceful shutdown: stop accepting, refuse new messages, let running handlers finish, close every
   * connection with 1001, and force whatever is left when `timeoutMs` runs out.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /** Shuts down gracefully on SIGTERM and SIGINT, then exits. Returns a function that removes the handlers. */
  handleSignals(): () => void;
  readonly events: EventEmitter<ServerEvents>;
  readonly http: HttpServer;
  readonly options: ResolvedOptions;
  /** Installs or replaces a plug at runtime (static mode or tests). Rejects, changing nothing, when it is invalid. */
  loadPlug(plug: unknown): Promise<PlugInfo>;
  unloadPlug(name: string): Promise<boolean>;
  plugs(): PlugInfo[];
  /** Resolves once every plug file change seen so far has been applied. */
  plugsSettled(): Promise<void>;
  /** Per-message-type measurements, as `/admin/metrics` shows them. */
  metrics(): ReturnType<Core['metrics']['snapshot']>;
}

function plugInfo(plug: LoadedPlug): PlugInfo {
  return { name: plug.name, version: plug.version, file: plug.file, messages: Object.keys(plug.definition.messages) };
}

function defaultLogger(): Logger {
  return pino({ name: 'switchboard', level: process.env.SWITCHBOARD_LOG_LEVEL ?? 'info' });
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
  const authOptions = resolveAuthOptions(input.auth);
  const channelOptions = resolveChannelOptions(input.channels);
  const log = input.logger ?? defaultLogger();
  const transport = input.transport ?? createWsTransport();
  const bus = input.bus ?? new MemoryBus();
  const codecs = input.codecs && input.codecs.length > 0 ? input.codecs : [jsonCodec];
  const core = new Core(options, log, transport, bus, codecs, input.hooks ?? {});
  const registry = core.registry;
  const auth = new Auth(core, authOptions, new GrantStore());
  auth.install();
  const channels = new Channels(core, auth, channelOptions);
  channels.install();
  core.grantApi = auth;
  core.channelApi = channels;
  const servePublic = options.public === false ? undefined : createStaticHandler(options.public);
  const serveAssets = input.assets ? createAssetHandler(input.assets) : undefined;
  const serveStatic =
    servePublic || serveAssets
      ? async (req: IncomingMessage, res: ServerResponse) =>
          ((await serveAssets?.(req, res)) ?? false) || ((await servePublic?.(req, res)) ?? false)
      : undefined;
  const admin = new AdminApi(options.adminPath, options.adminToken);
  const startedAt = Date.now();
  const plugsDir = typeof options.plugs === 'string' ? resolve(options.plugs) : undefined;
  let watcher: PlugWatcher | undefined;
  let listening: ListenInfo | undefined;
  let closing: Promise<void> | undefined;

  admin.route('GET', '/metrics', () => ({
    status: 200,
    body: {
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      connections: { open: core.connectionCount, opened: core.metrics.connectionsOpened, closed: core.metrics.connectionsClosed },
      messages: core.metrics.snapshot(),
    },
  }));
  admin.route('GET', '/connections', () => ({ status: 200, body: { connections: [...core.connections()].map((c) => c.info()) } }));
  admin.route('GET', '/plugs', () => ({ status: 200, body: { plugs: registry.list().map(plugInfo) } }));
  admin.route('GET', '/manifest', () => ({ status: 200, body: registry.manifest }));
  registerGrantRoutes(admin, auth);
  registerChannelRoutes(admin, channels, auth);

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
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
  transport.attach(http, { path: options.path, maxPayload: options.limits.maxPayload }, core);

  function announceSwap(changed: boolean): void {
    if (!changed) return;
    const envelope = { type: SystemType.manifest, data: registry.manifest };
    // Each node pushes its own manifest to its own connections: no bus.
    core.fanout({ topic: 'local', envelope }, core.connections());
  }

  async function install(definition: unknown, source: { file?: string; version: string }): Promise<LoadedPlug> {
    const result = await registry.install(definition, source);
    const { plug, previous } = result;
    log.info(
      { plug: plug.name, version: plug.version, previousVersion: previous?.version, file: plug.file, messages: Object.keys(plug.definition.messages) },
      previous ? 'plug swapped' : 'plug loaded',
    );
    core.events.emit('plug:loaded', { name: plug.name, version: plug.version, file: plug.file, previousVersion: previous?.version });
    announceSwap(result.manifestChanged);
    return plug;
  }

  async function loadFile(file: string): Promise<void> {
    try {
      const current = registry.byFile(file);
      const imported = await importPlug(file);
      if (current && current.version === ((imported.definition as { version?: string }).version ?? imported.version)) return;
      await install(imported.definition, { file, version: imported.version });
    } catch (error) {
      const err = error as Error;
      const serving = registry.byFile(file);
      log.error(
        { file, code: (err as SwitchboardError).code, servingVersion: serving?.version },
        `plug rejected: ${err.message}${serving ? ` (version ${serving.version} keeps serving)` : ''}`,
      );
      core.events.emit('plug:rejected', { file, error: err });
    }
  }

  async function unloadFile(file: string): Promise<void> {
    const removed = await registry.remove({ file });
    if (!removed) return;
    log.info({ plug: removed.name, version: removed.version, file }, 'plug removed');
    core.events.emit('plug:unloaded', { name: removed.name, version: removed.version, file });
    announceSwap(true);
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
      watcher = new PlugWatcher(plugsDir, { load: loadFile, unload: unloadFile });
      watcher.start();
    }
  }

  async function listen(): Promise<ListenInfo> {
    if (listening) return listening;
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
    });
    core.startSweeping();
    const address = http.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    listening = { host: options.host, port, url: `http://${host}:${port}`, wsUrl: `ws://${host}:${port}${options.path}` };
    return listening;
  }

  async function shutdown(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(0, deadline - Date.now());
    core.shuttingDown = true;
    watcher?.close();
    transport.close();
    const httpClosed = listening ? new Promise<void>((done) => http.close(() => done())) : Promise.resolve();
    http.closeIdleConnections();
    // Let running handlers finish so their replies go out before the sockets close.
    await Promise.race([core.drained(), delay(remaining())]);
    const closed = new Promise<void>((done) => {
      if (core.connectionCount === 0) return done();
      const onClose = () => {
        if (core.connectionCount > 0) return;
        core.events.off('close', onClose);
        done();
      };
      core.events.on('close', onClose);
    });
    for (const connection of [...core.connections()]) core.closeConnection(connection, CloseCode.goingAway, 'server shutting down');
    await Promise.race([closed, delay(remaining())]);
    for (const connection of core.connections()) connection.socket.terminate();
    core.stopSweeping();
    await registry.clear();
    await bus.close();
    http.closeAllConnections();
    await httpClosed;
    log.info('server stopped');
  }

  const server: SwitchboardServer = {
    broadcast: (type, data, broadcastOptions) => core.broadcast(type, data, broadcastOptions),
    send: (connectionId, type, data) => core.send(connectionId, type, data),
    connection: (id) => core.connection(id),
    connections: () => core.connections(),
    get connectionCount() {
      return core.connectionCount;
    },
    manifest: () => core.manifest(),
    publish: (channel, event, data, publishOptions) => core.publish(channel, event, data, publishOptions),
    channels: () => core.channels(),
    members: (channel) => core.members(channel),
    grant: (identityId, grants, changeOptions) => core.grant(identityId, grants, changeOptions),
    revoke: (identityId, grants, changeOptions) => core.revoke(identityId, grants, changeOptions),
    setGrants: (identityId, grants, changeOptions) => core.setGrants(identityId, grants, changeOptions),
    resetGrants: (identityId, changeOptions) => core.resetGrants(identityId, changeOptions),
    grantsOf: (identityId) => core.grantsOf(identityId),
    disableUser: (identityId, reason) => core.disableUser(identityId, reason),
    enableUser: (identityId) => core.enableUser(identityId),
    log,
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
      return () => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      };
    },
    events: core.events,
    http,
    options,
    async loadPlug(plug: unknown) {
      return plugInfo(await install(plug, { version: 'static' }));
    },
    async unloadPlug(name: string) {
      const removed = await registry.remove({ name });
      if (removed) announceSwap(true);
      return removed !== undefined;
    },
    plugs: () => registry.list().map(plugInfo),
    plugsSettled: () => watcher?.idle() ?? Promise.resolve(),
    metrics: () => core.metrics.snapshot(),
  };
  return server;
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}
