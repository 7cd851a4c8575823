// Scenario 1: request/reply through the whole plug pipeline, closed loop, beside a ws server that echoes. Both
// servers run side by side and are measured in alternating one-second windows, so a burst of other work on the
// machine lands on both rather than on whichever happened to run then.
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchConfig } from '../lib/config.ts';
import { Histogram, type HistogramData } from '../lib/histogram.ts';
import type { Child } from '../lib/ipc.ts';
import { CpuWindow, describeCpu, type CpuUse } from '../lib/machine.ts';
import { connectAll, ms, startGenerator, startServer, stopAll, type ScenarioResult, type Server, type ServerKind } from './common.ts';

interface Measured {
  completed: number;
  errors: Record<string, number>;
  elapsedMs: number;
  cpuUs: number;
  closed: number;
  histogram: HistogramData;
}

/** One server's figures over all its windows. */
export interface RequestFigures {
  roundTripsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  errors: Record<string, number>;
  serverCpuPercent: number;
  generatorCpuPercent: number;
  /** Round trips per second of each window, in order. */
  windows: number[];
  /** Machine use in each window (other processes included). */
  machine: (CpuUse | undefined)[];
}

interface Side {
  kind: ServerKind;
  server: Server;
  generator: Child;
  measured: Measured[];
  machine: (CpuUse | undefined)[];
  cpuUs: number;
  wallMs: number;
}

const WINDOW_MS = 1_000;
// Each window restarts the loop; this much of it is not measured so the pipeline is full when measuring starts.
const RAMP_MS = 200;

async function measureWindow(side: Side, durationMs: number): Promise<void> {
  await side.generator.call('requests.start');
  await sleep(RAMP_MS);
  const window = CpuWindow.start([side.server.child.pid, side.generator.pid]);
  const before = await side.server.cpu();
  const m = await side.generator.call<Measured>('requests.measure', { durationMs }, durationMs + 30_000);
  const after = await side.server.cpu();
  side.machine.push(window.end());
  await side.generator.call('requests.stop');
  side.measured.push(m);
  side.cpuUs += after.cpuUs - before.cpuUs;
  side.wallMs += after.atMs - before.atMs;
}

function figures(side: Side): RequestFigures {
  const histogram = Histogram.merge(side.measured.map((m) => m.histogram));
  const completed = side.measured.reduce((n, m) => n + m.completed, 0);
  const elapsedMs = side.measured.reduce((n, m) => n + m.elapsedMs, 0);
  const errors: Record<string, number> = {};
  for (const m of side.measured) {
    for (const [code, n] of Object.entries(m.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  const closed = Math.max(...side.measured.map((m) => m.closed));
  if (closed > 0) errors.connections_closed = closed;
  return {
    roundTripsPerSec: completed / (elapsedMs / 1000),
    p50Ms: ms(histogram.percentile(0.5)),
    p99Ms: ms(histogram.percentile(0.99)),
    meanMs: ms(histogram.mean),
    maxMs: ms(histogram.max),
    errors,
    serverCpuPercent: (100 * side.cpuUs) / 1000 / Math.max(1, side.wallMs),
    generatorCpuPercent: (100 * side.measured.reduce((n, m) => n + m.cpuUs, 0)) / 1000 / Math.max(1, elapsedMs),
    windows: side.measured.map((m) => Math.round(m.completed / (m.elapsedMs / 1000))),
    machine: side.machine,
  };
}

async function start(kind: ServerKind, config: BenchConfig): Promise<Side> {
  const server = await startServer(kind, config, 'requests');
  try {
    const generator = await startGenerator(`${kind} request generator`);
    const side: Side = { kind, server, generator, measured: [], machine: [], cpuUs: 0, wallMs: 0 };
    await connectAll(server, [generator], [config.requests.clients]);
    return side;
  } catch (error) {
    await stopAll(server, []);
    throw error;
  }
}

export async function runRequests(config: BenchConfig): Promise<ScenarioResult> {
  const c = config.requests;
  const sides: Side[] = [];
  try {
    sides.push(await start('switchboard', config));
    sides.push(await start('raw-ws', config));
    const [sbSide, rawSide] = sides as [Side, Side];
    // Warm-up: JIT and buffers, not measured.
    for (const side of sides) {
      await side.generator.call('requests.start');
      await sleep(c.warmupMs);
      await side.generator.call('requests.stop');
    }
    // ABBA order: neither server always goes first after the other one's window.
    const windows = Math.max(1, Math.round(c.durationMs / WINDOW_MS));
    for (let i = 0; i < windows; i++) {
      const order = i % 2 === 0 ? [sbSide, rawSide] : [rawSide, sbSide];
      for (const side of order) await measureWindow(side, WINDOW_MS);
    }
  } finally {
    for (const side of sides) await stopAll(side.server, [side.generator]);
  }
  const sb = figures(sides[0]!);
  const raw = figures(sides[1]!);
  const scenario = '1 request/reply';
  const throughput = sb.roundTripsPerSec / raw.roundTripsPerSec;
  const p99 = sb.p99Ms / raw.p99Ms;
  const notes: string[] = [];
  const errorCount = Object.values(sb.errors).reduce((a, b) => a + b, 0) + Object.values(raw.errors).reduce((a, b) => a + b, 0);
  if (errorCount > 0) notes.push(`request errors: switchboard ${JSON.stringify(sb.errors)}, raw ws ${JSON.stringify(raw.errors)}`);
  const other = (f: RequestFigures) => Math.max(...f.machine.map((m) => m?.otherPercent ?? 0));
  notes.push(
    `${c.clients} clients, one request outstanding each; ${sb.windows.length} alternating windows of ${WINDOW_MS / 1000} s per server after ${c.warmupMs / 1000} s warm-up`,
    `switchboard windows: ${sb.windows.map((n) => n.toLocaleString('en-US')).join(', ')} round trips/s; server CPU ${sb.serverCpuPercent.toFixed(0)}%, generator ${sb.generatorCpuPercent.toFixed(0)}%; ` +
      `worst window ${describeCpu(sb.machine.reduce((a, b) => ((b?.otherPercent ?? 0) > (a?.otherPercent ?? 0) ? b : a), sb.machine[0]))}`,
    `raw ws windows:      ${raw.windows.map((n) => n.toLocaleString('en-US')).join(', ')} round trips/s; server CPU ${raw.serverCpuPercent.toFixed(0)}%, generator ${raw.generatorCpuPercent.toFixed(0)}%; ` +
      `worst window ${describeCpu(raw.machine.reduce((a, b) => ((b?.otherPercent ?? 0) > (a?.otherPercent ?? 0) ? b : a), raw.machine[0]))}`,
  );
  if (Math.max(other(sb), other(raw)) > 20) notes.push('WARNING: other processes took over 20% of a core in some windows; the figures are disturbed');
  return {
    rows: [
      { scenario, figure: 'round trips/s', unit: 'msg/s', switchboard: sb.roundTripsPerSec, baseline: raw.roundTripsPerSec, compare: `${throughput.toFixed(2)}x`, target: '>= 0.85x', pass: throughput >= 0.85 && errorCount === 0 },
      { scenario, figure: 'p50 latency', unit: 'ms', switchboard: sb.p50Ms, baseline: raw.p50Ms, compare: `${(sb.p50Ms / raw.p50Ms).toFixed(2)}x`, target: '', pass: null },
      { scenario, figure: 'p99 latency', unit: 'ms', switchboard: sb.p99Ms, baseline: raw.p99Ms, compare: `${p99.toFixed(2)}x`, target: '<= 1.5x', pass: p99 <= 1.5 },
    ],
    details: { switchboard: sb, rawWs: raw },
    notes,
  };
}
