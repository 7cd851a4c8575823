// Server-under-test child of scenario 8: an agent (startAgent, as `switchboard start --workers N` runs one) with
// SB_BENCH_WORKERS workers (servers/cluster-worker.ts) on one port, driven over IPC by bench/run.ts like the other
// server children. The agent relays the bus between its workers, so its CPU is part of the server's: the ready
// message names every process (the agent and its workers), whose CPU the bench reads from /proc; `cpu.ipc` asks
// each process itself, where /proc does not exist.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { startAgent } from '@switchboard/server';
import { serveCommands } from '../lib/ipc.ts';
import { BENCH_HISTORY_CHANNELS } from './bench-plug.ts';
import { usage } from './control.ts';

// The bench measures the server, not its log: only errors are printed (the agent and, inherited, its workers).
process.env.SWITCHBOARD_LOG_LEVEL ??= 'error';

if (!cluster.isPrimary) throw new Error('servers/cluster.ts is the agent; its workers run servers/cluster-worker.ts');

const workers = Number(process.env.SB_BENCH_WORKERS ?? '1');
if (!Number.isInteger(workers) || workers < 1 || workers > 16) throw new Error(`SB_BENCH_WORKERS must be 1 to 16, got ${process.env.SB_BENCH_WORKERS}`);

// The workers take the agent's Node flags (--expose-gc, and --cpu-prof with --profile), but not its profile's file
// name: each worker's profile gets Node's default name (with its pid) in the same folder.
const execArgv = process.execArgv.filter((flag) => !flag.startsWith('--cpu-prof-name'));

const agent = await startAgent({
  workers,
  exec: fileURLToPath(new URL('./cluster-worker.ts', import.meta.url)),
  args: [],
  execArgv,
  agentPort: 0,
  // The workers' channel options: the agent's history keeps bench-h…'s streams, bounded as the workers' would be.
  channels: BENCH_HISTORY_CHANNELS,
  shutdownTimeoutMs: 2_000,
  // A bench worker that crashes is a failed measurement, not something to ride out: one restart at most.
  restart: { maxRestarts: 1, withinMs: 60_000 },
});

const url = new URL(agent.serverUrl ?? 'http://127.0.0.1:0');

/** Every worker process's pid, by slot, as the registry knows them now. */
function workerPids(): number[] {
  return agent
    .status()
    .workers.filter((worker) => worker.state !== 'exited')
    .sort((a, b) => a.index - b.index)
    .map((worker) => worker.pid);
}

let nextQuestion = 1;

/** A worker's CPU time as it reports it over the agent's IPC channel (1 s at most). */
function askCpu(worker: Worker): Promise<{ pid: number; cpuUs: number } | undefined> {
  const id = nextQuestion++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(undefined), 1_000);
    const onMessage = (message: { bench?: string; id?: number; pid?: number; cpuUs?: number } | null) => {
      if (message?.bench === 'cpu' && message.id === id) done({ pid: message.pid ?? 0, cpuUs: message.cpuUs ?? 0 });
    };
    const done = (value: { pid: number; cpuUs: number } | undefined) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      resolve(value);
    };
    worker.on('message', onMessage);
    worker.send({ bench: 'cpu', id });
  });
}

serveCommands(
  {
    usage,
    /** The agent's own CPU and each worker's, as the processes report them (for machines without /proc). */
    async 'cpu.ipc'() {
      const own = process.cpuUsage();
      const answers = await Promise.all(Object.values(cluster.workers ?? {}).map((worker) => (worker ? askCpu(worker) : undefined)));
      const reported = answers.filter((answer): answer is { pid: number; cpuUs: number } => answer !== undefined);
      return { agent: { pid: process.pid, cpuUs: own.user + own.system }, workers: reported };
    },
    status: () => agent.status(),
    stats: () => {
      const status = agent.status();
      return {
        connections: status.counts.connections,
        workers: status.workers.map((worker) => ({ index: worker.index, pid: worker.pid, state: worker.state, connections: worker.connections, restarts: worker.restarts })),
      };
    },
    exit: () => agent.close(),
  },
  {
    port: Number(url.port),
    path: '/ws',
    kind: 'cluster',
    node: process.version,
    greeting: true,
    workers,
    agentUrl: agent.url,
    workerPids: workerPids(),
    features: { channels: true },
  },
);
