// Settings for serving a project: the config file, environment variables and flags, merged by precedence.
import { existsSync } from 'node:fs';
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
};

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
  /** The remaining createServer options from the config file and environment. */
  server: Omit<SwitchboardConfig, 'port' | 'host' | 'plugs' | 'public' | 'logLevel'>;
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
  const { port: filePort, host: fileHost, plugs: filePlugs, public: filePublic, logLevel: fileLogLevel, ...server } = fileConfig;
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

  return { port, host, plugs, public: publicDir, watch, logLevel, configFile, server };
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
