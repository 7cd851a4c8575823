// A throwaway Redis for a test file (scripts/throwaway-servers.ts): redis-server on 127.0.0.1 and a free port, no
// persistence, its working folder a temporary one, killed and deleted after the file; without a redis-server, a
// banner and a skip.
import { skipBanner, startThrowawayRedis, type ThrowawayRedis } from '../../../scripts/throwaway-servers.ts';

/** A running throwaway Redis. */
export type TestRedis = ThrowawayRedis;

/**
 * Starts a throwaway Redis, or returns the reason there is none (after printing it in a banner to stderr)
 * when the machine has no redis-server. A server that exists but fails to start throws.
 *
 * @example
 * const redis = await startTestRedis();
 * if (typeof redis === 'string') test('RedisBus', { skip: redis }, () => {});
 * else after(() => redis.close());
 */
export async function startTestRedis(): Promise<TestRedis | string> {
  const redis = await startThrowawayRedis({ prefix: 'sb-redis-' });
  if (typeof redis === 'string') skipBanner('REDIS TESTS', redis, 'Install Redis with "apt-get install -y redis-server" (or set REDIS_SERVER to the binary) to run them');
  return redis;
}
