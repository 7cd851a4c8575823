// A worker of scenario 8's cluster, forked by the agent in servers/cluster.ts (node:cluster): the same application as
// servers/switchboard.ts (the bench plug, its hooks, limits and grants; channels bench-h… with history), its bus, history and presence the agent's
// over IPC (joinCluster). It answers one message of the bench's own on the agent's IPC channel: its CPU time, for
// machines without /proc.
import { createServer } from '@switchboard/server';
import { joinCluster } from '@switchboard/server/cluster';
import { bench, BENCH_AUTH, BENCH_HISTORY_CHANNELS, BENCH_LIMITS, hooks } from './bench-plug.ts';

// The bench measures the server, not its log: only errors are printed.
process.env.SWITCHBOARD_LOG_LEVEL ??= 'error';

/** The bench's question over the agent's IPC channel (no `sb` field, so the cluster's own code ignores it). */
interface CpuQuestion {
  bench: 'cpu';
  id: number;
}

const member = joinCluster();
const server = createServer({
  host: '127.0.0.1',
  // node:cluster's primary picks the port when the first worker listens; every worker shares it.
  port: 0,
  plugs: [bench],
  hooks,
  limits: BENCH_LIMITS,
  auth: BENCH_AUTH,
  // The channels bench-h… keep history, in the agent's (IpcHistory): scenario 8's channel with history.
  channels: BENCH_HISTORY_CHANNELS,
  shutdownTimeoutMs: 2_000,
  ...member.serverOptions(),
});

process.on('message', (message: Partial<CpuQuestion> | null) => {
  if (message?.bench !== 'cpu') return;
  const cpu = process.cpuUsage();
  process.send?.({ bench: 'cpu', id: message.id, pid: process.pid, cpuUs: cpu.user + cpu.system });
});

await member.serve(server);
