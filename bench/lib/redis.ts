// A throwaway Redis for scenario 8, the one the tests start (scripts/throwaway-servers.ts): redis-server on 127.0.0.1
// and a free port, no persistence, its working folder a temporary one, killed and deleted afterwards.
import { startThrowawayRedis, type ThrowawayRedis } from '../../scripts/throwaway-servers.ts';

/** A running throwaway Redis: its pid and version are for the report. */
export type BenchRedis = ThrowawayRedis;

/** Starts a throwaway Redis, or returns why there is none (no redis-server on this machine). A server that exists but does not start throws. */
export function startRedis(): Promise<BenchRedis | string> {
  return startThrowawayRedis({ prefix: 'sb-bench-redis-', hint: 'apt-get install -y redis-server, or set REDIS_SERVER to the binary' });
}
