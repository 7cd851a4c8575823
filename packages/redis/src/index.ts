// @switchboard/redis: a bus, a history and presence on Redis, in their own package so that apps without Redis never install the driver.
export { RedisBus, REDIS_DEFAULT_PREFIX } from './redis-bus.ts';
export type { RedisBusEvents, RedisBusOptions } from './redis-bus.ts';
export { RedisHistory } from './redis-history.ts';
export type { RedisHistoryOptions } from './redis-history.ts';
export { RedisPresence } from './redis-presence.ts';
export type { RedisPresenceEvents, RedisPresenceOptions } from './redis-presence.ts';
