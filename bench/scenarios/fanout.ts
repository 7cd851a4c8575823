// Scenario 2: broadcast fan-out. (a) the highest rate 1,000 subscribers keep up with; (b) latency and losses at
// 5,000 connections x 100 messages/s. Both beside a ws server that calls ws.send per socket.
import type { BenchConfig } from '../lib/config.ts';
import { describeCpu } from '../lib/machine.ts';
import { FanoutRig, type Row, type ScenarioResult, type ServerKind, type StepResult } from './common.ts';

/** A step of a rate search, whether the subscribers kept up with it, and whether it was disturbed and run again. */
export type Step = StepResult & { keptUp: boolean; retried?: boolean };

/** CPU taken by processes outside the bench (% of one core) above which a step counts as disturbed. */
export const DISTURBED_PERCENT = 20;

/** How a rate search steps (config.fanoutRate, config.live). */
export interface RateSearch {
  startRate: number;
  maxSteps: number;
  refineSteps: number;
  stepMs: number;
  drainMs: number;
  maxP99Ms: number;
}

/** One line per step for the notes. */
export function describe(step: Step, maxP99Ms: number): string {
  const verdict = step.keptUp ? 'ok' : `FELL BEHIND (${reasons(step, maxP99Ms).join(', ')})`;
  return (
    `${step.rate}/s → ${Math.round(step.deliveriesPerSec).toLocaleString('en-US')} deliveries/s ${verdict}; p99 ${step.p99Ms.toFixed(1)} ms, ` +
    `server CPU ${step.serverCpuPercent.toFixed(0)}% (${step.serverUsPerDelivery.toFixed(2)} µs/delivery), subscriber generators ${step.generatorCpuPercent.toFixed(0)}% (${step.generatorUsPerDelivery.toFixed(2)} µs/delivery), ${describeCpu(step.machine)}`
  );
}

/** Why a step failed to keep up (empty when it kept up). */
export function reasons(step: StepResult, maxP99Ms = Infinity): string[] {
  const out: string[] = [];
  if (!step.drained || step.missing > 0) out.push(`${step.missing.toLocaleString('en-US')} not delivered in time`);
  if (step.closed > 0) out.push(`${step.closed} connections closed`);
  if (step.p99Ms > maxP99Ms) out.push(`p99 ${step.p99Ms.toFixed(0)} ms`);
  if (step.publishedRate < 0.95 * step.rate) out.push(`publisher reached only ${Math.round(step.publishedRate)}/s`);
  const refused = Object.entries(step.refused);
  if (refused.length > 0) out.push(`server refused publishes: ${refused.map(([code, n]) => `${n} ${code}`).join(', ')}`);
  return out;
}

/** What a rig publishes in a step: the message type, and fields added to its payload. */
export interface StepMessage {
  type: string;
  extra?: Record<string, unknown>;
}

/** The outcome of one rate search: its best sustained step, and every step it ran. */
export interface SearchResult {
  best: Step | undefined;
  steps: Step[];
  connectMs: number;
}

/**
 * One message's search: the rate doubles while the subscribers keep up (halves while they do not), then
 * `refineSteps` bisection steps between the best rate kept up with and the lowest failed one. Scenario 6 uses it
 * with steps of its own (`S`).
 */
export class RateSearcher<S extends { rate: number; keptUp: boolean } = Step> {
  readonly message: StepMessage;
  readonly steps: S[] = [];
  best: S | undefined;
  private failed: S | undefined;
  private readonly c: RateSearch;
  private rate: number;
  private grown = 0;
  private refined = 0;
  private phase: 'grow' | 'refine' | 'done' = 'grow';

  constructor(message: StepMessage, c: RateSearch) {
    this.message = message;
    this.c = c;
    this.rate = c.startRate;
  }

  /** The rate of the next step, or undefined when the search is over. */
  next(): number | undefined {
    if (this.phase === 'grow' && this.grown >= this.c.maxSteps) this.phase = 'refine';
    if (this.phase === 'refine' && (this.refined >= this.c.refineSteps || !this.best || !this.failed)) this.phase = 'done';
    if (this.phase === 'done') return undefined;
    return this.phase === 'grow' ? this.rate : Math.round(Math.sqrt(this.best!.rate * this.failed!.rate));
  }

  /** The outcome of the step `next` asked for (after its retry, if it had one). */
  record(step: S): void {
    if (this.phase === 'refine') {
      this.refined++;
      if (step.keptUp) this.best = step;
      else this.failed = step;
      return;
    }
    this.grown++;
    if (step.keptUp) {
      this.best = step;
      if (this.failed) this.phase = 'refine';
      else this.rate *= 2;
    } else {
      this.failed = step;
      if (this.best) this.phase = 'refine';
      else this.rate = Math.max(1, Math.floor(this.rate / 2));
    }
  }
}

/**
 * Searches the highest sustained rate of each message, in one rig and in lockstep: one step of each message in
 * turn (the order alternating), so that a burst of other work on the machine lands on all of them rather than on
 * whichever happened to run then. `start` makes a ready rig (connected, subscribed): at the beginning, and afresh
 * after a step that left a backlog or closed connections.
 */
export async function searchMaxRates(start: () => Promise<FanoutRig>, c: RateSearch, messages: StepMessage[]): Promise<SearchResult[]> {
  let rig = await start();
  const connectMs = rig.connectMs;
  const searchers = messages.map((message) => new RateSearcher(message, c));
  // A step that overflowed buffers or left a backlog would distort the next one: start afresh after it.
  let backlog = false;
  const once = async (searcher: RateSearcher, rate: number): Promise<Step> => {
    if (backlog) {
      await rig.stop();
      rig = await start();
    }
    const result = await rig.step({ ...searcher.message, rate, durationMs: c.stepMs, drainMs: c.drainMs });
    const step = { ...result, keptUp: reasons(result, c.maxP99Ms).length === 0 };
    backlog = !step.drained || step.closed > 0;
    searcher.steps.push(step);
    return step;
  };
  try {
    for (let round = 0; ; round++) {
      let ran = false;
      for (const searcher of round % 2 === 0 ? searchers : [...searchers].reverse()) {
        const rate = searcher.next();
        if (rate === undefined) continue;
        ran = true;
        let step = await once(searcher, rate);
        // On a shared machine someone else's burst can fail a step; such a step gets one more try.
        if (!step.keptUp && (step.machine?.otherPercent ?? 0) >= DISTURBED_PERCENT) {
          step.retried = true;
          step = await once(searcher, rate);
        }
        searcher.record(step);
      }
      if (!ran) break;
    }
  } finally {
    await rig.stop();
  }
  return searchers.map((searcher) => ({ best: searcher.best, steps: searcher.steps, connectMs }));
}

/** Steps the broadcast rate up until the subscribers stop keeping up. */
async function maxSustained(kind: ServerKind, config: BenchConfig): Promise<SearchResult> {
  const c = config.fanoutRate;
  const [result] = await searchMaxRates(() => FanoutRig.start(kind, c.subscribers, config, 'fanout-rate'), c, [{ type: 'bench.broadcast' }]);
  return result!;
}

export async function runFanoutRate(config: BenchConfig): Promise<ScenarioResult> {
  const c = config.fanoutRate;
  const sb = await maxSustained('switchboard', config);
  const raw = await maxSustained('raw-ws', config);
  const sbRate = sb.best?.deliveriesPerSec ?? 0;
  const rawRate = raw.best?.deliveriesPerSec ?? 0;
  const ratio = rawRate > 0 ? sbRate / rawRate : 0;
  const scenario = `2a fan-out max rate`;
  const subs = c.subscribers.toLocaleString('en-US');
  const rows: Row[] = [
    { scenario, figure: `deliveries/s sustained, ${subs} subscribers`, unit: 'msg/s', switchboard: sbRate, baseline: rawRate, compare: `${ratio.toFixed(2)}x`, target: '>= 8x', pass: ratio >= 8 },
    { scenario, figure: 'p99 latency at that rate', unit: 'ms', switchboard: sb.best?.p99Ms ?? null, baseline: raw.best?.p99Ms ?? null, compare: '', target: '', pass: null },
  ];
  const notes = [
    `"keeps up" = every message reaches every subscriber within ${c.drainMs / 1000} s of the last publish, no connection closed, ` +
      `p99 <= ${c.maxP99Ms} ms, and the publisher achieved >= 95% of the asked rate; each step publishes for ${c.stepMs / 1000} s; ` +
      `a failed step during which other processes took more than ${DISTURBED_PERCENT}% of a core is tried once more.`,
    ...sb.steps.map((s) => `switchboard ${describe(s, c.maxP99Ms)}`),
    ...raw.steps.map((s) => `raw ws      ${describe(s, c.maxP99Ms)}`),
  ];
  return { rows, details: { switchboard: sb, rawWs: raw }, notes };
}

async function atFixedRate(kind: ServerKind, config: BenchConfig): Promise<{ warmup: StepResult; measured: StepResult; connectMs: number }> {
  const c = config.fanoutLatency;
  const rig = await FanoutRig.start(kind, c.subscribers, config, 'fanout-latency');
  try {
    const warmup = await rig.step({ type: 'bench.broadcast', rate: c.rate, durationMs: c.warmupMs, drainMs: c.drainMs });
    const measured = await rig.step({ type: 'bench.broadcast', rate: c.rate, durationMs: c.durationMs, drainMs: c.drainMs });
    return { warmup, measured, connectMs: rig.connectMs };
  } finally {
    await rig.stop();
  }
}

export async function runFanoutLatency(config: BenchConfig): Promise<ScenarioResult> {
  const c = config.fanoutLatency;
  const sb = await atFixedRate('switchboard', config);
  const raw = await atFixedRate('raw-ws', config);
  const s = sb.measured;
  const r = raw.measured;
  const scenario = `2b fan-out ${c.subscribers.toLocaleString('en-US')} x ${c.rate}/s`;
  const lost = (step: StepResult) => step.missing;
  const rows: Row[] = [
    { scenario, figure: `deliveries/s (offered ${(c.subscribers * c.rate).toLocaleString('en-US')})`, unit: 'msg/s', switchboard: s.deliveriesPerSec, baseline: r.deliveriesPerSec, compare: `${(s.deliveriesPerSec / r.deliveriesPerSec).toFixed(2)}x`, target: '', pass: null },
    { scenario, figure: 'p50 delivery latency', unit: 'ms', switchboard: s.p50Ms, baseline: r.p50Ms, compare: `${(s.p50Ms / r.p50Ms).toFixed(2)}x`, target: '', pass: null },
    { scenario, figure: 'p99 delivery latency', unit: 'ms', switchboard: s.p99Ms, baseline: r.p99Ms, compare: `${(s.p99Ms / r.p99Ms).toFixed(2)}x`, target: `< ${c.maxP99Ms} ms`, pass: s.p99Ms < c.maxP99Ms },
    { scenario, figure: 'losses (deliveries missing)', unit: 'count', switchboard: lost(s), baseline: lost(r), compare: '', target: '0', pass: lost(s) === 0 && s.closed === 0 && s.duplicates === 0 },
  ];
  const line = (name: string, step: StepResult) =>
    `${name}: ${step.sent} messages to ${step.subscribers} subscribers, ${step.received.toLocaleString('en-US')} of ${step.expected.toLocaleString('en-US')} delivered` +
    `${step.drained ? '' : ` within ${c.drainMs / 1000} s after the last publish`}, ${step.shortSubscribers} subscribers short, ${step.closed} closed; ` +
    `max ${step.maxMs.toFixed(0)} ms; server CPU ${step.serverCpuPercent.toFixed(0)}% (${step.serverUsPerDelivery.toFixed(2)} µs/delivery), subscriber generators ${step.generatorCpuPercent.toFixed(0)}% (${step.generatorUsPerDelivery.toFixed(2)} µs/delivery), ${describeCpu(step.machine)}`;
  const notes = [line('switchboard', s), line('raw ws', r), `connecting took ${(sb.connectMs / 1000).toFixed(1)} s (switchboard), ${(raw.connectMs / 1000).toFixed(1)} s (raw ws); subscribers spread over ${config.generators} generator processes`];
  return { rows, details: { switchboard: sb, rawWs: raw }, notes };
}
