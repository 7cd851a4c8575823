// `switchboard status` and `switchboard reload`: a running agent's workers and connections, and its rolling reload, over the agent API.
import { UsageError, type ParsedArgs } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import type { TargetFlags } from '../config.ts';
import { AdminClient, json, table, time } from './admin-client.ts';

/** A worker as `GET /cluster` describes it (the server's WorkerInfo). */
interface WorkerInfo {
  index: number;
  pid: number;
  node: string;
  state: string;
  startedAt: string;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  connections: number;
  url: string | null;
}

/** `GET /cluster` (the server's ClusterStatus). */
interface ClusterStatus {
  agent: { pid: number; startedAt: string; url: string; workers: number; reloading: boolean; restart: { maxRestarts: number; withinMs: number; recent: number } };
  url: string | null;
  workers: WorkerInfo[];
  counts: { workers: number; listening: number; connections: number };
}

/** A connection as `GET /cluster/connections` lists it. */
interface ConnectionEntry {
  id: string;
  worker: number;
  pid: number;
  node: string;
  identityId: string | null;
  remoteAddress: string;
  userAgent: string;
  connectedAt: string;
  channels: string[];
}

/** How long `reload` waits for the agent's answer. */
const RELOAD_TIMEOUT_MS = 10 * 60_000;

interface AgentFlags extends TargetFlags {
  json?: boolean;
  connections?: boolean;
  worker?: string;
  user?: string;
}

const TARGET_HELP = `      --url <url>            The agent's URL; default: http://127.0.0.1 on the agent's port (SWITCHBOARD_AGENT_PORT,
                             the config file's agent.port, else the server's port + 1: PORT, then the config's port)
      --admin-token <token>  The admin API's token (env SWITCHBOARD_ADMIN_TOKEN, config "adminToken")
  -c, --config <file>        Config file (env SWITCHBOARD_CONFIG, default ./switchboard.config.ts)
  -h, --help                 Show this help`;

const TARGET_OPTIONS = {
  url: { type: 'string' },
  'admin-token': { type: 'string' },
  json: { type: 'boolean' },
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function agentClient(flags: AgentFlags, ctx: CommandContext, command: string): Promise<AdminClient> {
  for (const flag of ['url', 'admin-token'] as const) {
    if (flags[flag] !== undefined && flags[flag].trim() === '') throw new UsageError(`--${flag}: expected a non-empty value`, command);
  }
  // Loaded here so that argument errors answer without loading the server (config files import it).
  const { resolveAgentTarget } = await import('../config.ts');
  return new AdminClient(await resolveAgentTarget(flags, ctx.env, ctx.cwd), ctx.program, 'cluster', `${ctx.program} start --workers <n>`);
}

function lastExit(worker: WorkerInfo): string {
  const exit = worker.lastExit;
  if (exit === null) return '-';
  return `${exit.signal ?? `code ${exit.code}`} ${time(exit.at).slice(11)}`;
}

function describe(status: ClusterStatus): string {
  const { agent, counts } = status;
  const restart = agent.restart;
  const lines = [
    `Cluster of ${agent.workers} worker${agent.workers === 1 ? '' : 's'} (${counts.listening} listening), agent pid ${agent.pid}, up since ${time(agent.startedAt)}${agent.reloading ? ', reloading' : ''}`,
    `  clients connect to  ${status.url ?? '(no worker listens yet)'}`,
    `  agent API           ${agent.url}/cluster`,
    `  connections         ${counts.connections}`,
    `  crash restarts      ${restart.recent} in the last ${restart.withinMs / 1000} s (at most ${restart.maxRestarts})`,
    '',
  ];
  const header = ['WORKER', 'PID', 'STATE', 'CONNECTIONS', 'RESTARTS', 'LAST EXIT', 'STARTED'];
  const rows = status.workers.map((worker) => [String(worker.index), String(worker.pid), worker.state, String(worker.connections), String(worker.restarts), lastExit(worker), time(worker.startedAt)]);
  return `${lines.join('\n')}\n${table([header, ...rows])}`;
}

function connectionsTable(connections: ConnectionEntry[]): string {
  if (connections.length === 0) return 'No connections.\n';
  const header = ['CONNECTION', 'WORKER', 'USER', 'ADDRESS', 'CHANNELS', 'CONNECTED'];
  const rows = connections.map((entry) => [entry.id, String(entry.worker), entry.identityId ?? '-', entry.remoteAddress, entry.channels.join(',') || '-', time(entry.connectedAt)]);
  return table([header, ...rows]);
}

async function status(args: ParsedArgs, ctx: CommandContext): Promise<number> {
  const flags = args.values as AgentFlags;
  if (flags.worker !== undefined && !/^\d+$/.test(flags.worker)) throw new UsageError(`--worker: expected a worker index (0, 1, …), got ${JSON.stringify(flags.worker)}`, 'status');
  if (flags.user !== undefined && flags.user.trim() === '') throw new UsageError('--user: expected an identity id', 'status');
  const listing = flags.connections === true || flags.worker !== undefined || flags.user !== undefined;
  const agent = await agentClient(flags, ctx, 'status');
  const cluster = await agent.request<ClusterStatus>('GET', '/cluster');
  let connections: ConnectionEntry[] | undefined;
  if (listing) {
    const query = new URLSearchParams();
    if (flags.worker !== undefined) query.set('worker', flags.worker);
    if (flags.user !== undefined) query.set('user', flags.user);
    const suffix = query.size === 0 ? '' : `?${query}`;
    connections = (await agent.request<{ connections: ConnectionEntry[] }>('GET', `/cluster/connections${suffix}`)).connections;
  }
  if (flags.json === true) ctx.out(json(connections === undefined ? cluster : { ...cluster, connections }));
  else ctx.out(connections === undefined ? describe(cluster) : `${describe(cluster)}\n${connectionsTable(connections)}`);
  return 0;
}

async function reload(args: ParsedArgs, ctx: CommandContext): Promise<number> {
  const flags = args.values as AgentFlags;
  const agent = await agentClient(flags, ctx, 'reload');
  // Each worker may take the agent's start timeout and a graceful close: the answer can take minutes.
  const result = await agent.request<{ workers: { index: number; replaced: number[]; pid: number }[] }>('POST', '/cluster/reload', undefined, RELOAD_TIMEOUT_MS);
  if (flags.json === true) ctx.out(json(result));
  else {
    const lines = result.workers.map((worker) => `  worker ${worker.index}: pid ${worker.replaced.join(', ') || '-'} → ${worker.pid}`);
    ctx.out(`Reloaded ${result.workers.length} worker${result.workers.length === 1 ? '' : 's'}, one at a time:\n${lines.join('\n')}\n`);
  }
  return 0;
}

/** `switchboard status`. */
export const statusCommand: Command = {
  name: 'status',
  summary: "A running agent's workers and connections",
  usage: 'status [--connections] [--worker <n>] [--user <id>] [--json]',
  help: `Asks the agent that "switchboard start --workers <n>" runs (its API, GET /cluster) about its workers: pid,
state (starting, listening, draining, exited), connections, crash restarts, how the slot's last process
ended, and when it started.

Flags:
      --connections          List the connections too: id, worker, user (identity), address, channels, connected
      --worker <n>           Only the connections of worker n (implies --connections)
      --user <id>            Only the connections of one identity (implies --connections)
      --json                 Print the agent's JSON answer instead (with "connections" when listed)
${TARGET_HELP}

Exit codes: 0 done, 1 the agent refused or could not be reached, 2 a wrong flag.

Examples:
  switchboard status
  switchboard status --user ada
  switchboard status --json | jq '.workers[] | select(.state != "listening")'
  SWITCHBOARD_ADMIN_TOKEN=... switchboard status --url http://127.0.0.1:8081`,
  options: { ...TARGET_OPTIONS, connections: { type: 'boolean' }, worker: { type: 'string' }, user: { type: 'string' } },
  maxPositionals: 0,
  run: status,
};

/** `switchboard reload`. */
export const reloadCommand: Command = {
  name: 'reload',
  summary: "Replace a running agent's workers one at a time (rolling restart)",
  usage: 'reload [--json]',
  help: `Asks the agent (its API, POST /cluster/reload) to replace its workers one at a time: it starts a new one,
waits until it listens, then closes the old one gracefully (its clients get 1001 and reconnect to the
others, recovering what they missed from history). Answers once every worker was replaced, so a deploy
script can wait on it; when a new worker does not start, the old one keeps serving and this exits with 1.
SIGHUP to the agent does the same without waiting: kill -HUP $(cat data/agent.pid).

Flags:
      --json                 Print the agent's JSON answer instead
${TARGET_HELP}

Exit codes: 0 done, 1 the reload failed, or the agent refused or could not be reached, 2 a wrong flag.

Examples:
  switchboard reload
  switchboard reload --url http://127.0.0.1:8081 --json`,
  options: TARGET_OPTIONS,
  maxPositionals: 0,
  run: reload,
};
