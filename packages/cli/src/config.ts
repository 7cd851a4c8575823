// Settings for serving a project: the config file, environment variables and flags, merged by precedence.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DevErrorCode, SwitchboardError, type ServerOptions } from '@switchboard/server';
import { parseLogLevel, parsePort, parseSwitch, parseText, UsageError, type LogLevel } from './args.ts';

/**
 * What `switchboard.config.ts` may set: every `createServer` option (limits, heartbeat, hooks, ...) except
 * the ones the CLI owns, plus the log level. `watch` is not here: the command decides it (`dev` watches,
 * `start` only with `--watch`).
 */
export type SwitchboardConfig = Omit<ServerOptions, 'plugs' | 'public' | 'watch' | 'logger' | 'assets'> & {
  /** The plugs folder, relative to the config file. Default `./plugs`. */
  plugs?: string;
  /** The folder of static files served at `/`, relative to the config file, or false. Default `./public`. */
  public?: string | false;
  /** pino's level. Default `info`. */
  logLevel?: LogLevel;
  /** `switchboard start` as an agent and its workers (docs/cluster.md); `dev` always runs one process. */
  agent?: AgentConfig;
};

/** The `agent` key of the config file: how `switchboard start` runs an agent and its workers. */
export interface AgentConfig {
  /** Worker processes, or `'auto'` for one per core. Setting it (here, `--workers` or SWITCHBOARD_WORKERS) turns the agent on. */
  workers?: number | 'auto';
  /** The agent API's port, on 127.0.0.1. Default: the server's port + 1 (a free one when the port is 0). */
  port?: number;
  /** Crash restarts allowed within `restartWindowMs` before the agent gives up (exit 1). Default 5. */
  maxRestarts?: number;
  /** Default 60 000 (one minute). */
  restartWindowMs?: number;
}

/**
 * Types a `switchboard.config.ts` default export. It returns its argument unchanged.
 *
 * @example
 * // switchboard.config.ts
 * import { defineConfig } from '@switchboard/cli';
 * export default defineConfig({ port: 3000, plugs: './plugs', public: './public' });
 */
export function defineConfig(config: SwitchboardConfig): SwitchboardConfig {
  return config;
}

/** Config file names looked for in the working folder, in this order. */
export const CONFIG_FILES = ['switchboard.config.ts', 'switchboard.config.mts', 'switchboard.config.js', 'switchboard.config.mjs'];

/** Defaults, lowest in precedence. */
export const DEFAULTS = { port: 3000, host: '127.0.0.1', plugs: './plugs', public: './public', logLevel: 'info' } as const;

/** The environment variables the CLI reads, by setting. */
export const ENV = {
  port: 'PORT',
  host: 'HOST',
  config: 'SWITCHBOARD_CONFIG',
  plugs: 'SWITCHBOARD_PLUGS',
  public: 'SWITCHBOARD_PUBLIC',
  watch: 'SWITCHBOARD_WATCH',
  logLevel: 'SWITCHBOARD_LOG_LEVEL',
  adminToken: 'SWITCHBOARD_ADMIN_TOKEN',
  workers: 'SWITCHBOARD_WORKERS',
  agentPort: 'SWITCHBOARD_AGENT_PORT',
} as const;

/** The serve flags as parsed (strings and switches, unvalidated). */
export interface ServeFlags {
  port?: string;
  host?: string;
  plugs?: string;
  public?: string;
  'no-public'?: boolean;
  watch?: boolean;
  'no-watch'?: boolean;
  config?: string;
  'log-level'?: string;
  /** `start` only. */
  workers?: string;
  'agent-port'?: string;
}

/** How `switchboard start` runs the agent, when it does. */
export interface AgentSettings {
  workers: number;
  /** On 127.0.0.1; 0 picks a free port. */
  agentPort: number;
  maxRestarts: number;
  restartWindowMs: number;
}

/** Everything needed to start a server, after precedence was applied and values checked. */
export interface Settings {
  port: number;
  host: string;
  /** Absolute path. */
  plugs: string;
  /** Absolute path, or false. */
  public: string | false;
  watch: boolean;
  logLevel: LogLevel;
  /** The config file used, absolute, if any. */
  configFile: string | undefined;
  /** The agent and its workers (`start` with `--workers`, SWITCHBOARD_WORKERS or the config's `agent.workers`); else one process. */
  agent: AgentSettings | undefined;
  /** The remaining createServer options from the config file and environment. */
  server: Omit<SwitchboardConfig, 'port' | 'host' | 'plugs' | 'public' | 'logLevel' | 'agent'>;
}

/** The most workers `--workers` accepts. */
export const MAX_WORKERS = 256;

/**
 * Reads a number of workers: a positive integer, or `auto` for one per core.
 *
 * @example
 * parseWorkers('4', '--workers')    // 4
 * parseWorkers('auto', '--workers') // os.availableParallelism()
 */
export function parseWorkers(value: unknown, source: string): number {
  if (value === 'auto') return availableParallelism();
  const count = typeof value === 'string' && /^\d{1,4}$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_WORKERS) {
    throw new UsageError(`${source}: expected a number of workers from 1 to ${MAX_WORKERS}, or "auto" for one per core, got ${JSON.stringify(value)}`);
  }
  return count;
}

function parseCount(value: unknown, source: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw new UsageError(`${source}: expected an integer of at least ${min}, got ${JSON.stringify(value)}`);
  return value;
}

// A bad value from the environment or config file is a configuration problem (SB_CONFIG_INVALID, exit 2);
// the parsers say what is wrong, this gives it the catalogue code.
function setting<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof UsageError) throw new SwitchboardError(DevErrorCode.configInvalid, error.message);
    throw error;
  }
}

function isOff(value: unknown): boolean {
  return typeof value === 'string' && ['false', 'off', '0', 'no'].includes(value.trim().toLowerCase());
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  // An empty variable (`PORT= switchboard dev`) means "not set", as most tools read it.
  return value === undefined || value === '' ? undefined : value;
}

/** Finds the config file: `--config`, then SWITCHBOARD_CONFIG, then the first of CONFIG_FILES in `cwd`. */
export function findConfigFile(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const explicit = flag ?? envValue(env, ENV.config);
  if (explicit !== undefined) {
    const file = resolve(cwd, explicit);
    if (!existsSync(file)) {
      const source = flag !== undefined ? '--config' : ENV.config;
      throw new UsageError(`${source}: config file ${file} does not exist`);
    }
    return file;
  }
  return CONFIG_FILES.map((name) => resolve(cwd, name)).find((file) => existsSync(file));
}

/**
 * Imports a config file and checks its shape. Throws SB_CONFIG_LOAD_FAILED when it does not import and
 * SB_CONFIG_INVALID when its default export is not a config object.
 *
 * @example
 * const config = await loadConfigFile('/app/switchboard.config.ts');
 */
export async function loadConfigFile(file: string): Promise<SwitchboardConfig> {
  // Config files import @switchboard/cli, which a fresh project may not have installed.
  await import('./register.ts');
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    throw new SwitchboardError(DevErrorCode.configLoadFailed, `${file}: ${(error as Error).message}`, { cause: error });
  }
  const config = module.default;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new SwitchboardError(
      DevErrorCode.configInvalid,
      `${file}: the default export must be a config object; end the file with "export default defineConfig({ ... })"`,
    );
  }
  if ('watch' in config) {
    throw new SwitchboardError(
      DevErrorCode.configInvalid,
      `${file}: "watch" is not a config setting; "switchboard dev" watches plugs, "switchboard start" does so only with --watch or ${ENV.watch}=1`,
    );
  }
  return config as SwitchboardConfig;
}

/** A place one setting may come from, in precedence order: a flag, a variable, or the config file. */
interface Source {
  kind: 'flag' | 'env' | 'config';
  /** How messages name it: `--port`, `PORT`, `switchboard.config.ts: port`. */
  name: string;
  value: unknown;
  /** The folder relative paths from this source are resolved against. */
  base: string;
}

/**
 * The first source that sets the value, parsed; sources after it are not read, so a bad value there does
 * not matter. A bad flag is a UsageError; a bad variable or config value, SB_CONFIG_INVALID.
 */
function pick<T>(sources: Source[], parse: (value: unknown, source: Source) => T, fallback: () => T): T {
  const chosen = sources.find((source) => source.value !== undefined);
  if (!chosen) return fallback();
  return chosen.kind === 'flag' ? parse(chosen.value, chosen) : setting(() => parse(chosen.value, chosen));
}

/** Where settings come from for one run: the flags, the environment and the config file, each with its folder. */
function sourcesFor(env: NodeJS.ProcessEnv, cwd: string, configFile: string | undefined) {
  const where = configFile ? relative(cwd, configFile) || configFile : '';
  const baseDir = configFile ? dirname(configFile) : cwd;
  return {
    baseDir,
    flag: (name: string, value: unknown): Source => ({ kind: 'flag', name, value, base: cwd }),
    env: (name: string): Source => ({ kind: 'env', name, value: envValue(env, name), base: cwd }),
    config: (key: string, value: unknown): Source => ({ kind: 'config', name: `${where}: ${key}`, value, base: baseDir }),
  };
}

const parseFolder = (value: unknown, source: Source): string => resolve(source.base, parseText(value, source.name));

/**
 * The plugs folder alone, by the same precedence as `resolveSettings` (for commands that do not serve).
 *
 * @example
 * const dir = await resolvePlugsDir({ plugs: undefined, config: undefined }, process.env, process.cwd());
 */
export async function resolvePlugsDir(flags: { plugs?: string; config?: string }, env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  const configFile = findConfigFile(flags.config, env, cwd);
  const fileConfig = configFile ? await loadConfigFile(configFile) : {};
  const from = sourcesFor(env, cwd, configFile);
  return pick([from.flag('--plugs', flags.plugs), from.env(ENV.plugs), from.config('plugs', fileConfig.plugs)], parseFolder, () =>
    resolve(from.baseDir, DEFAULTS.plugs),
  );
}

/**
 * Merges the settings: flags over environment variables over the config file over defaults. `watch`
 * comes from `--watch` or `--no-watch`, then SWITCHBOARD_WATCH, then the command (`watchByDefault`).
 *
 * @example
 * const settings = await resolveSettings({ flags: { port: '0' }, env: process.env, cwd: process.cwd(), watchByDefault: true });
 */
export async function resolveSettings(input: {
  flags: ServeFlags;
  env: NodeJS.ProcessEnv;
  cwd: string;
  watchByDefault: boolean;
  /** Whether the command may run an agent (`start`); otherwise the agent settings are not read. */
  agent?: boolean;
}): Promise<Settings> {
  const { flags, env, cwd } = input;
  if (flags.public !== undefined && flags['no-public'] === true) {
    throw new UsageError('--public and --no-public contradict each other; pass one of them');
  }
  if (flags.watch === true && flags['no-watch'] === true) {
    throw new UsageError('--watch and --no-watch contradict each other; pass one of them');
  }
  const configFile = findConfigFile(flags.config, env, cwd);
  const fileConfig = configFile ? await loadConfigFile(configFile) : {};
  const { port: filePort, host: fileHost, plugs: filePlugs, public: filePublic, logLevel: fileLogLevel, agent: fileAgent, ...server } = fileConfig;
  const from = sourcesFor(env, cwd, configFile);

  const port = pick(
    [from.flag('--port', flags.port), from.env(ENV.port), from.config('port', filePort)],
    (value, source) => parsePort(value, source.name),
    () => DEFAULTS.port,
  );
  const host = pick(
    [from.flag('--host', flags.host), from.env(ENV.host), from.config('host', fileHost)],
    (value, source) => parseText(value, source.name),
    () => DEFAULTS.host,
  );
  const plugs = pick(
    [from.flag('--plugs', flags.plugs), from.env(ENV.plugs), from.config('plugs', filePlugs)],
    parseFolder,
    () => resolve(from.baseDir, DEFAULTS.plugs),
  );
  const publicDir = pick(
    [
      from.flag('--no-public', flags['no-public'] === true ? false : undefined),
      from.flag('--public', flags.public),
      from.env(ENV.public),
      from.config('public', filePublic),
    ],
    (value, source) => (value === false || (source.kind === 'env' && isOff(value)) ? false : parseFolder(value, source)),
    () => {
      // Without a setting, serve ./public only when it is there, so a plugs-only project starts cleanly.
      const candidate = resolve(from.baseDir, DEFAULTS.public);
      return existsSync(candidate) ? candidate : false;
    },
  );
  const watch = pick(
    [
      from.flag('--watch', flags.watch === true ? true : undefined),
      from.flag('--no-watch', flags['no-watch'] === true ? false : undefined),
      from.env(ENV.watch),
    ],
    (value, source) => (typeof value === 'boolean' ? value : parseSwitch(String(value), source.name)),
    () => input.watchByDefault,
  );
  const logLevel = pick(
    [from.flag('--log-level', flags['log-level']), from.env(ENV.logLevel), from.config('logLevel', fileLogLevel)],
    (value, source) => parseLogLevel(value, source.name),
    () => DEFAULTS.logLevel,
  );

  // A secret: accepted from the environment or the config file, never as a flag (flags show up in `ps`).
  const adminToken = envValue(env, ENV.adminToken);
  if (adminToken !== undefined) server.adminToken = adminToken;

  const agent = input.agent === true ? resolveAgent(flags, from, fileAgent, port) : undefined;
  return { port, host, plugs, public: publicDir, watch, logLevel, configFile, agent, server };
}

/** The agent settings by the same precedence; undefined (one process) when nothing sets the workers. */
function resolveAgent(flags: ServeFlags, from: ReturnType<typeof sourcesFor>, file: AgentConfig | undefined, port: number): AgentSettings | undefined {
  if (file !== undefined && (typeof file !== 'object' || file === null || Array.isArray(file))) {
    throw new SwitchboardError(DevErrorCode.configInvalid, `${from.config('agent', file).name}: expected an object such as { workers: 4 }`);
  }
  const workerSources = [from.flag('--workers', flags.workers), from.env(ENV.workers), from.config('agent.workers', file?.workers)];
  if (workerSources.every((source) => source.value === undefined)) {
    if (flags['agent-port'] !== undefined) throw new UsageError('--agent-port is for the agent: pass --workers too (or set SWITCHBOARD_WORKERS)');
    return undefined;
  }
  const workers = pick(workerSources, (value, source) => parseWorkers(typeof value === 'number' ? value : String(value), source.name), () => 1);
  const agentPort = pick(
    [from.flag('--agent-port', flags['agent-port']), from.env(ENV.agentPort), from.config('agent.port', file?.port)],
    (value, source) => parsePort(value, source.name),
    () => (port === 0 ? 0 : port + 1),
  );
  if (agentPort !== 0 && agentPort === port) throw new UsageError(`the agent's port ${agentPort} is the server's: pick another with --agent-port or SWITCHBOARD_AGENT_PORT`);
  if (agentPort > 65535) throw new UsageError(`the agent's port would be ${agentPort} (the server's + 1): pick one with --agent-port or SWITCHBOARD_AGENT_PORT`);
  const maxRestarts = pick([from.config('agent.maxRestarts', file?.maxRestarts)], (value, source) => parseCount(value, source.name, 0), () => 5);
  const restartWindowMs = pick([from.config('agent.restartWindowMs', file?.restartWindowMs)], (value, source) => parseCount(value, source.name, 1), () => 60_000);
  return { workers, agentPort, maxRestarts, restartWindowMs };
}

/** A running server of the project, as the commands that talk to one (`switchboard rooms`) reach it. */
export interface ServerTarget {
  /** The server's base URL, without a trailing slash: `http://127.0.0.1:3000`. */
  url: string;
  /** The admin API's prefix on it: the config file's `adminPath`, or `/admin`. */
  adminPath: string;
  /** The bearer token for the admin API, when one was given. */
  adminToken: string | undefined;
  /** Whether the URL came from `--url` (rather than the host and port settings), for the hints in messages. */
  urlFromFlag: boolean;
}

/** What the talking commands accept (strings, unvalidated). */
export interface TargetFlags {
  url?: string;
  'admin-token'?: string;
  config?: string;
}

function parseServerUrl(value: unknown, source: string): string {
  const text = parseText(value, source).trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${source}: expected the server's URL, as in http://127.0.0.1:3000, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${source}: expected an http:// or https:// URL (the server's HTTP address, not its WebSocket one), got ${JSON.stringify(value)}`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** A host to connect to: a server listening on every interface is reached on this machine's loopback. */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Where the project's running server answers, for commands that talk to it: `--url`, or else the host and
 * port it serves on by the same precedence as `dev` (PORT and HOST, then the config file, then
 * http://127.0.0.1:3000). The admin token comes from `--admin-token`, then SWITCHBOARD_ADMIN_TOKEN, then the
 * config file's `adminToken`; the admin path from the config file's `adminPath`.
 *
 * @example
 * const target = await resolveServerTarget({ url: 'http://127.0.0.1:3002' }, process.env, process.cwd());
 */
export async function resolveServerTarget(flags: TargetFlags, env: NodeJS.ProcessEnv, cwd: string): Promise<ServerTarget> {
  const configFile = findConfigFile(flags.config, env, cwd);
  const fileConfig = configFile ? await loadConfigFile(configFile) : {};
  const from = sourcesFor(env, cwd, configFile);
  let url: string;
  if (flags.url !== undefined) {
    url = parseServerUrl(flags.url, '--url');
  } else {
    const portSources = [from.env(ENV.port), from.config('port', fileConfig.port)];
    const port = pick(portSources, (value, source) => parsePort(value, source.name), () => DEFAULTS.port);
    const host = pick([from.env(ENV.host), from.config('host', fileConfig.host)], (value, source) => parseText(value, source.name), () => DEFAULTS.host);
    if (port === 0) {
      const source = portSources.find((candidate) => candidate.value !== undefined)?.name ?? 'port';
      throw new UsageError(`${source} is 0 (a free port, picked when the server starts): pass --url with the address the server printed`);
    }
    url = `http://${connectHost(host)}:${port}`;
  }
  const adminPath = pick(
    [from.config('adminPath', fileConfig.adminPath)],
    (value, source) => {
      const path = parseText(value, source.name);
      if (!path.startsWith('/')) throw new UsageError(`${source.name}: expected a path starting with "/", got ${JSON.stringify(value)}`);
      return path.replace(/\/+$/, '');
    },
    () => '/admin',
  );
  const adminToken = pick(
    [from.flag('--admin-token', flags['admin-token']), from.env(ENV.adminToken), from.config('adminToken', fileConfig.adminToken)],
    (value, source) => parseText(value, source.name),
    () => undefined,
  );
  return { url, adminPath, adminToken, urlFromFlag: flags.url !== undefined };
}

/**
 * Where the project's running agent answers (`switchboard status`, `switchboard reload`): `--url`, or else
 * 127.0.0.1 on the agent's port by the same precedence as `start` (SWITCHBOARD_AGENT_PORT, the config file's
 * `agent.port`, else the server's port + 1). The admin token as for `resolveServerTarget`.
 *
 * @example
 * const target = await resolveAgentTarget({}, process.env, process.cwd()); // http://127.0.0.1:3001
 */
export async function resolveAgentTarget(flags: TargetFlags, env: NodeJS.ProcessEnv, cwd: string): Promise<ServerTarget> {
  const configFile = findConfigFile(flags.config, env, cwd);
  const fileConfig = configFile ? await loadConfigFile(configFile) : {};
  const from = sourcesFor(env, cwd, configFile);
  let url: string;
  if (flags.url !== undefined) {
    url = parseServerUrl(flags.url, '--url');
  } else {
    const agentSources = [from.env(ENV.agentPort), from.config('agent.port', fileConfig.agent?.port)];
    const portSources = [from.env(ENV.port), from.config('port', fileConfig.port)];
    const port = pick(portSources, (value, source) => parsePort(value, source.name), () => DEFAULTS.port);
    const agentPort = pick(agentSources, (value, source) => parsePort(value, source.name), () => (port === 0 ? 0 : port + 1));
    if (agentPort === 0) {
      const source = [...agentSources, ...portSources].find((candidate) => candidate.value !== undefined)?.name ?? 'port';
      throw new UsageError(`${source} is 0 (a free port, picked when the agent starts): pass --url with the agent address "switchboard start" printed`);
    }
    url = `http://127.0.0.1:${agentPort}`;
  }
  const adminToken = pick(
    [from.flag('--admin-token', flags['admin-token']), from.env(ENV.adminToken), from.config('adminToken', fileConfig.adminToken)],
    (value, source) => parseText(value, source.name),
    () => undefined,
  );
  return { url, adminPath: '', adminToken, urlFromFlag: flags.url !== undefined };
}
