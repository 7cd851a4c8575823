// What the scenarios share: result rows, starting server and generator children, and the fan-out rig.
import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchConfig } from '../lib/config.ts';
import { Histogram, type HistogramData } from '../lib/histogram.ts';
import { Child } from '../lib/ipc.ts';
import { CpuWindow, processCpuUs, type CpuUse } from '../lib/machine.ts';
import type { Usage } from '../servers/control.ts';

/** Which server a measurement is of: one Switchboard process, the ws baseline, or an agent with its workers (scenario 8). */
export type ServerKind = 'switchboard' | 'raw-ws' | 'cluster';

/** One line of the result table. */
export interface Row {
  scenario: string;
  figure: string;
  unit: 'msg/s' | 'ms' | 'µs' | 'KiB' | 'bytes' | 'count';
  switchboard: number | null;
  baseline: number | null;
  /** How the two compare, as printed: `0.91x`, `+0.4 KiB`. */
  compare: string;
  target: string;
  /** null: informational, no target. */
  pass: boolean | null;
}

/** What a scenario hands back: table rows, everything measured, and what a reader should know. */
export interface ScenarioResult {
  rows: Row[];
  details: Record<string, unknown>;
  notes: string[];
  skipped?: string;
}

/** A process's CPU time at one instant (a server's: the sum over its processes, each in `parts`). */
export interface CpuMark {
  cpuUs: number;
  atMs: number;
  /** Per process of the server, in the order of `Server.processes` (where it could be read per process). */
  parts?: number[];
}

/** One process of a server: the agent or a worker of a cluster, or the one process of a single server. */
export interface ServerProcess {
  pid: number | undefined;
  label: string;
}

/** CPU use between two marks, in % of one core. */
export function cpuPercent(before: CpuMark, after: CpuMark): number {
  return (100 * (after.cpuUs - before.cpuUs)) / 1000 / Math.max(1, after.atMs - before.atMs);
}

/** Splits `total` into `parts` near-equal counts. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export const ms = (us: number): number => us / 1000;

/** `count` over `elapsedMs`, per second (a zero duration counts as 1 µs). */
export const perSecond = (count: number, elapsedMs: number): number => count / Math.max(1e-3, elapsedMs / 1000);

/** The middle value (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A server child, Switchboard or the raw ws baseline. */
export interface Server {
  kind: ServerKind;
  child: Child;
  port: number;
  path: string;
  greeting: boolean;
  ready: Record<string, unknown>;
  /** The processes that make up the server: its child, and for a cluster the agent's workers after it. */
  processes: ServerProcess[];
  /** Memory and CPU as the server itself reports them (waits for its event loop). */
  usage(gc?: boolean): Promise<Usage>;
  /**
   * CPU time from /proc where possible, so a backlogged server can be measured without waiting for it; the sum
   * over every process of the server (a cluster's agent and workers).
   */
  cpu(): Promise<CpuMark>;
}

let profileCounter = 0;

/** Starts a server child; with --profile it writes a CPU profile when stopped. `env` picks a variant (servers/switchboard.ts). */
export async function startServer(kind: ServerKind, config: BenchConfig, label: string, env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const execArgv = ['--expose-gc'];
  if (config.profile) {
    const dir = new URL('../../.tmp/bench-profiles/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir.pathname}`, `--cpu-prof-name=${String(++profileCounter).padStart(2, '0')}-${label}-${kind}.cpuprofile`);
  }
  // An agent starts its workers before it is ready: each loads the server (about a second on two busy cores).
  const child = await Child.start(`${kind} server`, `servers/${kind}.ts`, { execArgv, env, timeoutMs: kind === 'cluster' ? 60_000 : 15_000 });
  const ready = child.ready;
  const workerPids = Array.isArray(ready.workerPids) ? (ready.workerPids as number[]) : [];
  const processes: ServerProcess[] =
    kind === 'cluster' ? [{ pid: child.pid, label: 'agent' }, ...workerPids.map((pid, i) => ({ pid, label: `worker ${i}` }))] : [{ pid: child.pid, label: kind }];
  return {
    kind,
    child,
    port: ready.port as number,
    path: ready.path as string,
    greeting: ready.greeting as boolean,
    ready,
    processes,
    usage: (gc = false) => child.call<Usage>('usage', { gc }, 30_000),
    async cpu() {
      const atMs = performance.now();
      const parts = processes.map((p) => processCpuUs(p.pid));
      if (parts.every((us) => us !== undefined)) return { cpuUs: parts.reduce((a, b) => a + b, 0), atMs, parts };
      if (kind === 'cluster') {
        // No /proc: every process reports its own, over IPC (the agent asks its workers).
        const reported = await child.call<{ agent: { cpuUs: number }; workers: { pid: number; cpuUs: number }[] }>('cpu.ipc', {}, 30_000);
        const byPid = new Map(reported.workers.map((w) => [w.pid, w.cpuUs]));
        const each = [reported.agent.cpuUs, ...workerPids.map((pid) => byPid.get(pid) ?? 0)];
        return { cpuUs: each.reduce((a, b) => a + b, 0), atMs, parts: each };
      }
      const usage = await child.call<Usage>('usage', {}, 30_000);
      return { cpuUs: usage.cpuUserUs + usage.cpuSystemUs, atMs };
    },
  };
}

export function startGenerator(name: string): Promise<Child> {
  return Child.start(name, 'load/generator.ts', { execArgv: ['--max-old-space-size=2048'] });
}

/** What `connect` in a generator returns. */
export interface ConnectResult {
  connected: number;
  failed: number;
  firstError: string;
  ms: number;
}

/** Connects `counts[i]` sockets from generator i, all at once; throws when any failed. */
export async function connectAll(server: Server, generators: Child[], counts: number[]): Promise<{ connected: number; ms: number }> {
  const started = performance.now();
  const results = await Promise.all(
    generators.map((generator, i) =>
      generator.call<ConnectResult>('connect', { port: server.port, path: server.path, count: counts[i], greeting: server.greeting }, 180_000),
    ),
  );
  const failed = results.reduce((n, r) => n + r.failed, 0);
  const connected = results.reduce((n, r) => n + r.connected, 0);
  if (failed > 0) throw new Error(`${failed} of ${failed + connected} connections to ${server.kind} failed: ${results.find((r) => r.firstError)?.firstError}`);
  return { connected, ms: performance.now() - started };
}

/** Stops children, servers first so the clients' sockets do not pile up in TIME_WAIT. */
export async function stopAll(server: Server | undefined, children: (Child | undefined)[]): Promise<void> {
  await server?.child.stop();
  await Promise.all(children.map((child) => child?.stop()));
}

interface Collected {
  received: number;
  subscribers: number;
  short: number;
  missing: number;
  extra: number;
  closed: number;
  stale: number;
  other: number;
  otherSample: string;
  firstUs: number;
  lastUs: number;
  bytes: number;
  cpuUs: number;
  wallMs: number;
  histogram: HistogramData;
}

/** One publishing window and what the subscribers made of it. */
export interface StepResult {
  /** Messages per second asked of the publisher. */
  rate: number;
  sent: number;
  /** The rate the publisher achieved. */
  publishedRate: number;
  subscribers: number;
  offeredDeliveriesPerSec: number;
  received: number;
  expected: number;
  /** Deliveries over the time from the first publish to the last arrival. */
  deliveriesPerSec: number;
  /** Mean payload size of a delivered frame, in bytes (what each subscriber's frame carries). */
  meanFrameBytes: number;
  missing: number;
  shortSubscribers: number;
  duplicates: number;
  closed: number;
  other: number;
  otherSample: string;
  drained: boolean;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  serverCpuPercent: number;
  /** Server CPU time per delivery, in microseconds: what a delivery costs the server, whatever else ran. */
  serverUsPerDelivery: number;
  /** Server CPU time over the step, in microseconds (every process of every server the rig uses). */
  serverCpuUs: number;
  /** The same per process (a cluster's agent and workers; both nodes over Redis), where it could be read per process. */
  serverProcesses: { label: string; cpuUs: number }[];
  /** CPU of the rig's other bench processes (`extraPids`: a redis-server), in % of one core. */
  extraCpuPercent: number;
  /** CPU of all subscriber generators together, in % of one core. */
  generatorCpuPercent: number;
  /** Generator CPU time per delivery, in microseconds: what absorbing a delivery costs the load generator. */
  generatorUsPerDelivery: number;
  /** The whole machine over the step, kernel loopback work and other processes included. */
  machine: CpuUse | undefined;
  /** `$error` pushes the publisher received, by code: messages the server refused before fanning them out. */
  refused: Record<string, number>;
  serverStats?: unknown;
  /** The delays' histogram, when the step was asked to keep it (to merge windows). */
  histogram?: HistogramData;
}

/** How a rig is put together, beyond a server of its own with subscribers and a publisher on it. */
export interface RigOptions {
  /** The environment of the server child the rig starts (a variant: servers/switchboard.ts, servers/cluster.ts). */
  env?: NodeJS.ProcessEnv;
  /** A server the caller started: the rig's subscribers connect to it, and `stop` leaves it running. */
  server?: Server;
  /** Where the publisher connects, when not to the subscribers' server (another node); `stop` leaves it running. */
  publishTo?: Server;
  /** Other processes of the bench the rig's traffic goes through (a redis-server): their CPU is reported apart. */
  extraPids?: number[];
}

/** A server, subscriber generators holding `subscribers` connections between them, and a publisher process. */
export class FanoutRig {
  readonly server: Server;
  readonly generators: Child[];
  readonly publisher: Child;
  readonly subscribers: number;
  readonly offsets: number[];
  readonly connectMs: number;
  /** Every server whose CPU a step counts: the subscribers' and, when it is another, the publisher's. */
  readonly servers: Server[];
  private readonly extraPids: number[];
  private readonly ownsServer: boolean;
  private readonly extraPublishers: Child[] = [];
  private seq = 0;

  private constructor(server: Server, generators: Child[], publisher: Child, subscribers: number, offsets: number[], connectMs: number, options: RigOptions) {
    this.server = server;
    this.generators = generators;
    this.publisher = publisher;
    this.subscribers = subscribers;
    this.offsets = offsets;
    this.connectMs = connectMs;
    this.servers = options.publishTo && options.publishTo !== server ? [server, options.publishTo] : [server];
    this.extraPids = options.extraPids ?? [];
    this.ownsServer = options.server === undefined;
  }

  static async start(kind: ServerKind, subscribers: number, config: BenchConfig, label: string, options: RigOptions = {}): Promise<FanoutRig> {
    let server: Server | undefined = options.server;
    const children: Child[] = [];
    try {
      server ??= await startServer(kind, config, label, options.env);
      for (let i = 0; i < config.generators; i++) children.push(await startGenerator(`subscriber generator ${i + 1}`));
      const publisher = await startGenerator('publisher');
      children.push(publisher);
      const counts = split(subscribers, config.generators);
      const generators = children.slice(0, config.generators);
      const { connected, ms: connectMs } = await connectAll(server, generators, counts);
      await connectAll(options.publishTo ?? server, [publisher], [1]);
      const offsets = counts.map((_, i) => counts.slice(0, i).reduce((a, b) => a + b, 0));
      return new FanoutRig(server, generators, publisher, connected, offsets, connectMs, options);
    } catch (error) {
      await stopAll(options.server === undefined ? server : undefined, children);
      throw error;
    }
  }

  /**
   * One more publisher process, connected to `server` (another node, or the subscribers' own), for `step`'s
   * `publisher`; its CPU counts when `server` is one of the rig's, and `stop` stops it.
   */
  async addPublisher(server: Server): Promise<Child> {
    const publisher = await startGenerator('publisher');
    try {
      await connectAll(server, [publisher], [1]);
    } catch (error) {
      await publisher.stop();
      throw error;
    }
    this.extraPublishers.push(publisher);
    return publisher;
  }

  /**
   * Publishes `rate` messages per second for `durationMs` and waits (at most `drainMs` after the last one) until
   * every subscriber has every message.
   */
  async step(options: { type: string; extra?: Record<string, unknown>; rate: number; durationMs: number; drainMs: number; publisher?: Child; keepHistogram?: boolean }): Promise<StepResult> {
    const count = Math.max(1, Math.round((options.rate * options.durationMs) / 1000));
    const seqStart = this.seq;
    const publisher = options.publisher ?? this.publisher;
    await Promise.all(this.generators.map((g) => g.call('subscriber.reset', { minSeq: seqStart })));
    const cpu = () => Promise.all(this.servers.map((server) => server.cpu()));
    const extraCpu = () => this.extraPids.reduce((sum, pid) => sum + (processCpuUs(pid) ?? 0), 0);
    const before = await cpu();
    const extraBefore = extraCpu();
    const window = CpuWindow.start([...this.servers.flatMap((server) => server.processes.map((p) => p.pid)), publisher.pid, ...this.generators.map((g) => g.pid), ...this.extraPids]);
    const published = await publisher.call<{ sent: number; firstUs: number; lastUs: number; ms: number }>(
      'publish',
      { type: options.type, extra: options.extra, seqStart, count, rate: options.rate },
      options.durationMs + 60_000,
    );
    this.seq += published.sent;
    const expected = published.sent * this.subscribers;
    const deadline = performance.now() + options.drainMs;
    let drained = false;
    while (performance.now() < deadline) {
      const totals = await Promise.all(this.generators.map((g) => g.call<{ received: number }>('subscriber.totals')));
      if (totals.reduce((n, t) => n + t.received, 0) >= expected) {
        drained = true;
        break;
      }
      await sleep(25);
    }
    const machine = window.end();
    const after = await cpu();
    const extraUs = extraCpu() - extraBefore;
    const serverCpuUs = after.reduce((sum, mark, i) => sum + mark.cpuUs - before[i]!.cpuUs, 0);
    const serverProcesses = this.servers.flatMap((server, i) =>
      server.processes.map((p, k) => ({
        label: this.servers.length > 1 ? `${server.ready.clusterNode ?? i} ${p.label}` : p.label,
        cpuUs: (after[i]!.parts?.[k] ?? NaN) - (before[i]!.parts?.[k] ?? NaN),
      })),
    );
    const refused = await publisher.call<Record<string, number>>('refused.take');
    const parts = await Promise.all(this.generators.map((g) => g.call<Collected>('subscriber.collect', { expected: published.sent })));
    const histogram = Histogram.merge(parts.map((p) => p.histogram));
    const received = parts.reduce((n, p) => n + p.received, 0);
    const lastUs = Math.max(...parts.map((p) => p.lastUs));
    const spanS = Math.max(1e-3, (lastUs - published.firstUs) / 1e6);
    // A server still working through a backlog answers late; its statistics are not worth waiting for.
    const serverStats = this.server.kind !== 'raw-ws' ? await this.server.child.call('stats', {}, 2_000).catch(() => undefined) : undefined;
    const spanMs = Math.max(1, after[0]!.atMs - before[0]!.atMs);
    return {
      rate: options.rate,
      sent: published.sent,
      publishedRate: published.sent / Math.max(1e-3, (published.lastUs - published.firstUs) / 1e6 + 1 / options.rate),
      subscribers: this.subscribers,
      offeredDeliveriesPerSec: options.rate * this.subscribers,
      received,
      expected,
      deliveriesPerSec: received / spanS,
      meanFrameBytes: parts.reduce((n, p) => n + p.bytes, 0) / Math.max(1, received),
      missing: parts.reduce((n, p) => n + p.missing, 0),
      shortSubscribers: parts.reduce((n, p) => n + p.short, 0),
      duplicates: parts.reduce((n, p) => n + p.extra, 0),
      closed: parts.reduce((n, p) => n + p.closed, 0),
      other: parts.reduce((n, p) => n + p.other, 0),
      otherSample: parts.find((p) => p.otherSample)?.otherSample ?? '',
      drained,
      p50Ms: ms(histogram.percentile(0.5)),
      p99Ms: ms(histogram.percentile(0.99)),
      maxMs: ms(histogram.max),
      meanMs: ms(histogram.mean),
      serverCpuPercent: (100 * serverCpuUs) / 1000 / spanMs,
      serverUsPerDelivery: serverCpuUs / Math.max(1, received),
      serverCpuUs,
      serverProcesses,
      extraCpuPercent: (100 * extraUs) / 1000 / spanMs,
      generatorCpuPercent: parts.reduce((n, p) => n + (100 * p.cpuUs) / 1000 / Math.max(1, p.wallMs), 0),
      generatorUsPerDelivery: parts.reduce((n, p) => n + p.cpuUs, 0) / Math.max(1, received),
      machine,
      refused,
      serverStats: summarizeStats(serverStats),
      ...(options.keepHistogram ? { histogram: histogram.toData() } : {}),
    };
  }

  stop(): Promise<void> {
    return stopAll(this.ownsServer ? this.server : undefined, [...this.generators, this.publisher, ...this.extraPublishers]);
  }
}

// Keep what explains a result (connections, close codes, handler failures), not the whole metrics table.
function summarizeStats(stats: unknown): unknown {
  if (!stats || typeof stats !== 'object') return undefined;
  const { connections, handled, failed, closes, liveFailures, workers } = stats as Record<string, unknown>;
  return { connections, handled, failed, closes, liveFailures, workers };
}
