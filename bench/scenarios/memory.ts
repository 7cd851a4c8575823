// Scenario 3: server RSS per idle connection at 10,000 connections, after a forced GC, beside a plain ws server.
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchConfig } from '../lib/config.ts';
import type { Child } from '../lib/ipc.ts';
import type { Usage } from '../servers/control.ts';
import { connectAll, split, startGenerator, startServer, stopAll, type ScenarioResult, type Server, type ServerKind } from './common.ts';

const KiB = 1024;

interface MemoryFigures {
  connections: number;
  rssPerConnectionKiB: number;
  heapPerConnectionKiB: number;
  externalPerConnectionKiB: number;
  before: Usage;
  after: Usage;
  connectMs: number;
}

async function measure(kind: ServerKind, config: BenchConfig, connections: number): Promise<MemoryFigures> {
  let server: Server | undefined;
  const generators: Child[] = [];
  try {
    server = await startServer(kind, config, 'memory');
    for (let i = 0; i < config.generators; i++) generators.push(await startGenerator(`connection generator ${i + 1}`));
    const before = await server.usage(true);
    const { connected, ms: connectMs } = await connectAll(server, generators, split(connections, config.generators));
    // Let handshake garbage and the accept burst settle before the forced collection.
    await sleep(1_000);
    const after = await server.usage(true);
    const per = (a: number, b: number) => (b - a) / connected / KiB;
    return {
      connections: connected,
      rssPerConnectionKiB: per(before.rssBytes, after.rssBytes),
      heapPerConnectionKiB: per(before.heapUsedBytes, after.heapUsedBytes),
      externalPerConnectionKiB: per(before.externalBytes, after.externalBytes),
      before,
      after,
      connectMs,
    };
  } finally {
    await stopAll(server, generators);
  }
}

export async function runMemory(config: BenchConfig, maxConnections: number): Promise<ScenarioResult> {
  const connections = Math.min(config.memory.connections, maxConnections);
  const sb = await measure('switchboard', config, connections);
  const raw = await measure('raw-ws', config, connections);
  const scenario = `3 memory, ${connections.toLocaleString('en-US')} idle`;
  const diff = sb.rssPerConnectionKiB - raw.rssPerConnectionKiB;
  const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(2)} KiB`;
  const notes = [
    `RSS after connecting minus RSS before, both after forced GC (--expose-gc), divided by the connections; ` +
      `RSS before: ${(sb.before.rssBytes / 2 ** 20).toFixed(1)} MiB (switchboard), ${(raw.before.rssBytes / 2 ** 20).toFixed(1)} MiB (raw ws)`,
  ];
  if (connections < config.memory.connections) notes.push(`capped at ${connections} connections by the open-file limit (ulimit -n)`);
  return {
    rows: [
      { scenario, figure: 'RSS per connection', unit: 'KiB', switchboard: sb.rssPerConnectionKiB, baseline: raw.rssPerConnectionKiB, compare: signed(diff), target: '<= +2 KiB', pass: diff <= 2 },
      { scenario, figure: 'JS heap per connection', unit: 'KiB', switchboard: sb.heapPerConnectionKiB, baseline: raw.heapPerConnectionKiB, compare: signed(sb.heapPerConnectionKiB - raw.heapPerConnectionKiB), target: '', pass: null },
    ],
    details: { switchboard: sb, rawWs: raw },
    notes,
  };
}
