// What makes this app one node of a cluster, from the environment: with REDIS_URL, fan-out, direct sends,
// grant changes, history and presence go through Redis; with DATABASE_URL, records and audit go to
// PostgreSQL. Without them it is one process on the embedded defaults. docker-compose.yml at the repository
// root sets them for two nodes behind nginx (docs/cluster.md).
import type { SwitchboardConfig } from '@switchboard/cli';

/**
 * The server options the environment asks for; nothing when it sets none of the variables.
 *
 * @example
 * export default defineConfig({ plugs: './plugs', ...(await clusterOptions(process.env)) });
 */
export async function clusterOptions(env: NodeJS.ProcessEnv): Promise<SwitchboardConfig> {
  const options: SwitchboardConfig = {};
  // Unique per node: records, presence entries and grant changes are keyed by it.
  if (env.SWITCHBOARD_NODE) options.node = env.SWITCHBOARD_NODE;
  // The load balancer is the only peer: the client is the address it names in X-Forwarded-For.
  if (env.TRUST_PROXY) options.trustProxy = env.TRUST_PROXY.split(',').map((address) => address.trim()).filter(Boolean);
  if (env.REDIS_URL) {
    // Loaded only when asked for, so a single node never needs Redis's driver.
    const { RedisBus, RedisHistory, RedisPresence } = await import('@switchboard/redis');
    options.bus = new RedisBus({ url: env.REDIS_URL });
    options.history = new RedisHistory({ url: env.REDIS_URL });
    options.presence = new RedisPresence({ url: env.REDIS_URL });
    // The ops room keeps history: a client that lands on the other node after a reconnect recovers what it missed.
    options.channels = { history: { channels: ['private-*'] } };
  }
  if (env.DATABASE_URL) {
    const { PostgresStore } = await import('@switchboard/postgres');
    options.store = new PostgresStore({ url: env.DATABASE_URL });
  }
  return options;
}
