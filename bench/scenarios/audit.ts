// Scenario 7: the audit's cost. Request/reply through the plug pipeline as in scenario 1, in three servers side by
// side: auditing off (no store), every message recorded into SQLite (a temporary file), and into PostgreSQL (a
// throwaway server on loopback; skipped, loudly, without its binaries). Measured in one-second windows, each audited
// server's between two of the server without auditing, and compared with those two: this machine's speed drifts by
// up to 2x within a minute, and only windows side by side see the same machine. After each audited window the
// recorder is let catch up, so its writes do not land in the next window.
// At the end every audit row is counted against the requests the generators sent and the replies they got.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchConfig } from '../lib/config.ts';
import { Histogram, type HistogramData } from '../lib/histogram.ts';
import type { Child } from '../lib/ipc.ts';
import { CpuWindow, describeCpu, processCpuUs, threadCpuUs, threadPreemptions, type CpuUse } from '../lib/machine.ts';
import { startPostgres, type BenchPostgres } from '../lib/postgres.ts';
import { connectAll, median, ms, perSecond, startGenerator, startServer, stopAll, type Row, type ScenarioResult, type Server } from './common.ts';
import { DISTURBED_PERCENT } from './fanout.ts';

type SideName = 'off' | 'discard' | 'sqlite' | 'postgres';

interface Measured {
  completed: number;
  errors: Record<string, number>;
  elapsedMs: number;
  cpuUs: number;
  closed: number;
  histogram: HistogramData;
}

interface AuditStats {
  recorded: number;
  written: number;
  spooled: number;
  replayed: number;
  dropped: number;
  failures: number;
  queued: number;
  spoolBytes: number;
  storeAvailable: boolean;
}

interface Settled {
  ms: number;
  settled: boolean;
  stats: AuditStats | undefined;
}

interface Side {
  name: SideName;
  server: Server;
  generator: Child;
  measured: Measured[];
  machine: (CpuUse | undefined)[];
  serverCpuUs: number;
  /** The server's main thread (its event loop) alone, over the same windows: its CPU, and how often it was preempted. */
  mainCpuUs: number;
  mainPreemptions: number;
  /** PostgreSQL's own processes over this side's windows (for the other sides: its background work meanwhile). */
  storeCpuUs: number;
  wallMs: number;
  /** How long the recorder took to catch up after each window. */
  settleMs: number[];
  /** Records still queued when each window ended. */
  queuedAtEnd: number[];
  /** The server's event-loop delay in each window (p99 and max, ms). */
  loopP99Ms: number[];
  loopMaxMs: number[];
}

/** One side's figures. */
interface Figures {
  roundTripsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: Record<string, number>;
  windows: number[];
  /** Each window's round trips/s against the mean of the "off" windows just before and after it (audited sides). */
  paired: number[];
  serverCpuPercent: number;
  /** The server's CPU per round trip: its main thread's, and its other threads' (the writer thread's, mostly). */
  mainUsPerRoundTrip: number;
  otherUsPerRoundTrip: number;
  /** How often the main thread was preempted, per 1,000 round trips. */
  mainPreemptionsPerThousand: number;
  storeCpuPercent: number;
  generatorCpuPercent: number;
  settleMs: number[];
  queuedAtEnd: number[];
  loopP99Ms: number[];
  loopMaxMs: number[];
  machine: (CpuUse | undefined)[];
}

/** One server under uninterrupted load for `sustainMs`: does its store keep up? */
interface Sustained {
  roundTripsPerSec: number;
  p99Ms: number;
  errors: Record<string, number>;
  /** The recorder's queue, sampled every SAMPLE_MS. */
  maxQueued: number;
  lastQueued: number;
  droppedBefore: number;
  droppedAfter: number;
  /** How long the recorder took to write what was queued when the load stopped. */
  settleMs: number;
  settled: boolean;
  machine: CpuUse | undefined;
  /** The server's CPU per round trip over those 10 s: its main thread's, and its other threads'. */
  mainUsPerRoundTrip: number;
  otherUsPerRoundTrip: number;
}

const SAMPLE_MS = 250;

/** What the store holds at the end, against what was sent. */
interface Accounting {
  settled: Settled;
  /** Rows by record type and message type; `replied`: how many of them hold a request's reply. */
  rows: { type: string; messageType: string | null; rows: number; replied: number }[];
  totalRows: number;
  requestsIn: number;
  repliesOut: number;
  sent: number;
  replies: number;
  /** Audit rows the recorder counted as recorded and not dropped, that are not in the store. */
  missingRows: number;
  complete: boolean;
  /** How many times the rows were counted before they matched (or the last try). */
  counts: number;
}

const WINDOW_RAMP_MS = 200;

/** The order of the audited sides (1 … sides-1) in round `i`: rotated by one each round. */
function orderOf(i: number, sides: number): number[] {
  return Array.from({ length: sides - 1 }, (_, k) => 1 + ((k + i) % (sides - 1)));
}

/**
 * Each window of `name` in `timeline` (the windows in the order they ran, every audited one between two of
 * "off"): its round trips/s, and the mean of the "off" windows on either side of it.
 */
function besideOff(timeline: readonly { side: SideName; rate: number }[], name: SideName): { rate: number; off: number }[] {
  const windows: { rate: number; off: number }[] = [];
  for (let i = 1; i < timeline.length - 1; i++) {
    const [before, window, after] = [timeline[i - 1]!, timeline[i]!, timeline[i + 1]!];
    if (window.side !== name || before.side !== 'off' || after.side !== 'off') continue;
    windows.push({ rate: window.rate, off: (before.rate + after.rate) / 2 });
  }
  return windows;
}

async function startSide(name: SideName, config: BenchConfig, env: NodeJS.ProcessEnv): Promise<Side> {
  const server = await startServer('switchboard', config, `audit-${name}`, env);
  try {
    const generator = await startGenerator(`${name} request generator`);
    await connectAll(server, [generator], [config.audit.clients]);
    return { name, server, generator, measured: [], machine: [], serverCpuUs: 0, mainCpuUs: 0, mainPreemptions: 0, storeCpuUs: 0, wallMs: 0, settleMs: [], queuedAtEnd: [], loopP99Ms: [], loopMaxMs: [] };
  } catch (error) {
    await stopAll(server, []);
    throw error;
  }
}

const audited = (side: Side): boolean => side.name !== 'off';

function settle(side: Side, timeoutMs: number): Promise<Settled> {
  return side.server.child.call<Settled>('audit.settle', { timeoutMs }, timeoutMs + 30_000);
}

function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (processCpuUs(pid) ?? 0), 0);
}

async function measureWindow(side: Side, durationMs: number, pids: () => (number | undefined)[], storePids: number[]): Promise<number> {
  await side.generator.call('requests.start');
  await sleep(WINDOW_RAMP_MS);
  await side.server.child.call('eventLoop.reset');
  const window = CpuWindow.start(pids());
  const before = await side.server.cpu();
  const mainBefore = threadCpuUs(side.server.child.pid) ?? 0;
  const preemptedBefore = threadPreemptions(side.server.child.pid) ?? 0;
  const storeBefore = cpuOf(storePids);
  const m = await side.generator.call<Measured>('requests.measure', { durationMs }, durationMs + 30_000);
  const after = await side.server.cpu();
  const mainAfter = threadCpuUs(side.server.child.pid) ?? 0;
  const preemptedAfter = threadPreemptions(side.server.child.pid) ?? 0;
  const storeAfter = cpuOf(storePids);
  const loop = await side.server.child.call<{ p99Ms: number; maxMs: number }>('eventLoop.read');
  side.loopP99Ms.push(loop.p99Ms);
  side.loopMaxMs.push(loop.maxMs);
  side.machine.push(window.end());
  await side.generator.call('requests.stop');
  side.measured.push(m);
  side.serverCpuUs += after.cpuUs - before.cpuUs;
  side.mainCpuUs += mainAfter - mainBefore;
  side.mainPreemptions += preemptedAfter - preemptedBefore;
  side.storeCpuUs += storeAfter - storeBefore;
  side.wallMs += after.atMs - before.atMs;
  return perSecond(m.completed, m.elapsedMs);
}

function figures(side: Side, timeline: readonly { side: SideName; rate: number }[]): Figures {
  const histogram = Histogram.merge(side.measured.map((m) => m.histogram));
  const completed = side.measured.reduce((n, m) => n + m.completed, 0);
  const elapsedMs = side.measured.reduce((n, m) => n + m.elapsedMs, 0);
  const errors: Record<string, number> = {};
  for (const m of side.measured) for (const [code, n] of Object.entries(m.errors)) errors[code] = (errors[code] ?? 0) + n;
  const closed = Math.max(0, ...side.measured.map((m) => m.closed));
  if (closed > 0) errors.connections_closed = closed;
  return {
    roundTripsPerSec: perSecond(completed, elapsedMs),
    p50Ms: ms(histogram.percentile(0.5)),
    p99Ms: ms(histogram.percentile(0.99)),
    maxMs: ms(histogram.max),
    errors,
    windows: side.measured.map((m) => Math.round(perSecond(m.completed, m.elapsedMs))),
    paired: besideOff(timeline, side.name).map((w) => w.rate / w.off),
    serverCpuPercent: (100 * side.serverCpuUs) / 1000 / Math.max(1, side.wallMs),
    mainUsPerRoundTrip: side.mainCpuUs / Math.max(1, completed),
    otherUsPerRoundTrip: (side.serverCpuUs - side.mainCpuUs) / Math.max(1, completed),
    mainPreemptionsPerThousand: (1000 * side.mainPreemptions) / Math.max(1, completed),
    storeCpuPercent: (100 * side.storeCpuUs) / 1000 / Math.max(1, side.wallMs),
    generatorCpuPercent: (100 * side.measured.reduce((n, m) => n + m.cpuUs, 0)) / 1000 / Math.max(1, elapsedMs),
    settleMs: side.settleMs,
    queuedAtEnd: side.queuedAtEnd,
    loopP99Ms: side.loopP99Ms,
    loopMaxMs: side.loopMaxMs,
    machine: side.machine,
  };
}

async function sustain(side: Side, c: BenchConfig['audit'], pids: (number | undefined)[]): Promise<Sustained> {
  const stats = () => side.server.child.call<AuditStats | null>('audit.stats', {}, 10_000);
  const before = audited(side) ? await stats() : null;
  await side.generator.call('requests.start');
  await sleep(WINDOW_RAMP_MS);
  const window = CpuWindow.start(pids);
  const pid = side.server.child.pid;
  const [processBefore, mainBefore] = [processCpuUs(pid) ?? 0, threadCpuUs(pid) ?? 0];
  const measuring = side.generator.call<Measured>('requests.measure', { durationMs: c.sustainMs }, c.sustainMs + 30_000);
  let maxQueued = 0;
  let lastQueued = 0;
  let done = false;
  void measuring.finally(() => (done = true)).catch(() => undefined);
  // Bounded by the measurement's own duration (and its timeout).
  while (audited(side) && !done) {
    const now = await stats();
    lastQueued = now?.queued ?? 0;
    maxQueued = Math.max(maxQueued, lastQueued);
    await sleep(SAMPLE_MS);
  }
  const m = await measuring;
  const machine = window.end();
  const [processAfter, mainAfter] = [processCpuUs(pid) ?? 0, threadCpuUs(pid) ?? 0];
  await side.generator.call('requests.stop');
  const settled = audited(side) ? await settle(side, c.settleTimeoutMs) : { ms: 0, settled: true, stats: undefined };
  const histogram = Histogram.merge([m.histogram]);
  return {
    roundTripsPerSec: perSecond(m.completed, m.elapsedMs),
    p99Ms: ms(histogram.percentile(0.99)),
    errors: m.errors,
    maxQueued,
    lastQueued,
    droppedBefore: before?.dropped ?? 0,
    droppedAfter: settled.stats?.dropped ?? 0,
    settleMs: settled.ms,
    settled: settled.settled,
    machine,
    mainUsPerRoundTrip: (mainAfter - mainBefore) / Math.max(1, m.completed),
    otherUsPerRoundTrip: (processAfter - processBefore - (mainAfter - mainBefore)) / Math.max(1, m.completed),
  };
}

/** Lets the recorder finish, then counts the store's audit rows against the generator's requests and replies. */
async function account(side: Side, timeoutMs: number): Promise<Accounting> {
  const settled = await settle(side, timeoutMs);
  const totals = await side.generator.call<{ sent: number; replies: number; errorReplies: number; outstanding: number }>('requests.totals');
  const recordedKept = settled.stats ? settled.stats.recorded - settled.stats.dropped : NaN;
  let rows: Accounting['rows'];
  let counts = 0;
  // Rows become visible once their batch commits: count until they add up, for a few seconds at most.
  const deadline = performance.now() + 10_000;
  for (;;) {
    counts++;
    rows = await side.server.child.call<Accounting['rows']>('audit.rows', {}, 60_000);
    const total = rows.reduce((n, r) => n + r.rows, 0);
    if (total >= recordedKept || performance.now() > deadline) break;
    await sleep(500);
  }
  const totalRows = rows.reduce((n, r) => n + r.rows, 0);
  const echo = rows.filter((r) => r.messageType === 'bench.echo');
  const requestsIn = echo.filter((r) => r.type === 'message.in').reduce((n, r) => n + r.rows, 0);
  // A request's reply is in the request's row; one recorded apart (no request waiting for it) is a row of its own.
  const repliesOut = echo.reduce((n, r) => n + r.replied, 0) + echo.filter((r) => r.type === 'message.out').reduce((n, r) => n + r.rows, 0);
  return {
    settled,
    rows,
    totalRows,
    requestsIn,
    repliesOut,
    sent: totals.sent,
    replies: totals.replies,
    missingRows: recordedKept - totalRows,
    complete: requestsIn === totals.sent && repliesOut === totals.replies && totalRows === recordedKept && (settled.stats?.dropped ?? 1) === 0,
    counts,
  };
}

export async function runAudit(config: BenchConfig): Promise<ScenarioResult> {
  const c = config.audit;
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-audit-'));
  const sqliteFile = join(dir, 'audit.db');
  let pg: BenchPostgres | string | undefined;
  const sides: Side[] = [];
  const accounting = new Map<SideName, Accounting>();
  const sustained = new Map<SideName, Sustained>();
  /** The "off" server's uninterrupted runs: one first, then one after each audited server's. */
  const offRuns: Sustained[] = [];
  /** Every window's round trips/s, in the order they ran. */
  const timeline: { side: SideName; rate: number }[] = [];
  try {
    pg = process.env.SB_BENCH_POSTGRES === '0' ? 'SB_BENCH_POSTGRES=0 was set' : await startPostgres();
    sides.push(await startSide('off', config, {}));
    sides.push(await startSide('discard', config, { SB_BENCH_STORE: 'discard' }));
    sides.push(await startSide('sqlite', config, { SB_BENCH_STORE: `sqlite:${sqliteFile}` }));
    if (typeof pg !== 'string') sides.push(await startSide('postgres', config, { SB_BENCH_STORE: `postgres:${pg.url}` }));
    const postgres = typeof pg === 'string' ? undefined : pg;
    // Warm-up (JIT, buffers, the stores' first batches), then let every recorder catch up.
    for (const side of sides) {
      await side.generator.call('requests.start');
      await sleep(c.warmupMs);
      await side.generator.call('requests.stop');
      if (audited(side)) await settle(side, c.settleTimeoutMs);
    }
    // PostgreSQL's processes (the store's backends among them): they count as the bench's own, not as other processes.
    const pgPids = () => postgres?.pids() ?? [];
    const pids = () => [...sides.flatMap((side) => [side.server.child.pid, side.generator.pid]), ...pgPids()];
    // off, A, off, B, off, C, off, B, off, … : every audited window between two of "off".
    const measure = async (side: Side): Promise<void> => {
      // PostgreSQL's processes are measured in every server's windows: in the others' their background work
      // (checkpoints, autovacuum of what the postgres server wrote) would disturb the figures.
      timeline.push({ side: side.name, rate: await measureWindow(side, c.windowMs, pids, pgPids()) });
      if (!audited(side)) return;
      const settled = await settle(side, c.settleTimeoutMs);
      side.settleMs.push(settled.ms);
      side.queuedAtEnd.push(settled.stats?.queued ?? NaN);
    };
    await measure(sides[0]!);
    for (let i = 0; i < c.windows; i++) {
      for (const index of orderOf(i, sides.length)) {
        await measure(sides[index]!);
        await measure(sides[0]!);
      }
    }
    // The same for the uninterrupted runs: each audited one between two of "off".
    offRuns.push(await sustain(sides[0]!, c, pids()));
    for (const side of sides.slice(1)) {
      sustained.set(side.name, await sustain(side, c, pids()));
      offRuns.push(await sustain(sides[0]!, c, pids()));
    }
    for (const side of sides) if (audited(side)) accounting.set(side.name, await account(side, c.settleTimeoutMs));
  } finally {
    for (const side of sides) await stopAll(side.server, [side.generator]);
    if (pg !== undefined && typeof pg !== 'string') await pg.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const off = figures(sides[0]!, timeline);
  /** The mean round trips/s of the "off" windows beside a side's windows. */
  const offBeside = (name: SideName): number => {
    const windows = besideOff(timeline, name);
    return windows.reduce((sum, w) => sum + w.off, 0) / Math.max(1, windows.length);
  };
  const spread = (ratios: readonly number[]) =>
    `${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
  const rows: Row[] = [];
  const notes: string[] = [];
  const scenario = '7 audit';
  const perRoundTrip = (f: { mainUsPerRoundTrip: number; otherUsPerRoundTrip: number }) =>
    `per round trip ${f.mainUsPerRoundTrip.toFixed(1)} µs on the main thread, ${f.otherUsPerRoundTrip.toFixed(1)} µs on its other threads`;
  const describeSide = (name: string, f: Figures) =>
    `${name.padEnd(8)} windows ${f.windows.map((n) => n.toLocaleString('en-US')).join(', ')} round trips/s${f.paired.length > 0 ? ` (against the off windows beside each: ${f.paired.map((r) => `${r.toFixed(2)}x`).join(', ')})` : ''}; p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms, max ${f.maxMs.toFixed(1)} ms; ` +
    `server event-loop delay p99 ${f.loopP99Ms.map((t) => t.toFixed(1)).join('/')} ms, max ${f.loopMaxMs.map((t) => t.toFixed(0)).join('/')} ms; ` +
    `server CPU ${f.serverCpuPercent.toFixed(0)}% (${perRoundTrip(f)}; its main thread preempted ${f.mainPreemptionsPerThousand.toFixed(1)} times per 1,000)${name === 'postgres' ? `, PostgreSQL ${f.storeCpuPercent.toFixed(0)}%` : `, PostgreSQL's background ${f.storeCpuPercent.toFixed(0)}%`}, generator ${f.generatorCpuPercent.toFixed(0)}%` +
    (f.settleMs.length > 0 ? `; the recorder caught up ${f.settleMs.map((t) => t.toFixed(0)).join(', ')} ms after each window` : '') +
    (Object.keys(f.errors).length > 0 ? `; errors ${JSON.stringify(f.errors)}` : '') +
    `; worst window ${describeCpu(f.machine.reduce((a, b) => ((b?.otherPercent ?? 0) > (a?.otherPercent ?? 0) ? b : a), f.machine[0]))}`;
  notes.push(
    `${c.clients} clients per server, one bench.echo outstanding each; after ${c.warmupMs / 1000} s warm-up, ${c.windows} windows of ${c.windowMs / 1000} s per audited server, each between two windows of "off" and compared with their mean (the ratio is the median of those, with its range), the audited servers' order rotating; ` +
      `then ${c.sustainMs / 1000} s uninterrupted per server, each audited run between two of "off"; ` +
      `${process.env.SB_BENCH_AUDIT ? `audit options SB_BENCH_AUDIT=${process.env.SB_BENCH_AUDIT} over the defaults` : 'audit defaults (batchSize 500, flushMs 200, maxQueue 50,000, payloads kept, no spool)'}; SQLite in a temporary file (WAL, synchronous NORMAL), ` +
      `PostgreSQL ${typeof pg === 'string' || pg === undefined ? '(none)' : `(${pg.version}, default durability: fsync and synchronous_commit on)`} on 127.0.0.1`,
    describeSide('off', off),
    `off uninterrupted ${c.sustainMs / 1000} s, ${offRuns.length} runs: ${offRuns.map((run) => Math.round(run.roundTripsPerSec).toLocaleString('en-US')).join(', ')} round trips/s, p99 ${offRuns.map((run) => run.p99Ms.toFixed(1)).join('/')} ms; first run: ${perRoundTrip(offRuns[0]!)}; ${describeCpu(offRuns[0]!.machine)}`,
  );
  for (const name of ['discard', 'sqlite', 'postgres'] as const) {
    const label = { discard: 'no database', sqlite: 'SQLite', postgres: 'PostgreSQL' }[name];
    // The store that discards shows the recorder's own share; the target is the databases'.
    const target = name === 'discard' ? '' : '>= 0.8x';
    const side = sides.find((s) => s.name === name);
    if (!side) {
      const reason = typeof pg === 'string' ? pg : 'not started';
      rows.push({ scenario: `${scenario}, ${label}`, figure: `SKIPPED: ${reason}`, unit: 'count', switchboard: null, baseline: null, compare: '', target: '>= 0.8x', pass: null });
      notes.push(`${'!'.repeat(20)} PostgreSQL row SKIPPED: ${reason} ${'!'.repeat(20)}`);
      continue;
    }
    const f = figures(side, timeline);
    const a = accounting.get(name)!;
    const sus = sustained.get(name)!;
    const throughput = median(f.paired);
    // This side's uninterrupted run lies between the "off" runs k-1 and k.
    const k = sides.indexOf(side);
    const offAround = (offRuns[k - 1]!.roundTripsPerSec + offRuns[k]!.roundTripsPerSec) / 2;
    const sustainedRatio = sus.roundTripsPerSec / offAround;
    const errorCount = Object.values(f.errors).reduce((x, y) => x + y, 0);
    rows.push(
      {
        scenario: `${scenario}, ${label}`,
        figure: name === 'discard' ? 'round trips/s, recorder into a store that discards, vs off beside it' : 'round trips/s, audited vs off beside it',
        unit: 'msg/s',
        switchboard: f.roundTripsPerSec,
        baseline: offBeside(name),
        compare: spread(f.paired),
        target,
        pass: target ? throughput >= 0.8 && errorCount === 0 : null,
      },
      {
        // What the audit costs the event loop itself: the round trips/s one core for the loop alone would allow,
        // audited against off — the writer thread's and the generator's CPU left out, as on a machine with
        // cores for them (the ratio above is bound by these two cores' total; docs/performance.md, Finding 8).
        scenario: `${scenario}, ${label}`,
        figure: 'event-loop CPU per round trip, off / audited (what a core for the loop alone would allow)',
        unit: 'µs',
        switchboard: f.mainUsPerRoundTrip,
        baseline: off.mainUsPerRoundTrip,
        compare: `${(off.mainUsPerRoundTrip / f.mainUsPerRoundTrip).toFixed(2)}x`,
        target: '',
        pass: null,
      },
      { scenario: `${scenario}, ${label}`, figure: 'p50 latency', unit: 'ms', switchboard: f.p50Ms, baseline: off.p50Ms, compare: `${(f.p50Ms / off.p50Ms).toFixed(2)}x`, target: '', pass: null },
      { scenario: `${scenario}, ${label}`, figure: 'p99 latency', unit: 'ms', switchboard: f.p99Ms, baseline: off.p99Ms, compare: `${(f.p99Ms / off.p99Ms).toFixed(2)}x`, target: '', pass: null },
      {
        scenario: `${scenario}, ${label}`,
        figure: 'bench.echo audited (requests, replies) vs sent and received',
        unit: 'count',
        switchboard: a.requestsIn + a.repliesOut,
        baseline: a.sent + a.replies,
        compare: `${(a.sent + a.replies - a.requestsIn - a.repliesOut).toLocaleString('en-US')} missing`,
        target: 'all recorded',
        pass: a.complete,
      },
      {
        scenario: `${scenario}, ${label}`,
        figure: `round trips/s over ${c.sustainMs / 1000} s uninterrupted`,
        unit: 'msg/s',
        switchboard: sus.roundTripsPerSec,
        baseline: offAround,
        compare: `${sustainedRatio.toFixed(2)}x`,
        target,
        pass: target ? sustainedRatio >= 0.8 : null,
      },
      { scenario: `${scenario}, ${label}`, figure: `recorder queue, most over those ${c.sustainMs / 1000} s`, unit: 'count', switchboard: sus.maxQueued, baseline: null, compare: `caught up in ${(sus.settleMs / 1000).toFixed(1)} s`, target: '', pass: null },
      { scenario: `${scenario}, ${label}`, figure: 'records dropped by the recorder', unit: 'count', switchboard: a.settled.stats?.dropped ?? null, baseline: null, compare: '', target: '0', pass: (a.settled.stats?.dropped ?? 1) === 0 },
    );
    const s = a.settled.stats;
    notes.push(
      describeSide(name, f),
      `${name} uninterrupted ${c.sustainMs / 1000} s: ${Math.round(sus.roundTripsPerSec).toLocaleString('en-US')} round trips/s (off before and after: ${Math.round(offRuns[k - 1]!.roundTripsPerSec).toLocaleString('en-US')}, ${Math.round(offRuns[k]!.roundTripsPerSec).toLocaleString('en-US')}), p99 ${sus.p99Ms.toFixed(1)} ms; ` +
        `recorder queue up to ${sus.maxQueued.toLocaleString('en-US')} (sampled every ${SAMPLE_MS} ms; ${sus.lastQueued.toLocaleString('en-US')} at the end), caught up ${sus.settled ? `${(sus.settleMs / 1000).toFixed(1)} s` : 'NOT'} after the load stopped; ` +
        `dropped ${sus.droppedAfter - sus.droppedBefore} meanwhile; ${perRoundTrip(sus)}; ${describeCpu(sus.machine)}${Object.keys(sus.errors).length > 0 ? `; errors ${JSON.stringify(sus.errors)}` : ''}`,
      `${name} accounting: ${a.sent.toLocaleString('en-US')} requests sent and ${a.replies.toLocaleString('en-US')} replies received (all windows and the warm-up); ` +
        `rows: ${a.requestsIn.toLocaleString('en-US')} message.in of bench.echo holding ${a.repliesOut.toLocaleString('en-US')} replies, ${a.totalRows.toLocaleString('en-US')} audit rows in all ` +
        `(${a.rows.map((r) => `${r.type}/${r.messageType ?? '-'} ${r.rows.toLocaleString('en-US')}`).join(', ')}); ` +
        `recorder: recorded ${s?.recorded.toLocaleString('en-US')}, written ${s?.written.toLocaleString('en-US')} (with connection records), dropped ${s?.dropped}, spooled ${s?.spooled}, failures ${s?.failures}, queued ${s?.queued}; ` +
        `settled ${a.settled.settled ? `in ${a.settled.ms.toFixed(0)} ms` : `NOT within ${c.settleTimeoutMs / 1000} s`}; rows counted ${a.counts} time(s)`,
    );
    if (!a.complete) {
      const silent = a.missingRows > 0;
      notes.push(
        `WARNING (${name}): the store does not hold a row for every message: ${(a.sent - a.requestsIn).toLocaleString('en-US')} requests and ${(a.replies - a.repliesOut).toLocaleString('en-US')} replies without one; ` +
          `the recorder dropped ${s?.dropped ?? '?'} (counted, SB_AUDIT_DROPPED)` +
          (silent ? `, and ${a.missingRows.toLocaleString('en-US')} rows it counted as recorded and not dropped are not in the store: lost SILENTLY` : ''),
      );
    }
    if (f.machine.some((m) => (m?.otherPercent ?? 0) > DISTURBED_PERCENT)) notes.push(`WARNING (${name}): other processes took over ${DISTURBED_PERCENT}% of a core in some windows; the figures are disturbed`);
  }
  if (off.machine.some((m) => (m?.otherPercent ?? 0) > DISTURBED_PERCENT)) notes.push(`WARNING (off): other processes took over ${DISTURBED_PERCENT}% of a core in some windows; the figures are disturbed`);
  return {
    rows,
    details: { off, offRuns, timeline, sustained: Object.fromEntries(sustained), sides: Object.fromEntries(sides.map((side) => [side.name, figures(side, timeline)])), accounting: Object.fromEntries(accounting), postgres: typeof pg === 'string' ? { skipped: pg } : pg?.version },
    notes,
  };
}
