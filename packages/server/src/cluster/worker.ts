// A worker of the cluster: the back ends it shares with the other workers, and what it reports to the agent.
import cluster from 'node:cluster';
import { hostname } from 'node:os';
import type { Bus } from '../bus/bus.ts';
import type { Connection } from '../connection/connection.ts';
import type { PresenceStore } from '../presence/presence-store.ts';
import type { ListenInfo, SwitchboardServer } from '../server.ts';
import type { History } from '../stream/history.ts';
import { processPort, type ConnectionSummary, type IpcPort } from './ipc.ts';
import { IpcBus } from './ipc-bus.ts';
import { IpcHistory } from './ipc-history.ts';
import { IpcLink } from './ipc-link.ts';
import { IpcPresence } from './ipc-presence.ts';
import { staleNodesOf } from './node-ledger.ts';

/** The environment variable that carries a worker's slot; the agent sets it on every worker it forks. */
export const WORKER_INDEX_ENV = 'SWITCHBOARD_WORKER_INDEX';

/**
 * The `node` name of a worker: the host, its slot and its process id, unique on the machine and across
 * restarts (a replacement has another pid), so a dead worker's presence and records are told apart.
 *
 * @example
 * workerNode(2, 4711) // 'build-7/w2-4711'
 */
export function workerNode(index: number, pid: number, host: string = hostname()): string {
  return `${host}/w${index}-${pid}`;
}

/** Whether this process is a worker an agent forked (node:cluster, with a slot). */
export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_INDEX_ENV] !== undefined;
}

/** The createServer options a worker takes from the cluster. */
export interface ClusterServerOptions {
  node: string;
  /** Dead workers' nodes, whose connections this worker closes in the store at start-up (from the agent). */
  staleNodes: string[];
  bus: Bus;
  history: History;
  presence: PresenceStore;
}

/**
 * A worker's membership of the cluster: its slot and node name, the `IpcBus`, `IpcHistory` and
 * `IpcPresence` it shares with the other workers through the agent, and `serve`, which starts its server and
 * keeps the agent informed.
 *
 * @example
 * // worker.ts, run by startAgent({ exec: 'worker.ts', workers: 4 })
 * const member = joinCluster();
 * const server = createServer({ port: 3000, plugs: './plugs', ...member.serverOptions() });
 * await member.serve(server);
 */
export class ClusterWorker {
  readonly index: number;
  readonly node: string;
  /** The nodes of workers that died before this one started, whose records it closes (`STALE_NODES_ENV`). */
  readonly staleNodes: string[];
  readonly link: IpcLink;
  readonly bus: IpcBus;
  readonly history: IpcHistory;
  readonly presence: IpcPresence;
  private closing: Promise<void> | undefined;

  constructor(port: IpcPort, index: number) {
    this.index = index;
    this.node = workerNode(index, process.pid);
    this.staleNodes = staleNodesOf();
    this.link = new IpcLink(port);
    this.bus = new IpcBus(this.link);
    this.history = new IpcHistory(this.link);
    this.presence = new IpcPresence(this.link);
  }

  /**
   * The createServer options of this worker: its `node`, and the cluster's bus, history and presence
   * wherever `given` (the configuration) has none of its own (a Redis bus, say).
   */
  serverOptions(given: { bus?: Bus; history?: History; presence?: PresenceStore } = {}): ClusterServerOptions {
    return { node: this.node, staleNodes: this.staleNodes, bus: given.bus ?? this.bus, history: given.history ?? this.history, presence: given.presence ?? this.presence };
  }

  /**
   * Starts `server` as this worker: reports its connections and their channels to the agent's registry,
   * obeys the agent's `close` (a graceful `server.close()`, then `exit(0)`), listens, and tells the agent it
   * does. Resolves with where it listens; rejects (the caller should exit non-zero) when it cannot.
   */
  async serve(server: SwitchboardServer, options: { exit?: (code: number) => void } = {}): Promise<ListenInfo> {
    const exit = options.exit ?? ((code: number) => process.exit(code));
    const link = this.link;
    const identityOf = (connection: Connection): string | undefined => connection.identity?.id;
    server.events.on('open', (connection) => {
      const summary: ConnectionSummary = {
        id: connection.id,
        remoteAddress: connection.remoteAddress,
        userAgent: connection.userAgent,
        connectedAt: connection.connectedAt,
      };
      const identityId = identityOf(connection);
      if (identityId !== undefined) summary.identityId = identityId;
      link.send({ sb: 'conn', op: 'open', connection: summary });
    });
    server.events.on('close', (connection) => link.send({ sb: 'conn', op: 'close', id: connection.id }));
    server.events.on('subscribe', (connection, channel) => {
      const identity = connection.identity;
      link.send(identity === undefined ? { sb: 'conn', op: 'subscribe', id: connection.id, channel } : { sb: 'conn', op: 'subscribe', id: connection.id, channel, identityId: identity.id });
    });
    server.events.on('unsubscribe', (connection, channel) => link.send({ sb: 'conn', op: 'unsubscribe', id: connection.id, channel }));
    // `$auth` after the connection opened, an expiry, a downgrade: the registry follows its identity.
    server.events.on('access', (connection) => link.send({ sb: 'conn', op: 'identity', id: connection.id, identityId: identityOf(connection) ?? null }));
    link.onClose((timeoutMs) => void this.close(server, timeoutMs).then(() => exit(0), () => exit(1)));
    const info = await server.listen();
    link.send({ sb: 'listening', node: this.node, url: info.url, port: info.port, plugs: server.plugs().map((plug) => plug.name) });
    return info;
  }

  /**
   * Closes gracefully: stops taking connections at once (so the agent's other workers get the clients that
   * reconnect), then `server.close()` (drain, 1001), then waits until the agent has everything sent so far.
   */
  close(server: SwitchboardServer, timeoutMs?: number): Promise<void> {
    return (this.closing ??= (async () => {
      if (server.http.listening) server.http.close();
      await server.close(timeoutMs === undefined ? undefined : { timeoutMs });
      await this.link.sync();
    })());
  }
}

/**
 * Joins the cluster of the agent that forked this process. Throws when this process is not such a worker.
 *
 * @example
 * if (isClusterWorker()) await joinCluster().serve(server);
 */
export function joinCluster(options: { port?: IpcPort; index?: number } = {}): ClusterWorker {
  const index = options.index ?? Number(process.env[WORKER_INDEX_ENV]);
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new Error(`joinCluster: ${WORKER_INDEX_ENV} is not set: this process was not started by a Switchboard agent`);
  }
  return new ClusterWorker(options.port ?? processPort(), index);
}
