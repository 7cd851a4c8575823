// `switchboard dev` and `switchboard start`: serve a project's plugs, public folder and the browser SDK.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';
import type { ParseArgsOptionsConfig } from 'node:util';
import type { Logger } from 'pino';
import type { Agent, ListenInfo, SwitchboardServer } from '@switchboard/server';
import { CommandError } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';
import type { AgentSettings, ServeFlags, Settings } from '../config.ts';
import { displayPath } from '../display.ts';
import { BACKEND_ENV, backendsFromEnv } from '../backends.ts';

/** The flags `dev`, `start` and the bare `switchboard` share. */
export const SERVE_OPTIONS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  plugs: { type: 'string' },
  public: { type: 'string' },
  'no-public': { type: 'boolean' },
  watch: { type: 'boolean' },
  'no-watch': { type: 'boolean' },
  config: { type: 'string', short: 'c' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

/** `start`'s flags: the serve flags and the agent's. */
export const START_OPTIONS = {
  ...SERVE_OPTIONS,
  workers: { type: 'string' },
  'agent-port': { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

const FLAGS_HELP = `Flags:
  -p, --port <n>         Port to listen on; 0 picks a free one      env PORT                  default 3000
      --host <host>      Interface to listen on                     env HOST                  default 127.0.0.1
      --plugs <dir>      Folder of plug files                       env SWITCHBOARD_PLUGS     default ./plugs
      --public <dir>     Folder served at /                         env SWITCHBOARD_PUBLIC    default ./public, if it exists
      --no-public        Serve no static files                      env SWITCHBOARD_PUBLIC=false
      --watch            Hot-swap plugs when their files change     env SWITCHBOARD_WATCH=1
      --no-watch         Do not watch plug files                    env SWITCHBOARD_WATCH=0
  -c, --config <file>    Config file                                env SWITCHBOARD_CONFIG    default ./switchboard.config.ts
      --log-level <lvl>  fatal, error, warn, info, debug, trace or silent
                                                                    env SWITCHBOARD_LOG_LEVEL default info
  -h, --help             Show this help

The admin API token is read from SWITCHBOARD_ADMIN_TOKEN or the config file's adminToken (never a flag,
since flags show up in process lists).

Precedence: flags, then environment variables, then switchboard.config.ts, then defaults. Paths from
flags and variables are relative to the working folder; paths in the config file, to the config file.`;

/** Where the server can be reached, for people: `localhost` instead of "every interface". */
function browsableUrl(info: ListenInfo): string {
  return info.host === '0.0.0.0' || info.host === '::' ? `http://localhost:${info.port}` : info.url;
}

function banner(mode: 'dev' | 'start', info: ListenInfo, settings: Settings, server: SwitchboardServer, ctx: CommandContext, sdkPath: string, records: string | undefined): string {
  const url = browsableUrl(info);
  const plugs = server.plugs();
  const plugList =
    plugs.length === 0
      ? `none yet: add one with "${ctx.program} add plug <name>"`
      : plugs.map((plug) => `${plug.name} (${plug.messages.join(', ')})`).join(', ');
  const lines = [
    `Switchboard ${mode === 'dev' ? 'dev server' : 'server'} listening on ${url}`,
    settings.public === false ? `  page       none (no public folder)` : `  page       ${url}/  from ${displayPath(settings.public, ctx.cwd)}`,
    `  WebSocket  ${info.wsUrl}`,
    `  SDK        ${url}${sdkPath}`,
    `  plugs      ${displayPath(settings.plugs, ctx.cwd)}: ${plugList}`,
    `  hot swap   ${settings.watch ? 'on: saved plug files are swapped in without a restart' : 'off'}`,
    `  admin      ${url}${server.options.adminPath}/manifest`,
    `  records    ${records ?? 'off (no store)'}`,
  ];
  if (info.url !== url) lines.push(`  listening on every interface (${info.host})`);
  lines.push('Press Ctrl+C to stop.');
  return `${lines.join('\n')}\n`;
}

/**
 * Starts serving with settings from flags, environment and config file; resolves once listening.
 * SIGTERM and SIGINT shut the server down gracefully and end the process.
 *
 * @example
 * await serve({ port: '0' }, ctx, 'dev');
 */
export async function serve(flags: ServeFlags, ctx: CommandContext, mode: 'dev' | 'start'): Promise<'running'> {
  // Loaded here, not at the top, so that --help and argument errors answer without loading the server.
  const [{ createServer, createTransportLogger, SqliteStore, isClusterWorker, joinCluster }, { pino }, { CLIENT_BUNDLE_PATH, clientBundleAssets }, { resolveSettings }] =
    await Promise.all([import('@switchboard/server'), import('pino'), import('../client-bundle.ts'), import('../config.ts')]);
  const settings = await resolveSettings({ flags, env: ctx.env, cwd: ctx.cwd, watchByDefault: mode === 'dev', agent: mode === 'start' });
  if (!existsSync(settings.plugs)) {
    throw new CommandError(
      `no plugs folder at ${displayPath(settings.plugs, ctx.cwd)}. Create a project with "${ctx.program} init", ` +
        `or point --plugs, SWITCHBOARD_PLUGS or the config file's "plugs" at your plugs folder.`,
    );
  }
  // dev: readable lines for a person at a terminal; start: one JSON object per line, for log collectors.
  // SWITCHBOARD_LOG_FORMAT=json|pretty overrides either.
  const format = ctx.env.SWITCHBOARD_LOG_FORMAT ?? (mode === 'dev' ? 'pretty' : 'json');
  if (format !== 'json' && format !== 'pretty') throw new CommandError(`SWITCHBOARD_LOG_FORMAT must be "json" or "pretty", got "${format}"`);
  // JSON lines are written by a worker thread (pino.transport), so a slow stdout never blocks the event loop;
  // the server flushes them when it stops. Pretty lines are formatted and written on the main thread: it is
  // for a person at a terminal, at development volumes, and the single executable has no module files for
  // a worker to load pino-pretty from.
  const log =
    format === 'pretty'
      ? pino({ name: 'switchboard', level: settings.logLevel }, (await import('pino-pretty')).default({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', singleLine: true }))
      : createTransportLogger({ name: 'switchboard', level: settings.logLevel });
  // Records (connections, the audit log, runtime grants) go to a SQLite file in the project's data folder
  // unless the config file gives its own store, or SWITCHBOARD_STORE=off turns them off.
  const storeOff = ['off', 'false', '0', 'no'].includes((ctx.env.SWITCHBOARD_STORE ?? '').trim().toLowerCase());
  const dataDir = resolve(ctx.cwd, ctx.env.SWITCHBOARD_DATA ?? 'data');
  const fromEnv = ctx.env[BACKEND_ENV.database]?.trim() ? 'PostgreSQL (SWITCHBOARD_DATABASE_URL)' : undefined;
  const embedded = settings.server.store === undefined && fromEnv === undefined && !storeOff ? join(dataDir, 'switchboard.db') : undefined;
  const records =
    fromEnv ?? (settings.server.store !== undefined ? 'the store of the config file' : embedded === undefined ? undefined : `${displayPath(embedded, ctx.cwd)} (SQLite)`);
  if (settings.agent !== undefined && !isClusterWorker()) return runAgent(flags, settings, settings.agent, log, ctx, { dataDir, records, sdkPath: CLIENT_BUNDLE_PATH });
  // What the environment shares with other nodes (SWITCHBOARD_REDIS_URL, SWITCHBOARD_DATABASE_URL, …), over the config file's.
  Object.assign(settings.server, await backendsFromEnv(ctx.env));
  // A worker the agent forked: one of several servers on the shared port, its back ends the agent's.
  const member = settings.agent === undefined ? undefined : joinCluster();
  const serverLog = member === undefined ? log : log.child({ worker: member.index });
  const server = createServer({
    ...settings.server,
    ...(embedded !== undefined
      ? {
          store: new SqliteStore({ file: embedded }),
          // Every worker writes the one database (WAL); each spools to its own file.
          audit: { spool: join(dataDir, member === undefined ? 'audit-spool.jsonl' : `audit-spool-w${member.index}.jsonl`), ...settings.server.audit },
        }
      : {}),
    host: settings.host,
    port: settings.port,
    plugs: settings.plugs,
    public: settings.public,
    watch: settings.watch,
    logger: serverLog,
    assets: clientBundleAssets(serverLog, { minify: mode === 'start' }),
    // The worker's node name, and the agent's bus, history and presence unless the config file gives its own (Redis).
    ...(member === undefined ? {} : member.serverOptions({ bus: settings.server.bus, history: settings.server.history, presence: settings.server.presence })),
  });
  if (member !== undefined) {
    const info = await member.serve(server);
    server.handleSignals();
    // SIGHUP is the agent's (a reload); a worker outlives a terminal that hangs up until the agent closes it.
    process.on('SIGHUP', () => {});
    serverLog.info({ url: info.url, node: member.node, plugs: server.plugs().map((plug) => plug.name) }, 'worker listening');
    return 'running';
  }
  const info = await server.listen();
  server.handleSignals();
  ctx.out(banner(mode, info, settings, server, ctx, CLIENT_BUNDLE_PATH, records));
  log.info({ url: info.url, wsUrl: info.wsUrl, plugs: server.plugs().map((plug) => plug.name), watch: settings.watch }, 'listening');
  return 'running';
}

/** The script a worker runs: this CLI (its sources in the repository, its build once installed, the executable itself). */
function workerScript(): string {
  if (isSea()) return process.execPath;
  return fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../bin.ts' : '../bin.js', import.meta.url));
}

/** The flags again, as arguments: each worker runs the same `start` command line. */
function argumentsOf(flags: ServeFlags): string[] {
  const args: string[] = [];
  for (const [name, value] of Object.entries(flags as Record<string, string | boolean | undefined>)) {
    if (value === undefined || value === false || name === 'help') continue;
    args.push(`--${name}`);
    if (typeof value === 'string') args.push(value);
  }
  return args;
}

function agentBanner(agent: Agent, settings: Settings, cluster: AgentSettings, ctx: CommandContext, extra: { pidFile: string; records: string | undefined; sdkPath: string }): string {
  const url = agent.serverUrl ?? `http://${settings.host}:${settings.port}`;
  const wsUrl = `${url.replace(/^http/, 'ws')}${settings.server.path ?? '/ws'}`;
  const pids = agent.registry.workers().map((worker) => worker.pid);
  const lines = [
    `Switchboard cluster listening on ${url}`,
    `  WebSocket  ${wsUrl}`,
    `  workers    ${cluster.workers} (pids ${pids.join(', ')}), restarted when they crash: at most ${cluster.maxRestarts} in ${cluster.restartWindowMs / 1000} s`,
    `  agent      ${agent.url}/cluster  ("${ctx.program} status", "${ctx.program} reload", or SIGHUP to pid ${process.pid})`,
    `  pid file   ${displayPath(extra.pidFile, ctx.cwd)}`,
    settings.public === false ? `  page       none (no public folder)` : `  page       ${url}/  from ${displayPath(settings.public, ctx.cwd)}`,
    `  SDK        ${url}${extra.sdkPath}`,
    `  plugs      ${displayPath(settings.plugs, ctx.cwd)}`,
    `  hot swap   ${settings.watch ? 'on: each worker swaps saved plug files in' : 'off'}`,
    `  admin      ${url}${settings.server.adminPath ?? '/admin'}/manifest (answered by whichever worker takes the request)`,
    `  records    ${extra.records === undefined ? 'off (no store)' : `${extra.records}, written by every worker`}`,
    'Press Ctrl+C to stop.',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * `start` with workers: this process becomes the agent (the node:cluster primary). It forks the workers (each
 * runs this same command line and serves as a worker), supervises them and answers the agent API.
 */
async function runAgent(
  flags: ServeFlags,
  settings: Settings,
  cluster: AgentSettings,
  log: Logger,
  ctx: CommandContext,
  extra: { dataDir: string; records: string | undefined; sdkPath: string },
): Promise<'running'> {
  const { startAgent, flushLogger } = await import('@switchboard/server');
  const pidFile = join(extra.dataDir, 'agent.pid');
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.env)) if (value !== undefined) env[name] = value;
  let agent: Agent;
  try {
    agent = await startAgent({
      workers: cluster.workers,
      exec: workerScript(),
      args: ['start', ...argumentsOf(flags)],
      cwd: ctx.cwd,
      env,
      agentPort: cluster.agentPort,
      // Checked once here, so a bad option exits with its code (2 for SB_CONFIG_INVALID) before any worker starts.
      serverOptions: { ...settings.server, host: settings.host, port: settings.port, plugs: settings.plugs, public: settings.public, watch: settings.watch },
      restart: { maxRestarts: cluster.maxRestarts, withinMs: cluster.restartWindowMs },
      pidFile,
      logger: log,
    });
  } catch (error) {
    await flushLogger(log);
    // A bad setting keeps its catalogue code (SB_CONFIG_INVALID exits with 2, as for a single server).
    if (typeof (error as { code?: unknown }).code === 'string' && (error as { code: string }).code.startsWith('SB_')) throw error;
    throw new CommandError(`the cluster did not start: ${(error as Error).message}`);
  }
  agent.handleSignals();
  // The agent stops by itself when the workers crash more often than the restart intensity allows.
  void agent.done.then(async (code) => {
    if (code !== 0) {
      ctx.err(
        `${ctx.program}: the workers crashed more than ${cluster.maxRestarts} times in ${cluster.restartWindowMs / 1000} s (SB_WORKER_RESTARTS_EXCEEDED); the cluster stopped. Their errors are in the log.\n`,
      );
    }
    await flushLogger(log);
    process.exit(code);
  });
  ctx.out(agentBanner(agent, settings, cluster, ctx, { pidFile, records: extra.records, sdkPath: extra.sdkPath }));
  return 'running';
}

/** `switchboard dev`. */
export const devCommand: Command = {
  name: 'dev',
  summary: 'Serve the project; plugs hot-swap when you save them',
  usage: 'dev [flags]',
  help: `Serves the project in this folder: the plugs in ./plugs, the files in ./public, and the browser SDK at
/switchboard.js. Saving a plug file swaps it in without a restart and pushes the new $manifest to every
connection; a broken file is logged and the previous version keeps serving.

${FLAGS_HELP}

Examples:
  switchboard dev
  switchboard dev --port 0              # a free port; the URL is printed
  PORT=8080 switchboard dev --log-level debug`,
  options: SERVE_OPTIONS,
  maxPositionals: 0,
  run: (args, ctx) => serve(args.values as ServeFlags, ctx, 'dev'),
};

/** `switchboard start`. */
export const startCommand: Command = {
  name: 'start',
  summary: 'Serve the project for production; with --workers, an agent and worker processes',
  usage: 'start [flags]',
  help: `Serves the project like "dev" but for production: plug files are loaded once (pass --watch or set
SWITCHBOARD_WATCH=1 to hot-swap them anyway) and the browser SDK is minified. SIGTERM or SIGINT shuts down
gracefully: no new messages, running handlers finish, connections close with 1001.

With --workers, this process is an agent that runs that many worker processes on the one port, restarts
one that crashes, replaces them one at a time on "switchboard reload" (or SIGHUP), and answers its own API on
127.0.0.1 (GET /cluster, GET /cluster/connections, POST /cluster/publish, POST /cluster/reload).
Channel messages, history and presence cross workers through the agent. See docs/cluster.md.

${FLAGS_HELP}

Agent flags:
      --workers <n>      Worker processes, or "auto" for one per core   env SWITCHBOARD_WORKERS     default: none (one process)
      --agent-port <n>   The agent API's port on 127.0.0.1; 0 picks one  env SWITCHBOARD_AGENT_PORT  default: the port + 1
  The config file's "agent" key sets them too, with maxRestarts (default 5) and restartWindowMs (60000):
  past that many crashes in the window the agent stops with exit code 1.

Examples:
  switchboard start
  HOST=0.0.0.0 PORT=80 switchboard start
  switchboard start --watch --config ./deploy/switchboard.config.ts
  switchboard start --workers auto --port 8080     # the agent API on 127.0.0.1:8081`,
  options: START_OPTIONS,
  maxPositionals: 0,
  run: (args, ctx) => serve(args.values as ServeFlags, ctx, 'start'),
};
