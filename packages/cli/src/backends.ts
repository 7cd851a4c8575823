// What the environment says this server shares with others: SWITCHBOARD_REDIS_URL puts the bus, history and
// presence on Redis (@switchboard/redis), SWITCHBOARD_DATABASE_URL the records on PostgreSQL
// (@switchboard/postgres), SWITCHBOARD_NODE names the node and SWITCHBOARD_TRUST_PROXY lists the proxies in
// front of it — so any app becomes one node of a cluster from its environment (docker-compose.yml does this).
import type { Bus, History, PresenceStore, ServerOptions, Store } from '@switchboard/server';

// The parts of the optional packages used here, typed by hand so that the CLI's types do not need them installed.
interface RedisPackage {
  RedisBus: new (options: { url: string }) => Bus;
  RedisHistory: new (options: { url: string }) => History;
  RedisPresence: new (options: { url: string }) => PresenceStore;
}
interface PostgresPackage {
  PostgresStore: new (options: { url: string }) => Store;
}
import { CommandError } from './args.ts';

/** The environment variables read here. */
export const BACKEND_ENV = {
  redis: 'SWITCHBOARD_REDIS_URL',
  database: 'SWITCHBOARD_DATABASE_URL',
  node: 'SWITCHBOARD_NODE',
  trustProxy: 'SWITCHBOARD_TRUST_PROXY',
} as const;

/** Imports an optional back-end package, or says what to install. */
async function optional<T>(name: string, variable: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(name)) {
      throw new CommandError(`${variable} is set, but ${name} is not installed: run "npm install ${name}" in the project`);
    }
    throw error;
  }
}

/** A URL of one of the schemes a variable takes, or a clear error. */
function url(variable: string, value: string, schemes: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new CommandError(`${variable} must be a URL (${schemes.map((scheme) => `${scheme}//…`).join(' or ')}), got "${value}"`);
  }
  if (!schemes.includes(parsed.protocol)) throw new CommandError(`${variable} must start with ${schemes.map((scheme) => `${scheme}//`).join(' or ')}, got "${parsed.protocol}//…"`);
  return value;
}

/**
 * The server options the environment sets (they take precedence over the config file's, as every variable
 * does); nothing when none of the variables is set. Opens no connection until the server uses them.
 *
 * @example
 * const shared = await backendsFromEnv(process.env); // { bus, history, presence, store, node } from SWITCHBOARD_*
 */
export async function backendsFromEnv(env: NodeJS.ProcessEnv): Promise<Pick<ServerOptions, 'bus' | 'history' | 'presence' | 'store' | 'node' | 'trustProxy'>> {
  const options: Pick<ServerOptions, 'bus' | 'history' | 'presence' | 'store' | 'node' | 'trustProxy'> = {};
  const node = env[BACKEND_ENV.node]?.trim();
  if (node) options.node = node;
  const proxies = env[BACKEND_ENV.trustProxy]?.split(',').map((address) => address.trim()).filter(Boolean);
  if (proxies !== undefined && proxies.length > 0) options.trustProxy = proxies;
  const redis = env[BACKEND_ENV.redis]?.trim();
  if (redis) {
    const address = url(BACKEND_ENV.redis, redis, ['redis:', 'rediss:']);
    const { RedisBus, RedisHistory, RedisPresence } = await optional<RedisPackage>('@switchboard/redis', BACKEND_ENV.redis);
    options.bus = new RedisBus({ url: address });
    options.history = new RedisHistory({ url: address });
    options.presence = new RedisPresence({ url: address });
  }
  const database = env[BACKEND_ENV.database]?.trim();
  if (database) {
    const address = url(BACKEND_ENV.database, database, ['postgres:', 'postgresql:']);
    const { PostgresStore } = await optional<PostgresPackage>('@switchboard/postgres', BACKEND_ENV.database);
    options.store = new PostgresStore({ url: address });
  }
  return options;
}
