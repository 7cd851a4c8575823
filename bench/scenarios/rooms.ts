// Scenario 6: rooms. (a) 1,000 instances x 4 members exchanging messages: a fixed rate for latency and losses,
// then the highest sustained rate of room messages (`say`, to the other members) and of state changes (`move`, a
// patch to every member). (b) Memory and creation time of empty instances and of thread instances. (c) A thread
// room against an inline one: request/reply through one room's mailbox. (d) A thread room stuck in an endless loop
// until its watchdog ends it, while a neighbour inline room and plain $ping requests keep being measured.
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchConfig } from '../lib/config.ts';
import { Histogram, type HistogramData } from '../lib/histogram.ts';
import { Child } from '../lib/ipc.ts';
import { CpuWindow, describeCpu, type CpuUse } from '../lib/machine.ts';
import type { Usage } from '../servers/control.ts';
import { cpuPercent, median, ms, perSecond, split, startServer, stopAll, type Row, type ScenarioResult, type Server } from './common.ts';
import { DISTURBED_PERCENT, RateSearcher } from './fanout.ts';

/** The server variant with the room kinds of bench/servers/rooms-plug.ts. */
const ROOMS_ENV = { SB_BENCH_ROOMS: '1' };
const KiB = 1024;

function startRoomClient(name: string): Promise<Child> {
  return Child.start(name, 'load/room-client.ts', { execArgv: ['--max-old-space-size=2048'] });
}

/** Opens `count` connections from a room client; returns the index of the first. */
async function connect(server: Server, client: Child, count: number): Promise<{ first: number; ms: number }> {
  const result = await client.call<{ connected: number; failed: number; firstError: string; ms: number; first: number }>('connect', { port: server.port, path: server.path, count }, 180_000);
  if (result.failed > 0) throw new Error(`${result.failed} of ${count} connections failed: ${result.firstError}`);
  return { first: result.first, ms: result.ms };
}

interface Created {
  ms: number;
  ids: string[];
  times: number[];
  instances: number;
}

function createRooms(server: Server, kind: string, count: number, options: { ids?: boolean; times?: boolean } = {}): Promise<Created> {
  return server.child.call<Created>('rooms.create', { kind, count, ...options }, 600_000);
}

const ratio = (a: number, b: number): string => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}x` : '');
const thousands = (n: number): string => Math.round(n).toLocaleString('en-US');
const disturbed = (machine: CpuUse | undefined): boolean => (machine?.otherPercent ?? 0) > DISTURBED_PERCENT;

// ---------------------------------------------------------------- (b) memory and creation time

interface MemoryFigures {
  rooms: number;
  createMs: number;
  rssPerRoomKiB: number;
  heapPerRoomKiB: number;
  before: Usage;
  after: Usage;
  threadRooms: number;
  threadCreateMs: number[];
  rssPerThreadRoomKiB: number;
  heapPerThreadRoomKiB: number;
  afterThreads: Usage;
}

async function roomMemory(config: BenchConfig): Promise<MemoryFigures> {
  const c = config.rooms;
  let server: Server | undefined;
  try {
    server = await startServer('switchboard', config, 'rooms-memory', ROOMS_ENV);
    const before = await server.usage(true);
    const idle = await createRooms(server, 'idle', c.emptyRooms);
    await sleep(1_000);
    const after = await server.usage(true);
    // Thread rooms after the empty ones: each is a worker (its own V8 heap, in this process's RSS) that imports the plug's module.
    const threads = await createRooms(server, 'heavy', c.threadRooms, { times: true });
    await sleep(1_500);
    const afterThreads = await server.usage(true);
    return {
      rooms: c.emptyRooms,
      createMs: idle.ms,
      rssPerRoomKiB: (after.rssBytes - before.rssBytes) / c.emptyRooms / KiB,
      heapPerRoomKiB: (after.heapUsedBytes - before.heapUsedBytes) / c.emptyRooms / KiB,
      before,
      after,
      threadRooms: c.threadRooms,
      threadCreateMs: threads.times,
      rssPerThreadRoomKiB: (afterThreads.rssBytes - after.rssBytes) / c.threadRooms / KiB,
      heapPerThreadRoomKiB: (afterThreads.heapUsedBytes - after.heapUsedBytes) / c.threadRooms / KiB,
      afterThreads,
    };
  } finally {
    await stopAll(server, []);
  }
}

// ---------------------------------------------------------------- (a) 1,000 rooms x 4 members

/** One window of room traffic at a fixed rate, and what the members made of it. */
interface RoomStep {
  type: string;
  rate: number;
  sent: number;
  publishedRate: number;
  received: number;
  expected: number;
  missing: number;
  shortMembers: number;
  duplicates: number;
  replies: number;
  errors: Record<string, number>;
  other: number;
  closed: number;
  drained: boolean;
  /** Deliveries over the time from the first send to the last arrival. */
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  serverCpuPercent: number;
  serverUsPerMessage: number;
  clientCpuPercent: number;
  /** The server's event-loop delay over the step (perf_hooks, sampled every 5 ms). */
  eventLoop: { p50Ms: number; p99Ms: number; maxMs: number };
  machine: CpuUse | undefined;
  keptUp: boolean;
  retried?: boolean;
}

interface Collected {
  received: number;
  expected: number;
  missing: number;
  extra: number;
  short: number;
  replies: number;
  errors: Record<string, number>;
  other: number;
  stale: number;
  closed: number;
  firstUs: number;
  lastUs: number;
  cpuUs: number;
  wallMs: number;
  histogram: HistogramData;
}

/** Why a step failed to keep up (empty when it kept up). */
function stepReasons(step: Omit<RoomStep, 'keptUp'>, maxP99Ms: number): string[] {
  const out: string[] = [];
  if (!step.drained || step.missing > 0) out.push(`${thousands(step.missing)} not delivered in time`);
  if (step.replies < step.sent) out.push(`${thousands(step.sent - step.replies)} sends unanswered`);
  if (step.closed > 0) out.push(`${step.closed} connections closed`);
  if (step.p99Ms > maxP99Ms) out.push(`p99 ${step.p99Ms.toFixed(0)} ms`);
  if (step.publishedRate < 0.95 * step.rate) out.push(`members sent only ${Math.round(step.publishedRate)}/s`);
  const errors = Object.entries(step.errors);
  if (errors.length > 0) out.push(`refused: ${errors.map(([code, n]) => `${n} ${code}`).join(', ')}`);
  return out;
}

function describeStep(step: RoomStep, maxP99Ms: number): string {
  const verdict = step.keptUp ? 'ok' : `FELL BEHIND (${stepReasons(step, maxP99Ms).join(', ')})`;
  return (
    `${step.type} ${thousands(step.rate)}/s → ${thousands(step.deliveriesPerSec)} deliveries/s ${verdict}${step.retried ? ' (a retry)' : ''}; p50 ${step.p50Ms.toFixed(1)} ms, p99 ${step.p99Ms.toFixed(1)} ms, max ${step.maxMs.toFixed(0)} ms; ` +
    `server CPU ${step.serverCpuPercent.toFixed(0)}% (${step.serverUsPerMessage.toFixed(1)} µs/message), its event-loop delay p99 ${step.eventLoop.p99Ms.toFixed(1)} ms max ${step.eventLoop.maxMs.toFixed(1)} ms, room clients ${step.clientCpuPercent.toFixed(0)}%, ${describeCpu(step.machine)}`
  );
}

/** A server with `rooms` chat rooms, and room clients holding their `members` members each (a room's members in one process). */
class RoomRig {
  readonly server: Server;
  readonly clients: Child[];
  /** Members in each client. */
  readonly members: number[];
  readonly connectMs: number;
  readonly joinMs: number;
  readonly createMs: number;
  private seq = 0;

  private constructor(server: Server, clients: Child[], members: number[], times: { connectMs: number; joinMs: number; createMs: number }) {
    this.server = server;
    this.clients = clients;
    this.members = members;
    this.connectMs = times.connectMs;
    this.joinMs = times.joinMs;
    this.createMs = times.createMs;
  }

  static async start(config: BenchConfig): Promise<RoomRig> {
    const c = config.rooms;
    let server: Server | undefined;
    const clients: Child[] = [];
    try {
      server = await startServer('switchboard', config, 'rooms', ROOMS_ENV);
      for (let i = 0; i < config.generators; i++) clients.push(await startRoomClient(`room client ${i + 1}`));
      const created = await createRooms(server, 'chat', c.rooms, { ids: true });
      const roomsPer = split(c.rooms, clients.length);
      const t0 = performance.now();
      await Promise.all(clients.map((client, i) => connect(server!, client, roomsPer[i]! * c.members)));
      const t1 = performance.now();
      let at = 0;
      await Promise.all(
        clients.map((client, i) => {
          const rooms = created.ids.slice(at, (at += roomsPer[i]!));
          return client.call('join', { rooms, perRoom: c.members, from: 0 }, 300_000);
        }),
      );
      const t2 = performance.now();
      return new RoomRig(server, clients, roomsPer.map((n) => n * c.members), { connectMs: t1 - t0, joinMs: t2 - t1, createMs: created.ms });
    } catch (error) {
      await stopAll(server, clients);
      throw error;
    }
  }

  /** Members send `type` at `rate` messages/s in all (each in turn) for `durationMs`; waits `drainMs` at most for the deliveries. */
  async step(type: string, rate: number, durationMs: number, drainMs: number, maxP99Ms: number): Promise<RoomStep> {
    const total = Math.max(1, Math.round((rate * durationMs) / 1000));
    const all = this.members.reduce((a, b) => a + b, 0);
    const counts = this.members.map((m) => Math.max(1, Math.round((total * m) / all)));
    const seqStart = this.seq;
    this.seq += total + this.clients.length;
    await Promise.all(this.clients.map((client) => client.call('rate.reset', { minSeq: seqStart, includeSelf: type === 'move' })));
    await this.server.child.call('eventLoop.reset');
    const before = await this.server.cpu();
    const window = CpuWindow.start([this.server.child.pid, ...this.clients.map((client) => client.pid)]);
    const runs = await Promise.all(
      this.clients.map((client, i) =>
        client.call<{ sent: number; firstUs: number; lastUs: number }>('rate.run', { type, seqStart, count: counts[i], rate: (rate * this.members[i]!) / all }, durationMs + 60_000),
      ),
    );
    const sent = runs.reduce((n, run) => n + run.sent, 0);
    const deadline = performance.now() + drainMs;
    let drained = false;
    while (performance.now() < deadline) {
      const totals = await Promise.all(this.clients.map((client) => client.call<{ received: number; expected: number; replies: number }>('rate.totals')));
      if (totals.every((t) => t.received >= t.expected) && totals.reduce((n, t) => n + t.replies, 0) >= sent) {
        drained = true;
        break;
      }
      await sleep(25);
    }
    const machine = window.end();
    const after = await this.server.cpu();
    const parts = await Promise.all(this.clients.map((client) => client.call<Collected>('rate.collect')));
    const eventLoop = await this.server.child.call<RoomStep['eventLoop']>('eventLoop.read');
    const histogram = Histogram.merge(parts.map((p) => p.histogram));
    const received = parts.reduce((n, p) => n + p.received, 0);
    const firstUs = Math.min(...runs.map((run) => run.firstUs));
    const lastSentUs = Math.max(...runs.map((run) => run.lastUs));
    const lastUs = Math.max(...parts.map((p) => p.lastUs));
    const errors: Record<string, number> = {};
    for (const part of parts) for (const [code, n] of Object.entries(part.errors)) errors[code] = (errors[code] ?? 0) + n;
    const step: Omit<RoomStep, 'keptUp'> = {
      type,
      rate,
      sent,
      publishedRate: sent / Math.max(1e-3, (lastSentUs - firstUs) / 1e6 + 1 / rate),
      received,
      expected: parts.reduce((n, p) => n + p.expected, 0),
      missing: parts.reduce((n, p) => n + p.missing, 0),
      shortMembers: parts.reduce((n, p) => n + p.short, 0),
      duplicates: parts.reduce((n, p) => n + p.extra, 0),
      replies: parts.reduce((n, p) => n + p.replies, 0),
      errors,
      other: parts.reduce((n, p) => n + p.other, 0),
      closed: parts.reduce((n, p) => n + p.closed, 0),
      drained,
      deliveriesPerSec: received / Math.max(1e-3, (lastUs - firstUs) / 1e6),
      p50Ms: ms(histogram.percentile(0.5)),
      p99Ms: ms(histogram.percentile(0.99)),
      maxMs: ms(histogram.max),
      serverCpuPercent: cpuPercent(before, after),
      serverUsPerMessage: (after.cpuUs - before.cpuUs) / Math.max(1, sent),
      clientCpuPercent: parts.reduce((n, p) => n + (100 * p.cpuUs) / 1000 / Math.max(1, p.wallMs), 0),
      eventLoop,
      machine,
    };
    return { ...step, keptUp: stepReasons(step, maxP99Ms).length === 0 };
  }

  /** After a step that fell behind: waits (10 s at most) until nothing more arrives, so the next step starts clean. */
  async quiesce(): Promise<void> {
    const deadline = performance.now() + 10_000;
    let last = -1;
    let stableSince = performance.now();
    while (performance.now() < deadline) {
      const totals = await Promise.all(this.clients.map((client) => client.call<{ received: number; replies: number }>('rate.totals')));
      const now = totals.reduce((n, t) => n + t.received + t.replies, 0);
      if (now !== last) {
        last = now;
        stableSince = performance.now();
      } else if (performance.now() - stableSince > 500) return;
      await sleep(100);
    }
  }

  stop(): Promise<void> {
    return stopAll(this.server, this.clients);
  }
}

interface Traffic {
  warmup: RoomStep[];
  say: RoomStep;
  move: RoomStep;
  sayRate: { best: RoomStep | undefined; steps: RoomStep[] };
  moveRate: { best: RoomStep | undefined; steps: RoomStep[] };
  connectMs: number;
  joinMs: number;
  createMs: number;
  aborted: string;
  /** The server's memory after the members joined and after all the traffic (forced GC): the rooms' histories hold their patches. */
  joined: Usage;
  end: Usage;
  movesSent: number;
}

async function roomTraffic(config: BenchConfig): Promise<Traffic> {
  const c = config.rooms;
  const rig = await RoomRig.start(config);
  try {
    const joined = await rig.server.usage(true);
    // Warm-up (JIT, buffers), then a fixed rate of each: latency and losses.
    const warmup = [await rig.step('say', c.rate, c.warmupMs, c.drainMs, c.maxP99Ms), await rig.step('move', c.rate, c.warmupMs, c.drainMs, c.maxP99Ms)];
    const say = await rig.step('say', c.rate, c.durationMs, c.drainMs, c.maxP99Ms);
    const move = await rig.step('move', c.rate, c.durationMs, c.drainMs, c.maxP99Ms);
    // The highest sustained rate of each, a step of each in turn (the order alternating), as in 2a and 5.
    const searchers = [new RateSearcher<RoomStep>({ type: 'say' }, c), new RateSearcher<RoomStep>({ type: 'move' }, c)];
    let aborted = '';
    for (let round = 0; !aborted; round++) {
      let ran = false;
      for (const searcher of round % 2 === 0 ? searchers : [...searchers].reverse()) {
        const rate = searcher.next();
        if (rate === undefined || aborted) continue;
        ran = true;
        let step = await rig.step(searcher.message.type, rate, c.stepMs, c.drainMs, c.maxP99Ms);
        if (!step.keptUp) await rig.quiesce();
        // Someone else's burst can fail a step on a shared machine: such a step gets one more try.
        if (!step.keptUp && disturbed(step.machine) && step.closed === 0) {
          searcher.steps.push(step);
          step = { ...(await rig.step(searcher.message.type, rate, c.stepMs, c.drainMs, c.maxP99Ms)), retried: true };
          if (!step.keptUp) await rig.quiesce();
        }
        searcher.steps.push(step);
        searcher.record(step);
        if (step.closed > 0) aborted = `${step.closed} member connections closed during a ${step.type} step at ${step.rate}/s; the search stopped there`;
      }
      if (!ran) break;
    }
    const [sayRate, moveRate] = searchers as [RateSearcher<RoomStep>, RateSearcher<RoomStep>];
    const end = await rig.server.usage(true);
    const movesSent = [...warmup, move, ...moveRate.steps].filter((step) => step.type === 'move').reduce((n, step) => n + step.sent, 0);
    return {
      warmup,
      say,
      move,
      sayRate: { best: sayRate.best, steps: sayRate.steps },
      moveRate: { best: moveRate.best, steps: moveRate.steps },
      connectMs: rig.connectMs,
      joinMs: rig.joinMs,
      createMs: rig.createMs,
      aborted,
      joined,
      end,
      movesSent,
    };
  } finally {
    await rig.stop();
  }
}

// ---------------------------------------------------------------- (c) thread vs inline, (d) a stuck thread room

interface LoopFigures {
  name: string;
  completed: number;
  errors: Record<string, number>;
  elapsedMs: number;
  histogram: HistogramData;
}

/** A closed loop's figures over its windows. */
interface LoopSummary {
  roundTripsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: Record<string, number>;
  windows: number[];
  serverCpuPercent: number;
  machine: (CpuUse | undefined)[];
}

function summarize(figures: LoopFigures[], serverCpu: number[], machine: (CpuUse | undefined)[]): LoopSummary {
  const histogram = Histogram.merge(figures.map((f) => f.histogram));
  const completed = figures.reduce((n, f) => n + f.completed, 0);
  const elapsedMs = figures.reduce((n, f) => n + f.elapsedMs, 0);
  const errors: Record<string, number> = {};
  for (const f of figures) for (const [code, n] of Object.entries(f.errors)) errors[code] = (errors[code] ?? 0) + n;
  return {
    roundTripsPerSec: perSecond(completed, elapsedMs),
    p50Ms: ms(histogram.percentile(0.5)),
    p99Ms: ms(histogram.percentile(0.99)),
    maxMs: ms(histogram.max),
    errors,
    windows: figures.map((f) => Math.round(perSecond(f.completed, f.elapsedMs))),
    serverCpuPercent: serverCpu.length > 0 ? serverCpu.reduce((a, b) => a + b, 0) / serverCpu.length : NaN,
    machine,
  };
}

interface StallResult {
  spin: { error?: { code: string; message: string }; ms: number };
  endedMs: number;
  backMs: number | null;
  probes: number;
  probeErrors: Record<string, number>;
  loops: LoopFigures[];
  cpuUs: number;
}

interface Isolation {
  threadCreateMs: number;
  loops: Record<string, LoopSummary>;
  stall: {
    baseline: Record<string, LoopSummary>;
    during: Record<string, LoopSummary>;
    after: Record<string, LoopSummary>;
    result: StallResult;
    machine: CpuUse | undefined;
    /** The server's event-loop delay in each part. */
    eventLoop: Record<string, RoomStep['eventLoop']>;
    restarts: number;
  };
}

async function isolation(config: BenchConfig): Promise<Isolation> {
  const c = config.rooms;
  const s = c.stall;
  const n = c.loopMembers;
  let server: Server | undefined;
  let client: Child | undefined;
  try {
    server = await startServer('switchboard', config, 'rooms-thread', ROOMS_ENV);
    client = await startRoomClient('room client');
    const inline = (await createRooms(server, 'chat', 1, { ids: true })).ids[0]!;
    const threadCreated = await createRooms(server, 'heavy', 1, { ids: true, times: true });
    const thread = threadCreated.ids[0]!;
    // Sockets: 0 inline-1, 1…n inline-n (the first `neighbours` of them are the stall's neighbour), n+1 thread-1,
    // n+2…2n+1 thread-n, 2n+2 the thread room's member that makes it spin, then the $ping connections.
    const spinner = 2 * n + 2;
    const pingFrom = 2 * n + 3;
    await connect(server, client, pingFrom + s.pings);
    await client.call('join', { rooms: [inline], perRoom: n + 1, from: 0 }, 60_000);
    await client.call('join', { rooms: [thread], perRoom: n + 2, from: n + 1 }, 60_000);
    const define = (name: string, from: number, count: number, target: unknown, intervalMs = 0) => client!.call('loop.define', { name, from, count, target, intervalMs });
    await define('inline-1', 0, 1, { room: inline, type: 'echo' });
    await define('inline-n', 1, n, { room: inline, type: 'echo' });
    await define('thread-1', n + 1, 1, { room: thread, type: 'echo' });
    await define('thread-n', n + 2, n, { room: thread, type: 'echo' });

    const measured: Record<string, { figures: LoopFigures[]; serverCpu: number[]; machine: (CpuUse | undefined)[] }> = {};
    const windowOf = async (name: string, durationMs: number, record: boolean) => {
      await client!.call('loop.start', { names: [name] });
      await sleep(200);
      const before = await server!.cpu();
      const window = CpuWindow.start([server!.child.pid, client!.pid]);
      const result = await client!.call<{ loops: LoopFigures[] }>('loop.measure', { names: [name], durationMs }, durationMs + 30_000);
      const machine = window.end();
      const after = await server!.cpu();
      await client!.call('loop.stop', { names: [name] });
      if (!record) return;
      const entry = (measured[name] ??= { figures: [], serverCpu: [], machine: [] });
      entry.figures.push(...result.loops);
      entry.serverCpu.push(cpuPercent(before, after));
      entry.machine.push(machine);
    };
    // Warm-up, then alternating windows (ABBA) so that a burst of other work lands on both sides.
    for (const name of ['inline-1', 'thread-1', 'inline-n', 'thread-n']) await windowOf(name, 500, false);
    for (let i = 0; i < c.windows; i++) {
      for (const pair of [
        ['inline-1', 'thread-1'],
        ['inline-n', 'thread-n'],
      ]) {
        for (const name of i % 2 === 0 ? pair : [...pair].reverse()) await windowOf(name, c.windowMs, true);
      }
    }
    const loops = Object.fromEntries(Object.entries(measured).map(([name, m]) => [name, summarize(m.figures, m.serverCpu, m.machine)]));

    // The stall: a neighbour room and plain $ping requests, paced, before, during and after a thread room spins.
    const names = ['neighbour', 'ping'];
    await define('neighbour', 1, s.neighbours, { room: inline, type: 'echo' }, s.intervalMs);
    await define('ping', pingFrom, s.pings, { plain: '$ping' }, s.intervalMs);
    await client.call('loop.start', { names });
    await sleep(500);
    const eventLoop: Record<string, RoomStep['eventLoop']> = {};
    const readLoop = () => server!.child.call<RoomStep['eventLoop']>('eventLoop.read');
    const measure = async (durationMs: number) => {
      const result = await client!.call<{ loops: LoopFigures[] }>('loop.measure', { names, durationMs }, durationMs + 30_000);
      return Object.fromEntries(result.loops.map((loop) => [loop.name, summarize([loop], [], [])]));
    };
    await server.child.call('eventLoop.reset');
    const baseline = await measure(s.baselineMs);
    eventLoop.baseline = await readLoop();
    await server.child.call('eventLoop.reset');
    const window = CpuWindow.start([server.child.pid, client.pid]);
    const result = await client.call<StallResult>('stall', { socket: spinner, room: thread, loops: names, probeMs: 50, timeoutMs: s.timeoutMs }, s.timeoutMs + 30_000);
    const machine = window.end();
    eventLoop.during = await readLoop();
    const during = Object.fromEntries(result.loops.map((loop) => [loop.name, summarize([loop], [], [])]));
    await server.child.call('eventLoop.reset');
    const after = await measure(s.baselineMs);
    eventLoop.after = await readLoop();
    await client.call('loop.stop', { names });
    const listed = await server.child.call<{ id: string; restarts: number }[]>('rooms.list', { kind: 'heavy' });
    return {
      threadCreateMs: threadCreated.times[0] ?? NaN,
      loops,
      stall: { baseline, during, after, result, machine, eventLoop, restarts: listed.find((room) => room.id === thread)?.restarts ?? -1 },
    };
  } finally {
    await stopAll(server, [client]);
  }
}

// ---------------------------------------------------------------- the scenario

export async function runRooms(config: BenchConfig): Promise<ScenarioResult> {
  const c = config.rooms;
  const memory = await roomMemory(config);
  const traffic = await roomTraffic(config);
  const iso = await isolation(config);

  const size = `${thousands(c.rooms)} x ${c.members}`;
  const fan = `6 rooms ${size}`;
  const rows: Row[] = [];
  const atRate = (step: RoomStep, what: string) => {
    rows.push(
      { scenario: fan, figure: `${what} at ${thousands(c.rate)}/s: deliveries/s (offered ${thousands(c.rate * (step.type === 'move' ? c.members : c.members - 1))})`, unit: 'msg/s', switchboard: step.deliveriesPerSec, baseline: null, compare: '', target: '', pass: null },
      { scenario: fan, figure: `${what}: p50 / p99 delay`, unit: 'ms', switchboard: step.p50Ms, baseline: null, compare: `p99 ${step.p99Ms.toFixed(1)} ms`, target: '', pass: null },
      { scenario: fan, figure: `${what}: losses (deliveries missing)`, unit: 'count', switchboard: step.missing, baseline: null, compare: '', target: '0', pass: step.missing === 0 && step.closed === 0 && step.duplicates === 0 && Object.keys(step.errors).length === 0 },
    );
  };
  atRate(traffic.say, 'say (to the 3 others)');
  atRate(traffic.move, 'move (state patch to all 4)');
  const searchDisturbed = (search: { best: RoomStep | undefined; steps: RoomStep[] }) => disturbed(search.best?.machine) || search.steps.some((step) => !step.keptUp && !step.retried && disturbed(step.machine));
  for (const [what, search] of [
    ['say', traffic.sayRate],
    ['move', traffic.moveRate],
  ] as const) {
    rows.push(
      { scenario: fan, figure: `${what}: deliveries/s sustained${searchDisturbed(search) ? ' (disturbed)' : ''}`, unit: 'msg/s', switchboard: search.best?.deliveriesPerSec ?? null, baseline: null, compare: search.best ? `${thousands(search.best.rate)} msg/s sent` : 'none kept up', target: '', pass: null },
      { scenario: fan, figure: `${what}: p99 delay at that rate`, unit: 'ms', switchboard: search.best?.p99Ms ?? null, baseline: null, compare: '', target: '', pass: null },
    );
  }
  const mem = `6 rooms memory, ${thousands(memory.rooms)} empty`;
  rows.push(
    { scenario: mem, figure: 'RSS per empty room', unit: 'KiB', switchboard: memory.rssPerRoomKiB, baseline: null, compare: '', target: '', pass: null },
    { scenario: mem, figure: 'JS heap per empty room', unit: 'KiB', switchboard: memory.heapPerRoomKiB, baseline: null, compare: '', target: '', pass: null },
    { scenario: mem, figure: 'create an empty room, mean', unit: 'ms', switchboard: memory.createMs / memory.rooms, baseline: null, compare: `${thousands((memory.rooms / memory.createMs) * 1000)} rooms/s`, target: '', pass: null },
  );
  const threadCreate = median([...memory.threadCreateMs, iso.threadCreateMs].filter(Number.isFinite));
  const thr = '6 rooms thread vs inline';
  rows.push(
    // A ratio of thousands says less than the sizes themselves.
    { scenario: thr, figure: `RSS per thread room (${memory.threadRooms} made) vs empty inline room`, unit: 'KiB', switchboard: memory.rssPerThreadRoomKiB, baseline: memory.rssPerRoomKiB, compare: `${(memory.rssPerThreadRoomKiB / KiB).toFixed(1)} MiB`, target: '', pass: null },
    { scenario: thr, figure: 'create a room (thread: median) vs inline (mean)', unit: 'ms', switchboard: threadCreate, baseline: memory.createMs / memory.rooms, compare: '', target: '', pass: null },
  );
  const loop = (name: string) => iso.loops[name]!;
  for (const k of ['1', 'n'] as const) {
    const t = loop(`thread-${k}`);
    const i = loop(`inline-${k}`);
    const who = k === '1' ? '1 member' : `${c.loopMembers} members`;
    rows.push(
      { scenario: thr, figure: `echo round trips/s, ${who} (closed loop)`, unit: 'msg/s', switchboard: t.roundTripsPerSec, baseline: i.roundTripsPerSec, compare: ratio(t.roundTripsPerSec, i.roundTripsPerSec), target: '', pass: null },
      { scenario: thr, figure: `echo p50, ${who}`, unit: 'ms', switchboard: t.p50Ms, baseline: i.p50Ms, compare: ratio(t.p50Ms, i.p50Ms), target: '', pass: null },
      { scenario: thr, figure: `echo p99, ${who}`, unit: 'ms', switchboard: t.p99Ms, baseline: i.p99Ms, compare: ratio(t.p99Ms, i.p99Ms), target: '', pass: null },
    );
  }
  const st = iso.stall;
  const stall = '6 rooms stuck thread room';
  const nb = (part: Record<string, LoopSummary>, name: string) => part[name]!;
  const neighbourErrors = ['neighbour', 'ping'].reduce((sum, name) => sum + Object.values(nb(st.during, name).errors).reduce((a, b) => a + b, 0), 0);
  const deadlineMs = 2_000;
  const servedThroughout = neighbourErrors === 0 && nb(st.during, 'neighbour').maxMs < deadlineMs && nb(st.during, 'ping').maxMs < deadlineMs && st.result.backMs !== null;
  rows.push(
    { scenario: stall, figure: 'watchdog ended the thread after', unit: 'ms', switchboard: st.result.endedMs, baseline: null, compare: `deadline ${deadlineMs} ms`, target: '', pass: null },
    { scenario: stall, figure: 'room answering again after', unit: 'ms', switchboard: st.result.backMs, baseline: null, compare: `restarts: ${st.restarts}`, target: '', pass: null },
    { scenario: stall, figure: 'neighbour room echo p99, stall vs undisturbed', unit: 'ms', switchboard: nb(st.during, 'neighbour').p99Ms, baseline: nb(st.baseline, 'neighbour').p99Ms, compare: ratio(nb(st.during, 'neighbour').p99Ms, nb(st.baseline, 'neighbour').p99Ms), target: '', pass: null },
    { scenario: stall, figure: '$ping p99, stall vs undisturbed', unit: 'ms', switchboard: nb(st.during, 'ping').p99Ms, baseline: nb(st.baseline, 'ping').p99Ms, compare: ratio(nb(st.during, 'ping').p99Ms, nb(st.baseline, 'ping').p99Ms), target: '', pass: null },
    {
      scenario: stall,
      figure: 'neighbours served throughout (no error, max < deadline)',
      unit: 'ms',
      switchboard: Math.max(nb(st.during, 'neighbour').maxMs, nb(st.during, 'ping').maxMs),
      baseline: Math.max(nb(st.baseline, 'neighbour').maxMs, nb(st.baseline, 'ping').maxMs),
      compare: `${neighbourErrors} errors`,
      target: `max < ${deadlineMs} ms`,
      pass: servedThroughout,
    },
  );

  const step = (s: RoomStep) => describeStep(s, c.maxP99Ms);
  const loopLine = (name: string, l: LoopSummary) =>
    `${name.padEnd(9)} ${thousands(l.roundTripsPerSec)} round trips/s (windows ${l.windows.map(thousands).join(', ')}), p50 ${l.p50Ms.toFixed(3)} ms, p99 ${l.p99Ms.toFixed(3)} ms, max ${l.maxMs.toFixed(1)} ms, ` +
    `server CPU ${l.serverCpuPercent.toFixed(0)}%${Object.keys(l.errors).length > 0 ? `, errors ${JSON.stringify(l.errors)}` : ''}${l.machine.some(disturbed) ? ' — DISTURBED window' : ''}`;
  const stallLine = (label: string, part: Record<string, LoopSummary>, loop: RoomStep['eventLoop'] | undefined) =>
    `${label}: server event-loop delay p99 ${loop?.p99Ms.toFixed(1)} ms max ${loop?.maxMs.toFixed(1)} ms; ` +
    ['neighbour', 'ping']
      .map((name) => {
        const l = nb(part, name);
        return `${name} ${thousands(l.roundTripsPerSec)}/s p50 ${l.p50Ms.toFixed(2)} ms p99 ${l.p99Ms.toFixed(2)} ms max ${l.maxMs.toFixed(1)} ms${Object.keys(l.errors).length > 0 ? ` errors ${JSON.stringify(l.errors)}` : ''}`;
      })
      .join('; ');
  const notes = [
    `${size}: ${thousands(c.rooms)} "chat" rooms created in ${(traffic.createMs / 1000).toFixed(1)} s, ${thousands(c.rooms * c.members)} lite connections over ${config.generators} room-client processes ` +
      `(a room's members in one process) connected in ${(traffic.connectMs / 1000).toFixed(1)} s and joined (by room id) in ${(traffic.joinMs / 1000).toFixed(1)} s; ` +
      `every member sends $room.send in turn at the step's rate; say → ctx.room.broadcast to the 3 others ($room.message), move → a state change ($room.state patch to all 4); ` +
      `delay = arrival at a member minus the sender's timestamp`,
    ...traffic.warmup.map((s) => `warm-up ${step(s)}`),
    `fixed ${step(traffic.say)}`,
    `fixed ${step(traffic.move)}`,
    `sustained rate: steps of ${c.stepMs / 1000} s from ${thousands(c.startRate)}/s, doubling then ${c.refineSteps} bisection steps, say and move in turn; keeps up = everything delivered and answered within ${c.drainMs / 1000} s, p99 <= ${c.maxP99Ms} ms, nothing refused`,
    ...traffic.sayRate.steps.map((s) => `search ${step(s)}`),
    ...traffic.moveRate.steps.map((s) => `search ${step(s)}`),
    `server memory (forced GC) once the members had joined: RSS ${(traffic.joined.rssBytes / 2 ** 20).toFixed(0)} MiB, heap ${(traffic.joined.heapUsedBytes / 2 ** 20).toFixed(0)} MiB; ` +
      `after all the steps (${thousands(traffic.movesSent)} moves, ${thousands(traffic.movesSent / c.rooms)} per room, each a patch the room's history keeps, up to rooms.history.maxPatches): ` +
      `RSS ${(traffic.end.rssBytes / 2 ** 20).toFixed(0)} MiB, heap ${(traffic.end.heapUsedBytes / 2 ** 20).toFixed(0)} MiB`,
    `memory: ${thousands(memory.rooms)} empty "idle" rooms (no member, emptyTimeoutMs 10 min) created through server.createRoom one after another in ${(memory.createMs / 1000).toFixed(2)} s; ` +
      `RSS ${(memory.before.rssBytes / 2 ** 20).toFixed(1)} → ${(memory.after.rssBytes / 2 ** 20).toFixed(1)} MiB, heap ${(memory.before.heapUsedBytes / 2 ** 20).toFixed(1)} → ${(memory.after.heapUsedBytes / 2 ** 20).toFixed(1)} MiB (after forced GC); ` +
      `then ${memory.threadRooms} "heavy" thread rooms: created in ${memory.threadCreateMs.map((t) => t.toFixed(0)).join(', ')} ms, RSS → ${(memory.afterThreads.rssBytes / 2 ** 20).toFixed(1)} MiB (workers' heaps are not collected by the forced GC)`,
    `thread vs inline: one "chat" (inline) and one "heavy" (thread, heartbeat 250 ms, deadline 2 s) room in one server; closed-loop $room.send echo from 1 member and from ${c.loopMembers} members, ` +
      `${c.windows} alternating windows of ${c.windowMs / 1000} s each; the first thread room of that server was created in ${iso.threadCreateMs.toFixed(0)} ms`,
    ...Object.entries(iso.loops).map(([name, l]) => loopLine(name, l)),
    `stuck thread room: ${c.stall.neighbours} members of the inline room (echo) and ${c.stall.pings} plain connections ($ping), each sending once per ${c.stall.intervalMs} ms; ` +
      `a member of the thread room sends "spin" (for (;;) {}); the stall window runs from that send until the restarted room answers an echo (probed every 50 ms)`,
    stallLine(`undisturbed (${c.stall.baselineMs / 1000} s)`, st.baseline, st.eventLoop.baseline),
    stallLine(`during the stall (${((st.result.backMs ?? st.result.endedMs) / 1000).toFixed(2)} s)`, st.during, st.eventLoop.during),
    stallLine(`after (${c.stall.baselineMs / 1000} s)`, st.after, st.eventLoop.after),
    `the spin's sender got ${st.result.spin.error ? `${st.result.spin.error.code} ("${st.result.spin.error.message}")` : 'a reply (!)'} after ${st.result.spin.ms.toFixed(0)} ms; ` +
      `${st.result.probes} probes until the room answered${Object.keys(st.result.probeErrors).length > 0 ? ` (refused: ${JSON.stringify(st.result.probeErrors)})` : ''}; ${describeCpu(st.machine)} over the stall`,
  ];
  if (traffic.aborted) notes.push(`WARNING: ${traffic.aborted}`);
  if ([traffic.say, traffic.move].some((s) => disturbed(s.machine))) notes.push(`WARNING: other processes took over ${DISTURBED_PERCENT}% of a core during a fixed-rate window; those figures are disturbed`);
  if (disturbed(st.machine)) notes.push(`WARNING: other processes took over ${DISTURBED_PERCENT}% of a core during the stall; its neighbour figures are disturbed`);
  return { rows, details: { memory, traffic, isolation: iso }, notes };
}
