// Scenario 8: the cluster. (a) Fan-out through an agent (startAgent, as `switchboard start --workers N` runs it)
// with 1 worker and with 2: the server's CPU per delivery (the agent, which relays the bus, and its workers) at one
// fixed offered rate, broadcast and channel, in alternating windows; then the highest sustained rate of broadcast
// and of a channel with history in each (the four searches in turn), and that channel in one process for reference.
// (b) Two single-process nodes over a throwaway Redis (RedisBus, RedisHistory,
// RedisPresence): subscribers on node B, the publisher on node A, beside the same on one node without Redis and on
// node B alone over Redis: the delay the hop through Redis adds, and losses.
import { cpus } from 'node:os';
import type { BenchConfig } from '../lib/config.ts';
import { Histogram } from '../lib/histogram.ts';
import type { Child } from '../lib/ipc.ts';
import { processCpuUs, type CpuUse } from '../lib/machine.ts';
import { startRedis, type BenchRedis } from '../lib/redis.ts';
import { FanoutRig, ms, startServer, stopAll, type Row, type ScenarioResult, type Server, type StepResult } from './common.ts';
import { describe, DISTURBED_PERCENT, RateSearcher, reasons, type Step, type StepMessage } from './fanout.ts';

const CHANNEL = 'bench-all';
/** A channel with history (BENCH_HISTORY_CHANNELS): each message is appended to the shared history first. */
const HISTORY_CHANNEL = 'bench-h-all';
const BROADCAST: StepMessage = { type: 'bench.broadcast' };
const PUBLISH: StepMessage = { type: 'bench.publish', extra: { channel: CHANNEL } };
const PUBLISH_HISTORY: StepMessage = { type: 'bench.publish', extra: { channel: HISTORY_CHANNEL } };
/** What part (a) measures at the fixed rate, in this order. */
const FIXED = [
  { name: 'broadcast', label: 'broadcast', message: BROADCAST },
  { name: 'channel', label: '1 channel', message: PUBLISH },
] as const;
type FixedName = (typeof FIXED)[number]['name'];
/**
 * The highest sustained rates part (a) searches, in each cluster: broadcast, and a channel with history (far
 * below the others: see docs/performance.md, finding 14), from its own start rate.
 */
const SEARCHES = [
  { name: 'broadcast', label: 'broadcast', message: BROADCAST },
  { name: 'history', label: '1 channel with history', message: PUBLISH_HISTORY },
] as const;
type SearchName = (typeof SEARCHES)[number]['name'];
/** The channels of part (b), on the nodes over Redis and on the single node: without and with history. */
const REDIS_CHANNEL = 'bench-redis';
const REDIS_HISTORY_CHANNEL = 'bench-h-redis';
/** Issue 12's targets. */
const MAX_CPU_RATIO = 1.25;
const MAX_ADDED_P50_MS = 5;
const WORKER_COUNTS = [1, 2] as const;

/** Windows of one configuration, summed: deliveries, losses, CPU and one histogram of every delay. */
interface Summary {
  windows: number;
  sent: number;
  received: number;
  expected: number;
  missing: number;
  closed: number;
  duplicates: number;
  refused: number;
  undrained: number;
  /** Mean over the windows of each window's deliveries per second. */
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  serverCpuUs: number;
  serverUsPerDelivery: number;
  serverCpuPercent: number;
  /** CPU per delivery of each process (µs), by label: agent, worker 0, … */
  perProcessUs: Record<string, number>;
  /** The agent's CPU per message published (µs): what relaying one message to its workers costs it. */
  agentUsPerMessage: number | undefined;
  generatorCpuPercent: number;
  extraCpuPercent: number;
  /** The busiest "other processes" of its windows (% of one core). */
  otherPercentMax: number;
  /** The machine over the windows, on average (% of one core). */
  machineBusyPercent: number;
  softirqPercent: number;
  machine: (CpuUse | undefined)[];
}

function summarize(steps: StepResult[]): Summary {
  const histogram = Histogram.merge(steps.flatMap((s) => (s.histogram ? [s.histogram] : [])));
  const sum = (f: (s: StepResult) => number) => steps.reduce((n, s) => n + f(s), 0);
  const received = sum((s) => s.received);
  const serverCpuUs = sum((s) => s.serverCpuUs);
  const perProcessUs: Record<string, number> = {};
  for (const step of steps) for (const p of step.serverProcesses) perProcessUs[p.label] = (perProcessUs[p.label] ?? 0) + p.cpuUs;
  const agentUsPerMessage = perProcessUs.agent === undefined ? undefined : perProcessUs.agent / Math.max(1, sum((s) => s.sent));
  for (const label of Object.keys(perProcessUs)) perProcessUs[label] = perProcessUs[label]! / Math.max(1, received);
  const mean = (f: (s: StepResult) => number) => (steps.length === 0 ? 0 : sum(f) / steps.length);
  return {
    windows: steps.length,
    sent: sum((s) => s.sent),
    received,
    expected: sum((s) => s.expected),
    missing: sum((s) => s.missing),
    closed: Math.max(0, ...steps.map((s) => s.closed)),
    duplicates: sum((s) => s.duplicates),
    refused: sum((s) => Object.values(s.refused).reduce((a, b) => a + b, 0)),
    undrained: steps.filter((s) => !s.drained).length,
    deliveriesPerSec: mean((s) => s.deliveriesPerSec),
    p50Ms: ms(histogram.percentile(0.5)),
    p99Ms: ms(histogram.percentile(0.99)),
    maxMs: ms(histogram.max),
    serverCpuUs,
    serverUsPerDelivery: serverCpuUs / Math.max(1, received),
    serverCpuPercent: mean((s) => s.serverCpuPercent),
    perProcessUs,
    agentUsPerMessage,
    generatorCpuPercent: mean((s) => s.generatorCpuPercent),
    extraCpuPercent: mean((s) => s.extraCpuPercent),
    otherPercentMax: Math.max(0, ...steps.map((s) => s.machine?.otherPercent ?? 0)),
    machineBusyPercent: mean((s) => s.machine?.busyPercent ?? NaN),
    softirqPercent: mean((s) => s.machine?.softirqPercent ?? NaN),
    machine: steps.map((s) => s.machine),
  };
}

const lost = (s: Summary): number => s.missing + s.duplicates + s.refused;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Every subscriber of the rig subscribes to `channel`; throws when any subscription failed. */
async function subscribeAll(rig: FanoutRig, channel: string): Promise<void> {
  const results = await Promise.all(
    rig.generators.map((g, i) => g.call<{ failed: number; firstError: string }>('subscribe', { channels: [{ name: channel }], offset: rig.offsets[i] }, 60_000)),
  );
  const failed = results.reduce((n, r) => n + r.failed, 0);
  if (failed > 0) throw new Error(`${failed} subscriptions to ${channel} failed: ${results.find((r) => r.firstError)?.firstError}`);
}

// ---------------------------------------------------------------- (a) agent and workers

interface WorkerStats {
  connections: number;
  workers: { index: number; pid: number; state: string; connections: number; restarts: number }[];
}

/** An agent with `workers` workers, its subscribers connected (node:cluster spreads them) and subscribed to both channels. */
async function startClusterRig(workers: number, config: BenchConfig): Promise<FanoutRig> {
  const rig = await FanoutRig.start('cluster', config.cluster.subscribers, config, `cluster-${workers}w`, { env: { SB_BENCH_WORKERS: String(workers) } });
  try {
    await subscribeAll(rig, CHANNEL);
    await subscribeAll(rig, HISTORY_CHANNEL);
    return rig;
  } catch (error) {
    await rig.stop();
    throw error;
  }
}

/** How the connections spread over the workers, and whether one was restarted (a crash during the run). */
async function workerStats(rig: FanoutRig): Promise<WorkerStats> {
  return rig.server.child.call<WorkerStats>('stats', {}, 10_000);
}

/** The agent stopped: none of its workers may outlive it (node:cluster's workers exit when their channel closes). */
function leftOver(rig: FanoutRig): number[] {
  return rig.server.processes.flatMap((p) => (p.label !== 'agent' && p.pid !== undefined && processCpuUs(p.pid) !== undefined ? [p.pid] : []));
}

async function stopClusterRig(rig: FanoutRig, notes: string[]): Promise<void> {
  await stopAll(rig.server, [...rig.generators, rig.publisher]);
  const start = performance.now();
  let remaining = leftOver(rig);
  while (remaining.length > 0 && performance.now() - start < 5_000) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    remaining = leftOver(rig);
  }
  for (const pid of remaining) {
    notes.push(`worker pid ${pid} was still running 5 s after its agent stopped; killed`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // It exited meanwhile.
    }
  }
}

interface WorkersResult {
  fixed: Record<FixedName, Summary[]>;
  warmup: Record<FixedName, StepResult[]>;
  /** Per search, per cluster (1 worker, 2 workers): every step, and the best sustained one. */
  search: Record<SearchName, { steps: Step[][]; best: (Step | undefined)[] }>;
  spread: WorkerStats[];
  /** Crash restarts of workers seen at the end, per cluster. */
  restarts: number[];
  /** How many times a cluster was started afresh after a step that left a backlog. */
  fresh: number[];
  /** The channel with history in one process (no agent), at `historySearch.referenceRate`. */
  reference: Step;
}

async function measureWorkers(config: BenchConfig, notes: string[]): Promise<WorkersResult> {
  const c = config.cluster;
  const rigs: (FanoutRig | undefined)[] = [];
  const fresh = WORKER_COUNTS.map(() => 0);
  const rigOf = async (k: number): Promise<FanoutRig> => {
    if (rigs[k] === undefined) {
      rigs[k] = await startClusterRig(WORKER_COUNTS[k]!, config);
      fresh[k]!++;
    }
    return rigs[k]!;
  };
  try {
    for (let k = 0; k < WORKER_COUNTS.length; k++) await rigOf(k);
    const spread = await Promise.all(rigs.map((rig) => workerStats(rig!)));

    // Fixed rate: a warm-up of each, then windows in ABBA order, so that a burst of other work lands on both.
    const fixed = {} as Record<FixedName, Summary[]>;
    const warmups = {} as Record<FixedName, StepResult[]>;
    for (const { name, message } of FIXED) {
      const warmup: StepResult[] = [];
      for (let k = 0; k < WORKER_COUNTS.length; k++) warmup.push(await (await rigOf(k)).step({ ...message, rate: c.rate, durationMs: c.warmupMs, drainMs: c.drainMs }));
      warmups[name] = warmup;
      const windows: StepResult[][] = WORKER_COUNTS.map(() => []);
      for (let i = 0; i < c.windows; i++) {
        for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
          windows[k]!.push(await (await rigOf(k)).step({ ...message, rate: c.rate, durationMs: c.windowMs, drainMs: c.drainMs, keepHistogram: true }));
        }
      }
      fixed[name] = windows.map(summarize);
    }

    // The highest sustained rates: one step of every search in turn (the order reversed every other round), so a
    // burst of other work lands on all of them.
    const s = c.search;
    const searches = SEARCHES.flatMap(({ name, message }) =>
      WORKER_COUNTS.map((_, k) => ({
        name,
        k,
        message,
        searcher: new RateSearcher(message, { ...s, ...(name === 'history' ? c.historySearch : {}) }),
        steps: [] as Step[],
      })),
    );
    const once = async (search: (typeof searches)[number], rate: number): Promise<Step> => {
      const result = await (await rigOf(search.k)).step({ ...search.message, rate, durationMs: s.stepMs, drainMs: s.drainMs });
      const step: Step = { ...result, keptUp: reasons(result, s.maxP99Ms).length === 0 };
      if (!step.drained || step.closed > 0) {
        // A backlog would burn CPU through the other cluster's steps and distort its own next one: stop it now,
        // start it afresh before its next step.
        await stopClusterRig(rigs[search.k]!, notes);
        rigs[search.k] = undefined;
      }
      search.steps.push(step);
      return step;
    };
    for (let round = 0; round < 2 * (s.maxSteps + s.refineSteps + 2); round++) {
      let ran = false;
      for (const search of round % 2 === 0 ? searches : [...searches].reverse()) {
        const rate = search.searcher.next();
        if (rate === undefined) continue;
        ran = true;
        let step = await once(search, rate);
        // On a shared machine someone else's burst can fail a step; such a step gets one more try.
        if (!step.keptUp && (step.machine?.otherPercent ?? 0) >= DISTURBED_PERCENT) {
          step.retried = true;
          step = await once(search, rate);
        }
        search.searcher.record(step);
      }
      if (!ran) break;
    }
    // The same channel with history in one process, for reference: its history is in memory and answers at once.
    const single = await FanoutRig.start('switchboard', c.subscribers, config, 'cluster-single-history', { env: { SB_BENCH_HISTORY: '1' } });
    let reference: Step;
    try {
      await subscribeAll(single, HISTORY_CHANNEL);
      const rate = c.historySearch.referenceRate;
      await single.step({ ...PUBLISH_HISTORY, rate, durationMs: c.warmupMs, drainMs: s.drainMs });
      const result = await single.step({ ...PUBLISH_HISTORY, rate, durationMs: s.stepMs, drainMs: s.drainMs });
      reference = { ...result, keptUp: reasons(result, s.maxP99Ms).length === 0 };
    } finally {
      await single.stop();
    }
    const end = await Promise.all(rigs.map((rig) => (rig ? workerStats(rig).catch(() => undefined) : undefined)));
    const restarts = end.map((stats) => (stats ? stats.workers.reduce((n, w) => n + w.restarts, 0) : 0));
    const search = {} as WorkersResult['search'];
    for (const { name } of SEARCHES) {
      const mine = searches.filter((x) => x.name === name);
      search[name] = { steps: mine.map((x) => x.steps), best: mine.map((x) => x.searcher.best) };
    }
    return { fixed, warmup: warmups, search, spread, restarts, fresh: fresh.map((n) => n - 1), reference };
  } finally {
    for (const rig of rigs) if (rig) await stopClusterRig(rig, notes);
  }
}

// ---------------------------------------------------------------- (b) two nodes over Redis

/** Subscribers on node B: the publisher on node A, or on B itself; or all on one node without Redis. `H`: the channel with history. */
type RedisSide = 'cross' | 'crossHistory' | 'sameRedis' | 'single' | 'singleHistory';

interface RedisResult {
  summaries: Record<RedisSide, Summary>;
  warmup: Record<RedisSide, StepResult>;
  redisVersion: string;
  dropped: { a: number; b: number };
}

async function measureRedis(config: BenchConfig, redis: BenchRedis): Promise<RedisResult> {
  const c = config.cluster.redis;
  const node = (name: string) => ({ SB_BENCH_REDIS: redis.url, SB_BENCH_NODE: name, SB_BENCH_REDIS_PREFIX: 'bench8:', SB_BENCH_HISTORY: '1' });
  let a: Server | undefined;
  let b: Server | undefined;
  let single: Server | undefined;
  const rigs: FanoutRig[] = [];
  try {
    a = await startServer('switchboard', config, 'cluster-node-a', node('node-a'));
    b = await startServer('switchboard', config, 'cluster-node-b', node('node-b'));
    single = await startServer('switchboard', config, 'cluster-single', { SB_BENCH_HISTORY: '1' });
    // Subscribers on node B; the publisher on node A (cross-node), and a second one on node B (one node, over Redis).
    const cross = await FanoutRig.start('switchboard', c.subscribers, config, 'cluster-redis', { server: b, publishTo: a, extraPids: [redis.pid] });
    rigs.push(cross);
    await subscribeAll(cross, REDIS_CHANNEL);
    await subscribeAll(cross, REDIS_HISTORY_CHANNEL);
    const onB = await cross.addPublisher(b);
    // Node A publishes into Redis only once node B's subscriptions are acknowledged there.
    await b.child.call('bus.settled', {}, 10_000);
    const alone = await FanoutRig.start('switchboard', c.subscribers, config, 'cluster-single', { server: single });
    rigs.push(alone);
    await subscribeAll(alone, REDIS_CHANNEL);
    await subscribeAll(alone, REDIS_HISTORY_CHANNEL);

    const plain: StepMessage = { type: 'bench.publish', extra: { channel: REDIS_CHANNEL } };
    const withHistory: StepMessage = { type: 'bench.publish', extra: { channel: REDIS_HISTORY_CHANNEL } };
    const sides: { name: RedisSide; rig: FanoutRig; message: StepMessage; publisher?: Child }[] = [
      { name: 'cross', rig: cross, message: plain },
      { name: 'single', rig: alone, message: plain },
      { name: 'sameRedis', rig: cross, message: plain, publisher: onB },
      { name: 'crossHistory', rig: cross, message: withHistory },
      { name: 'singleHistory', rig: alone, message: withHistory },
    ];
    const run = (side: (typeof sides)[number], durationMs: number) =>
      side.rig.step({ ...side.message, rate: c.rate, durationMs, drainMs: c.drainMs, keepHistogram: true, ...(side.publisher ? { publisher: side.publisher } : {}) });
    const warmup = {} as Record<RedisSide, StepResult>;
    for (const side of sides) warmup[side.name] = await run(side, c.warmupMs);
    const windows: Record<RedisSide, StepResult[]> = { cross: [], crossHistory: [], sameRedis: [], single: [], singleHistory: [] };
    // Rotating order (reversed every other round): each side goes first as often as the others.
    for (let i = 0; i < c.windows; i++) {
      const rotated = sides.map((_, k) => sides[(k + i) % sides.length]!);
      for (const side of i % 2 === 1 ? rotated.reverse() : rotated) windows[side.name].push(await run(side, c.windowMs));
    }
    const dropped = {
      a: (await a.child.call<{ dropped: number }>('bus.settled', {}, 10_000)).dropped,
      b: (await b.child.call<{ dropped: number }>('bus.settled', {}, 10_000)).dropped,
    };
    const summaries = Object.fromEntries(Object.entries(windows).map(([name, steps]) => [name, summarize(steps)])) as Record<RedisSide, Summary>;
    return { summaries, warmup, redisVersion: await redis.version(), dropped };
  } finally {
    for (const rig of rigs) await rig.stop();
    await stopAll(a, []);
    await stopAll(b, []);
    await stopAll(single, []);
  }
}

// ---------------------------------------------------------------- the table

function workerRows(config: BenchConfig, result: WorkersResult): Row[] {
  const c = config.cluster;
  const scenario = `8a cluster ${fmt(c.subscribers)} subs, 2 workers vs 1`;
  const rows: Row[] = [];
  for (const { name, label: what } of FIXED) {
    const [one, two] = result.fixed[name] as [Summary, Summary];
    const ratio = two.serverUsPerDelivery / Math.max(1e-9, one.serverUsPerDelivery);
    rows.push(
      { scenario, figure: `${what} at ${fmt(c.rate)}/s: server CPU per delivery (agent + workers)`, unit: 'µs', switchboard: two.serverUsPerDelivery, baseline: one.serverUsPerDelivery, compare: `${ratio.toFixed(2)}x`, target: `<= ${MAX_CPU_RATIO}x`, pass: ratio <= MAX_CPU_RATIO },
      { scenario, figure: `${what} at ${fmt(c.rate)}/s: deliveries/s (offered ${fmt(c.rate * c.subscribers)})`, unit: 'msg/s', switchboard: two.deliveriesPerSec, baseline: one.deliveriesPerSec, compare: `${(two.deliveriesPerSec / one.deliveriesPerSec).toFixed(2)}x`, target: '', pass: null },
      { scenario, figure: `${what} at ${fmt(c.rate)}/s: p50 / p99 delay`, unit: 'ms', switchboard: two.p50Ms, baseline: one.p50Ms, compare: `p99 ${two.p99Ms.toFixed(1)} vs ${one.p99Ms.toFixed(1)}`, target: '', pass: null },
      { scenario, figure: `${what} at ${fmt(c.rate)}/s: losses (missing, duplicated, refused)`, unit: 'count', switchboard: lost(two), baseline: lost(one), compare: '', target: '0', pass: lost(two) === 0 && lost(one) === 0 && two.closed === 0 && one.closed === 0 },
    );
  }
  for (const { name, label } of SEARCHES) {
    const [best1, best2] = result.search[name].best;
    const rate1 = best1?.deliveriesPerSec ?? 0;
    const rate2 = best2?.deliveriesPerSec ?? 0;
    const messages = (step: Step | undefined) => (step ? ` (${fmt(step.rate)} vs ${fmt(best1?.rate ?? 0)} messages/s)` : '');
    rows.push(
      { scenario, figure: `${label}: deliveries/s sustained${messages(best2)}`, unit: 'msg/s', switchboard: rate2, baseline: rate1, compare: rate1 > 0 ? `${(rate2 / rate1).toFixed(2)}x` : '', target: '', pass: null },
      { scenario, figure: `${label} sustained: server CPU per delivery`, unit: 'µs', switchboard: best2?.serverUsPerDelivery ?? null, baseline: best1?.serverUsPerDelivery ?? null, compare: '', target: '', pass: null },
    );
  }
  const ref = result.reference;
  rows.push({
    scenario,
    figure: `1 channel with history, one process (no agent) at ${fmt(ref.rate)}/s: ${ref.keptUp ? 'kept up' : 'FELL BEHIND'}, p99 ${ref.p99Ms.toFixed(0)} ms`,
    unit: 'msg/s',
    switchboard: ref.deliveriesPerSec,
    baseline: result.search.history.best[0]?.deliveriesPerSec ?? null,
    compare: result.search.history.best[0] ? `${(ref.deliveriesPerSec / result.search.history.best[0].deliveriesPerSec).toFixed(1)}x 1 worker's` : '',
    target: '',
    pass: null,
  });
  return rows;
}

function redisRows(config: BenchConfig, result: RedisResult): Row[] {
  const c = config.cluster.redis;
  const { cross, crossHistory, sameRedis, single, singleHistory } = result.summaries;
  const scenario = `8b two nodes over Redis, ${fmt(c.subscribers)} x ${fmt(c.rate)}/s`;
  const added = cross.p50Ms - single.p50Ms;
  const summaries = Object.values(result.summaries);
  const allLost = summaries.reduce((n, s) => n + lost(s), 0) + Object.values(result.warmup).reduce((n, s) => n + s.missing + s.duplicates, 0);
  const anyClosed = Math.max(...summaries.map((s) => s.closed));
  const plus = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)} ms`;
  return [
    { scenario, figure: `deliveries/s, publisher on A, subscribers on B (offered ${fmt(c.rate * c.subscribers)})`, unit: 'msg/s', switchboard: cross.deliveriesPerSec, baseline: single.deliveriesPerSec, compare: '', target: '', pass: null },
    { scenario, figure: 'p50 delivery delay, cross-node vs one node (no Redis)', unit: 'ms', switchboard: cross.p50Ms, baseline: single.p50Ms, compare: plus(added), target: `< +${MAX_ADDED_P50_MS} ms`, pass: added < MAX_ADDED_P50_MS },
    { scenario, figure: 'p99 delivery delay, cross-node vs one node (no Redis)', unit: 'ms', switchboard: cross.p99Ms, baseline: single.p99Ms, compare: plus(cross.p99Ms - single.p99Ms), target: '', pass: null },
    { scenario, figure: 'p50 / p99, publisher on B too (through Redis) vs one node', unit: 'ms', switchboard: sameRedis.p50Ms, baseline: single.p50Ms, compare: `p99 ${sameRedis.p99Ms.toFixed(2)} vs ${single.p99Ms.toFixed(2)}`, target: '', pass: null },
    { scenario, figure: 'channel with history: p50 cross-node vs one node', unit: 'ms', switchboard: crossHistory.p50Ms, baseline: singleHistory.p50Ms, compare: plus(crossHistory.p50Ms - singleHistory.p50Ms), target: '', pass: null },
    { scenario, figure: 'channel with history: p99 cross-node vs one node', unit: 'ms', switchboard: crossHistory.p99Ms, baseline: singleHistory.p99Ms, compare: plus(crossHistory.p99Ms - singleHistory.p99Ms), target: '', pass: null },
    { scenario, figure: 'losses, every window (missing, duplicated, refused)', unit: 'count', switchboard: lost(cross) + lost(crossHistory) + lost(sameRedis), baseline: lost(single) + lost(singleHistory), compare: '', target: '0', pass: allLost === 0 && anyClosed === 0 },
  ];
}

// ---------------------------------------------------------------- notes

function summaryLine(name: string, s: Summary): string {
  const parts = Object.entries(s.perProcessUs)
    .map(([label, us]) => `${label} ${us.toFixed(3)}`)
    .join(', ');
  return (
    `${name}: ${fmt(s.received)} of ${fmt(s.expected)} delivered in ${s.windows} windows, ${fmt(s.deliveriesPerSec)}/s, p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(1)} ms, max ${s.maxMs.toFixed(0)} ms; ` +
    `${s.missing} missing, ${s.duplicates} duplicated, ${s.refused} refused, ${s.closed} closed${s.undrained > 0 ? `, ${s.undrained} windows not drained` : ''}; ` +
    `server CPU ${s.serverCpuPercent.toFixed(0)}% = ${s.serverUsPerDelivery.toFixed(3)} µs/delivery (${parts} µs${s.agentUsPerMessage === undefined ? '' : `; the agent ${s.agentUsPerMessage.toFixed(0)} µs per message`}), subscriber generators ${s.generatorCpuPercent.toFixed(0)}%` +
    `${s.extraCpuPercent > 0 ? `, redis-server ${s.extraCpuPercent.toFixed(0)}%` : ''}; ` +
    (Number.isFinite(s.machineBusyPercent)
      ? `machine ${s.machineBusyPercent.toFixed(0)}% of ${cpus().length * 100}% (softirq ${s.softirqPercent.toFixed(0)}%), other processes at most ${s.otherPercentMax.toFixed(0)}%`
      : 'machine CPU n/a') +
    (s.otherPercentMax >= DISTURBED_PERCENT ? ' — DISTURBED' : '')
  );
}

function workerNotes(config: BenchConfig, result: WorkersResult): string[] {
  const c = config.cluster;
  const s = c.search;
  const notes = [
    `an agent (startAgent) with 1 worker and one with 2 (servers/cluster.ts, cluster-worker.ts: the bench plug of servers/switchboard.ts), ${fmt(c.subscribers)} subscribers each, every one subscribed to "${CHANNEL}" and "${HISTORY_CHANNEL}" (history in the agent); ` +
      `server CPU = the agent's + the workers' (/proc/<pid>/stat), per delivery; fixed rate ${fmt(c.rate)}/s, ${c.windows} windows of ${c.windowMs / 1000} s per cluster and message in ABBA order after a ${c.warmupMs / 1000} s warm-up`,
    ...result.spread.map((stats, i) => `${WORKER_COUNTS[i]} worker${i === 0 ? '' : 's'}: connections per worker ${stats.workers.map((w) => `w${w.index} ${w.connections}`).join(', ')} (the publisher included)`),
  ];
  for (const { name, label } of FIXED) {
    result.fixed[name].forEach((summary, i) => notes.push(summaryLine(`${label} at ${fmt(c.rate)}/s, ${WORKER_COUNTS[i]} worker${i === 0 ? '' : 's'}`, summary)));
  }
  const warm = FIXED.map(({ name }) => result.warmup[name].map((s) => s.missing + s.duplicates).join('/'));
  notes.push(`warm-ups (1 worker / 2 workers), missing + duplicated: ${FIXED.map(({ label }, i) => `${label} ${warm[i]}`).join(', ')}`);
  const h = { ...s, ...c.historySearch };
  notes.push(
    `sustained rates: steps of ${s.stepMs / 1000} s, doubling (broadcast from ${s.startRate}/s, at most ${s.maxSteps} steps; the channel with history from ${h.startRate}/s, at most ${h.maxSteps}), then ${s.refineSteps} bisection steps; ` +
      `"keeps up" as in 2a (drained within ${s.drainMs / 1000} s, p99 <= ${s.maxP99Ms} ms, nothing closed or refused); the four searches step in turn; a cluster whose step left a backlog is started afresh ` +
      `(${result.fresh.map((n, i) => `${WORKER_COUNTS[i]} worker${i === 0 ? '' : 's'}: ${n}`).join(', ')} times)`,
  );
  for (const { name, label } of SEARCHES) {
    result.search[name].steps.forEach((steps, i) => {
      for (const step of steps) {
        const parts = step.serverProcesses.map((p) => `${p.label} ${(p.cpuUs / Math.max(1, step.received)).toFixed(3)}`).join(', ');
        notes.push(`${label}, ${WORKER_COUNTS[i]} worker${i === 0 ? ' ' : 's'} ${describe(step, s.maxP99Ms)} [µs/delivery: ${parts}]${step.retried ? ' (retried: disturbed)' : ''}`);
      }
    });
  }
  notes.push(`1 channel with history in one process (servers/switchboard.ts, no agent) ${describe(result.reference, s.maxP99Ms)}`);
  if (result.restarts.some((n) => n > 0)) notes.push(`!!! workers restarted during the run (crashes): ${result.restarts.join(', ')} — the figures after a crash are not the cluster's`);
  return notes;
}

function redisNotes(config: BenchConfig, result: RedisResult): string[] {
  const c = config.cluster.redis;
  const s = result.summaries;
  return [
    `Redis ${result.redisVersion} (a throwaway redis-server on 127.0.0.1); nodes A and B are single Switchboard processes with RedisBus, RedisHistory and RedisPresence; ` +
      `${fmt(c.subscribers)} subscribers of "${REDIS_CHANNEL}" and "${REDIS_HISTORY_CHANNEL}" (history: RedisHistory) on node B, bench.publish at ${c.rate}/s from a connection on node A; beside it the same on one node without Redis, ` +
      `and on node B alone (publisher on B: a node receives its own publications from Redis too); ${c.windows} windows of ${c.windowMs / 1000} s each, rotating, after a ${c.warmupMs / 1000} s warm-up; server CPU = both nodes'`,
    summaryLine('cross-node (A → Redis → B)', s.cross),
    summaryLine('one node, no Redis', s.single),
    summaryLine('one node over Redis (B → Redis → B)', s.sameRedis),
    summaryLine('with history, cross-node (append in Redis, then A → Redis → B)', s.crossHistory),
    summaryLine('with history, one node, no Redis', s.singleHistory),
    `warm-up: ${Object.entries(result.warmup).map(([name, w]) => `${name} ${w.missing} missing, ${w.duplicates} duplicated`).join('; ')}; bus messages dropped (Redis away): node A ${result.dropped.a}, node B ${result.dropped.b}`,
  ];
}

export async function runCluster(config: BenchConfig): Promise<ScenarioResult> {
  const notes: string[] = [];
  const workers = await measureWorkers(config, notes);
  const rows = workerRows(config, workers);
  notes.push(...workerNotes(config, workers));

  const redis = await startRedis();
  let redisResult: RedisResult | undefined;
  if (typeof redis === 'string') {
    const scenario = '8b two nodes over Redis';
    rows.push({ scenario, figure: `SKIPPED: ${redis}`, unit: 'count', switchboard: null, baseline: null, compare: '', target: `< +${MAX_ADDED_P50_MS} ms p50, 0 lost`, pass: null });
    notes.push(`${'!'.repeat(20)} two nodes over Redis SKIPPED: ${redis} ${'!'.repeat(20)}`);
  } else {
    try {
      redisResult = await measureRedis(config, redis);
    } finally {
      await redis.close();
    }
    rows.push(...redisRows(config, redisResult));
    notes.push(...redisNotes(config, redisResult));
  }
  return { rows, details: { workers, redis: typeof redis === 'string' ? { skipped: redis } : redisResult }, notes };
}
