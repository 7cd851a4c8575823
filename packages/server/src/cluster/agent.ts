// The agent: the node:cluster primary that starts, watches, restarts and replaces the workers, hosts their shared back ends and answers the cluster API.
import cluster, { type Worker } from 'node:cluster';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { dirname, join } from 'node:path';
import { pino, type Logger } from 'pino';
import { CHANNEL_NAME_PATTERN, ErrorCode, MAX_EVENT_LENGTH } from '@switchboard/protocol';
import { AdminApi, adminError } from '../admin.ts';
import { FaultCode } from '../observe/faults.ts';
import { flushLogger } from '../observe/logging.ts';
import { channelTopic } from '../bus/bus.ts';
import { PatternSet } from '../grants/grant-set.ts';
import { resolveOptions, type ChannelOptions, type ResolvedChannelOptions, type ServerOptions } from '../options.ts';
import type { PresenceStore } from '../presence/presence-store.ts';
import type { History } from '../stream/history.ts';
import { MemoryHistory } from '../stream/memory-history.ts';
import { ClusterHub, type HubPeer, type PeerReport } from './hub.ts';
import type { IpcPort } from './ipc.ts';
import { NodeLedger, STALE_NODES_ENV } from './node-ledger.ts';
import { ClusterRegistry, WorkerState, type WorkerInfo } from './registry.ts';
import { WORKER_INDEX_ENV, workerNode } from './worker.ts';

/** The codes the agent logs (in the `code` field of its log lines): the cluster's part of `FaultCode`. */
export const ClusterFaultCode = {
  workerExited: FaultCode.workerExited,
  restartsExceeded: FaultCode.restartsExceeded,
  reloadFailed: FaultCode.reloadFailed,
} as const;
export type ClusterFaultCode = (typeof ClusterFaultCode)[keyof typeof ClusterFaultCode];

/** The defaults of `AgentOptions`. */
export const AGENT_DEFAULTS = {
  /** Crash restarts allowed within `withinMs`; one more and the agent gives up. */
  maxRestarts: 5,
  withinMs: 60_000,
  /** A worker that does not listen within this long is killed (and counts as a crash). */
  startTimeoutMs: 30_000,
  /** What a worker's graceful close may take; the agent kills it 5 s after that. */
  shutdownTimeoutMs: 10_000,
  agentHost: '127.0.0.1',
} as const;

/** `startAgent`'s options. */
export interface AgentOptions {
  /** Worker processes, at least 1. */
  workers: number;
  /** The script each worker runs (node:cluster's `exec`). Default: this process's script (`process.argv[1]`). */
  exec?: string;
  /** Its arguments. Default: this process's (`process.argv.slice(2)`). */
  args?: string[];
  /** Node flags for the workers. Default: this process's (`process.execArgv`). */
  execArgv?: string[];
  /** The workers' working folder. Default: this process's. */
  cwd?: string;
  /** Extra environment variables for the workers (on top of this process's). */
  env?: Record<string, string>;
  /** Port of the agent's HTTP API (on `agentHost`); 0 picks a free one. Default 0. */
  agentPort?: number;
  /** Interface of the agent's HTTP API. Default `127.0.0.1`: this machine only. */
  agentHost?: string;
  /**
   * The options the workers give `createServer` (without `logger`, `bus`, `history`, `presence`), checked
   * before any worker is forked, so a bad one fails `startAgent` with its `SB_` code instead of a crash loop.
   * `adminToken`, `channels` and `shutdownTimeoutMs` are taken from them unless given here.
   */
  serverOptions?: ServerOptions;
  /** Bearer token of the agent's API, the server's `adminToken`; without one it answers loopback clients only. */
  adminToken?: string;
  /** The workers' channel options: which channels keep history and its bounds, and `maxMessageBytes` for `POST /cluster/publish`. */
  channels?: ChannelOptions;
  /** The history the workers share. Default: a `MemoryHistory` bounded by `channels.history`. */
  history?: History;
  /** The presence store the workers share. Default: a `MemoryPresence`. */
  presence?: PresenceStore;
  /** Restart intensity: at most `maxRestarts` crash restarts within `withinMs` (like OTP's supervisors). */
  restart?: { maxRestarts?: number; withinMs?: number };
  /** Default 30 000 ms. */
  startTimeoutMs?: number;
  /** Default 10 000 ms. */
  shutdownTimeoutMs?: number;
  /** A file to write the agent's pid in (removed when it stops), for `kill -HUP $(cat …)`. */
  pidFile?: string;
  /**
   * A file that lists the workers' nodes while they run, and the nodes of workers that died until a worker closed
   * their connection records: so the next run closes them after the agent was killed with its workers. Default:
   * `agent-nodes.json` beside `pidFile` (none without one: then only this run's dead workers are closed).
   */
  nodesFile?: string;
  logger?: Logger;
}

/** What a rolling reload did: per slot, the pid it replaced and the pid serving now. */
export interface ReloadResult {
  workers: { index: number; replaced: number[]; pid: number }[];
}

/** What `GET /cluster` answers. */
export interface ClusterStatus {
  agent: {
    pid: number;
    startedAt: string;
    /** The agent API's base URL. */
    url: string;
    /** Worker processes it keeps. */
    workers: number;
    reloading: boolean;
    restart: { maxRestarts: number; withinMs: number; recent: number };
  };
  /** Where clients connect (a worker's URL: they all listen on it), once one listens. */
  url: string | null;
  workers: WorkerInfo[];
  counts: { workers: number; listening: number; connections: number };
}

/**
 * A running agent.
 *
 * @example
 * const agent = await startAgent({ workers: 4, exec: 'worker.ts', agentPort: 3001 });
 * agent.handleSignals();              // SIGTERM/SIGINT stop, SIGHUP reloads
 * process.exitCode = await agent.done; // 1 when the restart intensity was exceeded
 */
export interface Agent {
  /** The agent API's base URL (`http://127.0.0.1:3001`). */
  readonly url: string;
  /** Where clients connect, once a worker listens. */
  readonly serverUrl: string | undefined;
  readonly registry: ClusterRegistry;
  readonly hub: ClusterHub;
  status(): ClusterStatus;
  /**
   * Replaces the workers one at a time: starts a new one, waits until it listens, then closes the old one
   * gracefully (it drains; its clients get 1001 and reconnect to the others). A reload asked for while one
   * runs joins it. Rejects, leaving the old worker serving, when a new one does not listen.
   */
  reload(): Promise<ReloadResult>;
  /** Closes every worker gracefully, then the API and the back ends. */
  close(): Promise<void>;
  /** Resolves with the exit code once the agent stopped: 0 after `close`, 1 when the restart intensity was exceeded. */
  readonly done: Promise<number>;
  /** SIGTERM and SIGINT stop gracefully and exit; SIGHUP reloads. Returns a function that removes the handlers. */
  handleSignals(): () => void;
}

/** A node:cluster worker (or a forked child) as an `IpcPort`. */
export function portOf(target: Worker | ChildProcess): IpcPort {
  const emitter = target as unknown as EventEmitter;
  return {
    send: (message, callback) => (target as ChildProcess).send(message as never, callback),
    on: (event: string, listener: (...args: any[]) => void) => emitter.on(event, listener),
    off: (event: string, listener: (...args: any[]) => void) => emitter.off(event, listener),
  } as IpcPort;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  const result = { settled: false } as Deferred<T>;
  result.promise = new Promise<T>((resolve, reject) => {
    result.resolve = (value) => {
      result.settled = true;
      resolve(value);
    };
    result.reject = (error) => {
      result.settled = true;
      reject(error);
    };
  });
  result.promise.catch(() => {});
  return result;
}

/** One worker process. `role`: serving, or a reload's replacement that does not serve until it listens. */
interface Proc {
  worker: Worker;
  index: number;
  pid: number;
  node: string;
  peer: HubPeer;
  role: 'serving' | 'replacement';
  listening: Deferred<void>;
  exited: Deferred<{ code: number | null; signal: string | null }>;
  startTimer: NodeJS.Timeout | undefined;
  /** The dead nodes this worker was told to close in the store at start-up. */
  sweeps: string[];
}

let started = false;

/**
 * Starts an agent: the node:cluster primary of this process. It forks `workers` worker processes (each runs
 * `exec`, joins the cluster with `joinCluster()` and serves on the shared port), hosts the bus relay, history
 * and presence they share, keeps the registry of workers and connections, and answers its HTTP API on
 * loopback. A worker that crashes is restarted, up to the restart intensity; past it the agent logs
 * `SB_WORKER_RESTARTS_EXCEEDED`, stops the others and `done` resolves with 1. Resolves once every worker
 * listens. One agent per process.
 *
 * @example
 * if (cluster.isPrimary) {
 *   const agent = await startAgent({ workers: 4, agentPort: 3001, pidFile: 'data/agent.pid' });
 *   agent.handleSignals();
 * } else {
 *   const member = joinCluster();
 *   await member.serve(createServer({ port: 3000, plugs: './plugs', ...member.serverOptions() }));
 * }
 */
export async function startAgent(options: AgentOptions): Promise<Agent> {
  if (!cluster.isPrimary) throw new Error('startAgent: this process is a cluster worker; only a primary can be the agent');
  if (started) throw new Error('startAgent: an agent runs in this process already (node:cluster has one primary)');
  if (!Number.isSafeInteger(options.workers) || options.workers < 1) throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
  const agent = new AgentProcess(options);
  started = true;
  try {
    await agent.start();
  } catch (error) {
    await agent.close();
    started = false;
    throw error;
  }
  return agent;
}

class AgentProcess implements Agent {
  readonly registry = new ClusterRegistry();
  readonly hub: ClusterHub;
  readonly done: Promise<number>;
  serverUrl: string | undefined = undefined;
  private readonly options: AgentOptions;
  private readonly log: Logger;
  private readonly channels: ResolvedChannelOptions;
  private readonly withHistory: PatternSet;
  private readonly maxRestarts: number;
  private readonly withinMs: number;
  private readonly startTimeoutMs: number;
  private readonly shutdownTimeoutMs: number;
  private readonly procs = new Map<number, Proc>();
  private ledger: NodeLedger | undefined;
  private readonly changes = new EventEmitter();
  private readonly startedAt = new Date().toISOString();
  private restartTimes: number[] = [];
  private http: HttpServer | undefined;
  private agentUrl = '';
  private stopping = false;
  private failure: Error | undefined;
  private exitCode = 0;
  private reloading: Promise<ReloadResult> | undefined;
  private closing: Promise<void> | undefined;
  private finish!: (code: number) => void;

  constructor(given: AgentOptions) {
    // The workers' options, checked (SB_CONFIG_INVALID, SB_CONFIG_UNKNOWN_OPTION) and with their defaults.
    const server = resolveOptions({ ...given.serverOptions, ...(given.channels !== undefined ? { channels: given.channels } : {}) });
    const adminToken = given.adminToken ?? server.adminToken;
    const options: AgentOptions = { ...given, ...(adminToken !== undefined ? { adminToken } : {}) };
    this.options = options;
    this.log = options.logger ?? pino({ name: 'switchboard-agent', level: process.env.SWITCHBOARD_LOG_LEVEL ?? 'info' });
    this.channels = server.channels;
    this.withHistory = new PatternSet(this.channels.history.channels);
    this.maxRestarts = options.restart?.maxRestarts ?? AGENT_DEFAULTS.maxRestarts;
    this.withinMs = options.restart?.withinMs ?? AGENT_DEFAULTS.withinMs;
    this.startTimeoutMs = options.startTimeoutMs ?? AGENT_DEFAULTS.startTimeoutMs;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? (given.serverOptions?.shutdownTimeoutMs !== undefined ? server.shutdownTimeoutMs : AGENT_DEFAULTS.shutdownTimeoutMs);
    const history =
      options.history ?? new MemoryHistory({ maxPublications: this.channels.history.maxPublications, maxAgeMs: this.channels.history.maxAgeMs });
    this.hub = new ClusterHub({
      history,
      ...(options.presence ? { presence: options.presence } : {}),
      onError: (error) => this.log.error({ err: error }, 'cluster hub error'),
    });
    this.done = new Promise((resolve) => (this.finish = resolve));
    this.changes.setMaxListeners(0);
  }

  get url(): string {
    return this.agentUrl;
  }

  async start(): Promise<void> {
    this.writePidFile();
    const pidFile = this.options.pidFile;
    this.ledger = new NodeLedger(this.options.nodesFile ?? (pidFile === undefined ? undefined : join(dirname(pidFile), 'agent-nodes.json')), (error) =>
      this.log.warn({ err: error }, `the ledger of worker nodes could not be written (${error.message}); a later run may leave a dead worker's connections open in the store`),
    );
    await this.listenApi();
    cluster.setupPrimary({
      exec: this.options.exec ?? process.argv[1],
      args: this.options.args ?? process.argv.slice(2),
      execArgv: this.options.execArgv ?? process.execArgv,
      ...(this.options.cwd !== undefined ? { cwd: this.options.cwd } : {}),
      // Structured clone: what crosses keeps its shape (a NaN, an undefined), and binary data stays binary.
      serialization: 'advanced',
      silent: false,
    });
    for (let index = 0; index < this.options.workers; index++) this.spawn(index, 'serving');
    await this.allListening();
    this.log.info({ workers: this.options.workers, url: this.serverUrl, agent: this.agentUrl }, 'cluster listening');
  }

  status(): ClusterStatus {
    return {
      agent: {
        pid: process.pid,
        startedAt: this.startedAt,
        url: this.agentUrl,
        workers: this.options.workers,
        reloading: this.reloading !== undefined,
        restart: { maxRestarts: this.maxRestarts, withinMs: this.withinMs, recent: this.recentRestarts().length },
      },
      url: this.serverUrl ?? null,
      workers: this.registry.workers(),
      counts: this.registry.counts(),
    };
  }

  reload(): Promise<ReloadResult> {
    if (this.stopping) return Promise.reject(new Error('the agent is stopping'));
    return (this.reloading ??= this.rollingReload().finally(() => {
      this.reloading = undefined;
    }));
  }

  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  handleSignals(): () => void {
    const stop = (signal: NodeJS.Signals) => {
      this.log.info({ signal }, 'agent stopping: closing the workers gracefully');
      const force = setTimeout(() => process.exit(1), this.shutdownTimeoutMs + 10_000);
      force.unref();
      void this.close()
        .then(() => this.done)
        .then(async (code) => {
          await flushLogger(this.log);
          process.exit(code);
        });
    };
    const reload = () => {
      this.log.info('SIGHUP: reloading the workers one at a time');
      this.reload().then(
        (result) => this.log.info({ workers: result.workers }, 'reload done'),
        (error: unknown) => this.log.error({ err: error, code: ClusterFaultCode.reloadFailed }, `reload failed: ${(error as Error).message}`),
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    process.on('SIGHUP', reload);
    return () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      process.off('SIGHUP', reload);
    };
  }

  // ---------------------------------------------------------------- workers

  private spawn(index: number, role: Proc['role']): Proc {
    // The nodes of dead workers go to every worker forked until one listens (a replacement may die too).
    const sweeps = this.ledger?.stale() ?? [];
    const worker = cluster.fork({
      ...this.options.env,
      [WORKER_INDEX_ENV]: String(index),
      [STALE_NODES_ENV]: sweeps.length > 0 ? JSON.stringify(sweeps) : '',
    });
    const pid = worker.process.pid ?? -worker.id;
    const node = workerNode(index, pid);
    this.ledger?.started(node);
    const proc: Proc = {
      worker,
      index,
      pid,
      node,
      role,
      peer: undefined as unknown as HubPeer,
      listening: deferred(),
      exited: deferred(),
      startTimer: undefined,
      sweeps,
    };
    proc.peer = this.hub.attach(portOf(worker), node, (report) => this.onReport(proc, report));
    this.procs.set(worker.id, proc);
    this.registry.add(worker.id, { index, pid, node });
    proc.startTimer = setTimeout(() => {
      this.log.error({ worker: index, workerPid: pid, ms: this.startTimeoutMs }, `worker ${index} did not listen within ${this.startTimeoutMs} ms; killing it`);
      worker.process.kill('SIGKILL');
    }, this.startTimeoutMs);
    proc.startTimer.unref();
    worker.on('exit', (code: number | null, signal: string | null) => this.onExit(proc, code, signal));
    // An IPC write to a worker that is going away: its exit follows.
    worker.on('error', (error: Error) => this.log.debug({ err: error, worker: index, workerPid: pid }, 'worker channel error'));
    this.log.info({ worker: index, workerPid: pid, node, role }, 'worker started');
    return proc;
  }

  private onReport(proc: Proc, report: PeerReport): void {
    this.registry.report(proc.worker.id, report);
    if (report.sb !== 'listening') return;
    clearTimeout(proc.startTimer);
    this.ledger?.swept(proc.sweeps);
    this.serverUrl ??= report.url;
    this.log.info({ worker: proc.index, workerPid: proc.pid, url: report.url }, 'worker listening');
    proc.listening.resolve();
    this.changes.emit('change');
  }

  private onExit(proc: Proc, code: number | null, signal: string | null): void {
    clearTimeout(proc.startTimer);
    const id = proc.worker.id;
    const state = this.registry.state(id);
    this.procs.delete(id);
    void this.hub.detach(proc.peer).then((leaves) => {
      if (leaves.length > 0) this.log.info({ worker: proc.index, workerPid: proc.pid, leaves: leaves.length }, 'presence of an exited worker removed');
    });
    this.registry.exited(id, code, signal);
    // Exit code 0 follows a graceful close, which closed the worker's connections in the store.
    this.ledger?.exited(proc.node, code === 0 && signal === null);
    if (!proc.listening.settled) proc.listening.reject(new Error(`worker ${proc.index} (pid ${proc.pid}) exited (${signal ?? `code ${code}`}) before it listened`));
    proc.exited.resolve({ code, signal });
    const expected = this.stopping || state === WorkerState.draining || proc.role === 'replacement';
    if (expected) {
      this.log.info({ worker: proc.index, workerPid: proc.pid, exitCode: code, signal }, 'worker exited');
      this.registry.remove(id);
      this.changes.emit('change');
      return;
    }
    this.log.error(
      { code: ClusterFaultCode.workerExited, worker: proc.index, workerPid: proc.pid, exitCode: code, signal },
      `worker ${proc.index} (pid ${proc.pid}) exited unexpectedly (${signal ?? `code ${code}`})`,
    );
    const now = Date.now();
    this.restartTimes = [...this.recentRestarts(now), now];
    if (this.restartTimes.length > this.maxRestarts) {
      const message =
        `${this.restartTimes.length} worker crashes within ${this.withinMs / 1000} s, more than the restart intensity allows ` +
        `(${this.maxRestarts} in ${this.withinMs / 1000} s); stopping the cluster`;
      this.log.fatal({ code: ClusterFaultCode.restartsExceeded, restarts: this.restartTimes.length, withinMs: this.withinMs }, message);
      this.failure = new Error(`${ClusterFaultCode.restartsExceeded}: ${message}`);
      this.exitCode = 1;
      this.changes.emit('change');
      void this.close();
      return;
    }
    this.registry.restarted(proc.index);
    this.registry.remove(id);
    this.spawn(proc.index, 'serving');
    this.changes.emit('change');
  }

  private recentRestarts(now = Date.now()): number[] {
    return this.restartTimes.filter((time) => time > now - this.withinMs);
  }

  /** Resolves when every slot has a listening worker; rejects when the agent failed or stops first. */
  private allListening(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.failure || this.stopping) {
          this.changes.off('change', check);
          reject(this.failure ?? new Error('the agent stopped before every worker listened'));
          return;
        }
        const listening = new Set<number>();
        for (const proc of this.procs.values()) {
          if (proc.role === 'serving' && this.registry.state(proc.worker.id) === WorkerState.listening) listening.add(proc.index);
        }
        if (listening.size < this.options.workers) return;
        this.changes.off('change', check);
        resolve();
      };
      this.changes.on('change', check);
      check();
    });
  }

  private async rollingReload(): Promise<ReloadResult> {
    const result: ReloadResult = { workers: [] };
    this.log.info({ workers: this.options.workers }, 'rolling reload: replacing the workers one at a time');
    for (let index = 0; index < this.options.workers; index++) {
      if (this.stopping) throw new Error('the agent is stopping');
      const old = [...this.procs.values()].filter((proc) => proc.index === index && proc.role === 'serving');
      const fresh = this.spawn(index, 'replacement');
      try {
        await fresh.listening.promise;
      } catch (error) {
        const message = `worker ${index}'s replacement did not start (${(error as Error).message}); the old worker keeps serving`;
        this.log.error({ code: ClusterFaultCode.reloadFailed, worker: index }, `reload stopped: ${message}`);
        throw new Error(message, { cause: error });
      }
      if (this.stopping) throw new Error('the agent is stopping');
      fresh.role = 'serving';
      await Promise.all(old.map((proc) => this.drain(proc)));
      result.workers.push({ index, replaced: old.map((proc) => proc.pid), pid: fresh.pid });
    }
    return result;
  }

  /** Asks a worker to close gracefully and waits for its exit; kills it if it takes too long. */
  private async drain(proc: Proc): Promise<void> {
    if (proc.exited.settled) return;
    const listening = this.registry.state(proc.worker.id) === WorkerState.listening;
    this.registry.setState(proc.worker.id, WorkerState.draining);
    // A worker that does not listen yet has no connections to drain, and may not have its close handler yet.
    if (listening) proc.peer.send({ sb: 'close', timeoutMs: this.shutdownTimeoutMs });
    else proc.worker.process.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.log.warn({ worker: proc.index, workerPid: proc.pid }, 'worker did not close in time; killing it');
      proc.worker.process.kill('SIGKILL');
    }, this.shutdownTimeoutMs + 5_000);
    timer.unref();
    await proc.exited.promise;
    clearTimeout(timer);
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.changes.emit('change');
    await Promise.all([...this.procs.values()].map((proc) => this.drain(proc)));
    if (this.http) await new Promise<void>((resolve) => this.http!.close(() => resolve()));
    this.http?.closeAllConnections();
    this.hub.close();
    await this.hub.history.close();
    await this.hub.presence.close();
    this.removePidFile();
    started = false;
    this.log.info({ exitCode: this.exitCode }, 'agent stopped');
    this.finish(this.exitCode);
  }

  // ---------------------------------------------------------------- the pid file

  private writePidFile(): void {
    const file = this.options.pidFile;
    if (file === undefined) return;
    if (existsSync(file)) {
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Error(`an agent (pid ${pid}) is running with the pid file ${file}; stop it first, or give this one another data folder`);
      }
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${process.pid}\n`);
  }

  private removePidFile(): void {
    const file = this.options.pidFile;
    if (file === undefined || !existsSync(file)) return;
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
  }

  // ---------------------------------------------------------------- the HTTP API

  private async listenApi(): Promise<void> {
    const api = new AdminApi('', this.options.adminToken);
    api.route('GET', '/cluster', () => ({ status: 200, body: this.status() }));
    api.route('GET', '/cluster/connections', ({ query }) => {
      const worker = query.get('worker');
      const user = query.get('user');
      if (worker !== null && !/^\d+$/.test(worker)) return adminError(400, 'invalid_query', '"worker" must be a worker index (0, 1, …)');
      const filter: { worker?: number; user?: string } = {};
      if (worker !== null) filter.worker = Number(worker);
      if (user !== null && user !== '') filter.user = user;
      return { status: 200, body: { connections: this.registry.connections(filter) } };
    });
    api.route('POST', '/cluster/publish', async ({ body }) => {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return adminError(400, 'bad_request', 'send { "channel": "...", "event": "...", "data": ... }');
      }
      const { channel, event, data } = body as { channel?: unknown; event?: unknown; data?: unknown };
      if (typeof channel !== 'string' || !CHANNEL_NAME_PATTERN.test(channel)) {
        return adminError(400, ErrorCode.badChannel, '"channel" must be 1 to 200 of A-Z a-z 0-9 _-.:@=,;');
      }
      if (typeof event !== 'string' || event.length === 0 || event.length > MAX_EVENT_LENGTH) {
        return adminError(400, ErrorCode.invalidPayload, `"event" must be a string of 1 to ${MAX_EVENT_LENGTH} characters`);
      }
      let size: number;
      try {
        size = JSON.stringify(data ?? null).length;
      } catch {
        size = Infinity;
      }
      if (size > this.channels.maxMessageBytes) {
        return adminError(413, ErrorCode.limitExceeded, `"data" is larger than ${this.channels.maxMessageBytes} bytes of JSON (channels.maxMessageBytes)`);
      }
      const message = await this.hub.publishToChannel(channel, event, data, { history: this.withHistory.matches(channel) });
      const answer: Record<string, unknown> = { channel, event, workers: this.hub.subscriberCount(channelTopic(channel)) };
      if (message.epoch !== undefined) answer.position = { epoch: message.epoch, offset: message.offset };
      return { status: 200, body: answer };
    });
    api.route('POST', '/cluster/reload', async () => {
      try {
        return { status: 200, body: await this.reload() };
      } catch (error) {
        return adminError(this.stopping ? 503 : 500, 'reload_failed', (error as Error).message);
      }
    });
    const http = createHttpServer((req, res) => void api.handle(req, res));
    this.http = http;
    const host = this.options.agentHost ?? AGENT_DEFAULTS.agentHost;
    await new Promise<void>((resolve, reject) => {
      http.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new Error(
            error.code === 'EADDRINUSE'
              ? `the agent's port ${this.options.agentPort ?? 0} on ${host} is in use; pick another with --agent-port or SWITCHBOARD_AGENT_PORT`
              : `the agent cannot listen on ${host}:${this.options.agentPort ?? 0}: ${error.message}`,
            { cause: error },
          ),
        ),
      );
      http.listen(this.options.agentPort ?? 0, host, () => resolve());
    });
    const address = http.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    this.agentUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
