// Presence on Redis: the connections of every presence channel, keyed by node, shared by every node of a cluster.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import type { PresenceMember, PresenceStore } from '@switchboard/server/presence';
import { quit, REDIS_DEFAULT_PREFIX } from './redis-bus.ts';

// The protocol's types, as the contract uses them (this package depends on the server, not the protocol).
type PresenceChange = Awaited<ReturnType<PresenceStore['add']>>[number];
type Member = Awaited<ReturnType<PresenceStore['list']>>[number];

/** `RedisPresence`'s options: where Redis is, the key prefix and the liveness clock. */
export interface RedisPresenceOptions {
  /** `redis://[:password@]host:6379[/db]`. Default: ioredis's (127.0.0.1:6379). Ignored with `client`. */
  url?: string;
  /** ioredis options for the connection. Ignored with `client`. */
  redis?: RedisOptions;
  /** A connection to use instead of making one; `close()` leaves it open. Not one in subscriber mode. */
  client?: Redis;
  /** Prepended to every key, so that several apps can share one Redis. Default `sb:`. */
  prefix?: string;
  /**
   * The clock liveness is measured by, in milliseconds (tests pass a fake one). Default: Redis's own clock
   * (`TIME`), so that the nodes' clocks need not agree. Every node sharing the store must use the same clock.
   */
  now?: () => number;
}

/**
 * The events of a `RedisPresence`: `reset` when it finds that the presence data in Redis was lost (Redis
 * restarted without persistence, or the keys were flushed) since its last call: the node should add its
 * connections again.
 */
export interface RedisPresenceEvents {
  reset: [];
}

// Every script takes KEYS = [channels, alive, epoch] and ARGV = [the key base, a new epoch, now ('' for
// Redis's clock), …]. channels: a set of the channels with connections. alive: a sorted set of tracked nodes,
// scored by when their liveness lapses (ms). epoch: a random id written by the first write to an empty
// store, so that a store that lost its data (a Redis restart) is told apart from one that kept it.
// Per channel (`base .. 'c:' .. channel` and so on, all under the same hash tag as KEYS):
//   c: a hash, connection id -> the JSON array [node, identity id, info as JSON text];
//   o: a sorted set of the connection ids, scored by the order they were added (1, 2, …);
//   n: a hash, identity id -> how many connections it has there.
// Per node, h: a set of what it holds, each `<byte length of channel>:<channel><connection id>`.
// A write's reply is a flat list: the epoch, then per change its action, channel, identity id and info JSON.
const PRELUDE = `
local channelsKey, aliveKey, epochKey, base = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local function now()
  if ARGV[3] ~= '' then return tonumber(ARGV[3]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(n) return string.format('%d', n) end
local function ckey(ch) return base .. 'c:' .. ch end
local function okey(ch) return base .. 'o:' .. ch end
local function nkey(ch) return base .. 'n:' .. ch end
local function hkey(node) return base .. 'h:' .. node end
local function held(ch, conn) return string.len(ch) .. ':' .. ch .. conn end
local epoch = redis.call('GET', epochKey)
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', epochKey, epoch)
end
local out = { epoch }
local function change(action, ch, id, info)
  out[#out + 1] = action
  out[#out + 1] = ch
  out[#out + 1] = id
  out[#out + 1] = info
end
-- Removes one connection; the leave of its identity when it was its last in the channel.
local function drop(ch, conn)
  local raw = redis.call('HGET', ckey(ch), conn)
  if not raw then return end
  local entry = cjson.decode(raw)
  redis.call('HDEL', ckey(ch), conn)
  redis.call('ZREM', okey(ch), conn)
  redis.call('SREM', hkey(entry[1]), held(ch, conn))
  if redis.call('HLEN', ckey(ch)) == 0 then redis.call('SREM', channelsKey, ch) end
  if redis.call('HINCRBY', nkey(ch), entry[2], -1) <= 0 then
    redis.call('HDEL', nkey(ch), entry[2])
    change('leave', ch, entry[2], entry[3])
  end
end
-- Removes everything a node holds, and stops tracking its liveness.
local function dropNode(node)
  local list = redis.call('SMEMBERS', hkey(node))
  for i = 1, #list do
    local m = list[i]
    local colon = string.find(m, ':', 1, true)
    local len = tonumber(string.sub(m, 1, colon - 1))
    drop(string.sub(m, colon + 1, colon + len), string.sub(m, colon + len + 1))
  end
  redis.call('DEL', hkey(node))
  redis.call('ZREM', aliveKey, node)
end
`;

// ARGV[4..8] = channel, connection id, node, identity id, info JSON.
const ADD = `${PRELUDE}
local ch, conn, node, id, info = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local entry = cjson.encode({ node, id, info })
local raw = redis.call('HGET', ckey(ch), conn)
if raw then
  local previous = cjson.decode(raw)
  if previous[2] == id then
    -- The same identity: replaced in place (its position in the merge order kept), nothing others see.
    redis.call('HSET', ckey(ch), conn, entry)
    if previous[1] ~= node then
      redis.call('SREM', hkey(previous[1]), held(ch, conn))
      redis.call('SADD', hkey(node), held(ch, conn))
    end
    return out
  end
  drop(ch, conn)
end
local last = redis.call('ZRANGE', okey(ch), -1, -1, 'WITHSCORES')
local order = 1
if last[2] then order = tonumber(last[2]) + 1 end
redis.call('HSET', ckey(ch), conn, entry)
redis.call('ZADD', okey(ch), int(order), conn)
redis.call('SADD', hkey(node), held(ch, conn))
redis.call('SADD', channelsKey, ch)
if redis.call('HINCRBY', nkey(ch), id, 1) == 1 then change('join', ch, id, info) end
return out
`;

// ARGV[4..5] = channel, connection id.
const REMOVE = `${PRELUDE}
drop(ARGV[4], ARGV[5])
return out
`;

// ARGV[4] = node.
const REMOVE_NODE = `${PRELUDE}
dropNode(ARGV[4])
return out
`;

// ARGV[4..5] = node, ttl (ms): the node's liveness lapses at now + ttl.
const ALIVE = `${PRELUDE}
redis.call('ZADD', aliveKey, int(now() + tonumber(ARGV[5])), ARGV[4])
return out
`;

// Takes every node whose liveness lapsed (at or before now) and removes it, in one script: a node is swept once.
const SWEEP = `${PRELUDE}
local dead = redis.call('ZRANGEBYSCORE', aliveKey, '-inf', int(now()))
for i = 1, #dead do dropNode(dead[i]) end
return out
`;

// Read-only: KEYS = [channel hash, order], the channel's entries in the order their connections were added.
const LIST = `
local conns = redis.call('ZRANGE', KEYS[2], 0, -1)
local out = {}
for i = 1, #conns do out[i] = redis.call('HGET', KEYS[1], conns[i]) or '' end
return out
`;

interface PresenceCommands {
  switchboardPresenceAdd(channels: string, alive: string, epoch: string, ...args: string[]): Promise<string[]>;
  switchboardPresenceRemove(channels: string, alive: string, epoch: string, ...args: string[]): Promise<string[]>;
  switchboardPresenceRemoveNode(channels: string, alive: string, epoch: string, ...args: string[]): Promise<string[]>;
  switchboardPresenceAlive(channels: string, alive: string, epoch: string, ...args: string[]): Promise<string[]>;
  switchboardPresenceSweep(channels: string, alive: string, epoch: string, ...args: string[]): Promise<string[]>;
  switchboardPresenceList(hash: string, order: string): Promise<string[]>;
}

type Entry = [node: string, identityId: string, info: string];

/**
 * Presence shared by every node of a cluster, on Redis (6.2 or later). Implements the whole
 * `PresenceStore` contract, liveness included. Every call is one Lua script, so `add` and `remove` see and
 * change a channel in one step: when two nodes add connections of one identity at once, exactly one of
 * them gets the join, and only the last connection to go anywhere gives the leave. All the keys of a store
 * share one hash tag (`{presence}`), so that one script can change several channels (`removeNode`,
 * `sweep`) and Redis Cluster keeps them on one node.
 *
 * **Liveness.** `alive(node, ttlMs)` writes when the node's liveness lapses (by Redis's clock unless `now`
 * is given) in a sorted set; `sweep()` takes every lapsed node from it and removes what it held, in one
 * script, so concurrent sweeps from several nodes return each leave once. Nodes that never called `alive`
 * are not tracked and never swept.
 *
 * **Redis restarts.** Presence has no history to recover from: if Redis restarts without persistence (or
 * its keys are flushed), every member is forgotten. Calls keep working (ioredis reconnects and reloads the
 * scripts) on the empty store: `list` is empty, removing a connection added before gives no leave, and
 * adding it again gives a join. The first write after the loss emits `reset`, so that the node can add its
 * connections again; nodes are tracked for liveness again at their next `alive`. Run Redis with persistence
 * or a replica if members must survive it. Keys never expire: evicting them (a `maxmemory` policy other
 * than `noeviction`) corrupts presence.
 *
 * Calls reject while Redis cannot be reached (after ioredis's retries).
 *
 * @example
 * const presence = new RedisPresence({ url: 'redis://redis.internal:6379' });
 * setInterval(() => presence.alive(node, 15_000).catch(onError), 5_000);
 * setInterval(() => presence.sweep().then(announce, onError), 5_000);
 * const diffs = await presence.add('presence-lobby', { connectionId, node, identityId: 'ada', info: { name: 'Ada' } });
 */
export class RedisPresence extends EventEmitter<RedisPresenceEvents> implements PresenceStore {
  private readonly client: Redis & PresenceCommands;
  private readonly owned: boolean;
  private readonly now: (() => number) | undefined;
  /** The key base, `<prefix>{presence}:`; every key starts with it. */
  private readonly base: string;
  private readonly keys: [channels: string, alive: string, epoch: string];
  /** The epoch the last write saw; another one means the data was lost in between. */
  private epoch: string | undefined;

  constructor(options: RedisPresenceOptions = {}) {
    super();
    this.now = options.now;
    this.base = `${options.prefix ?? REDIS_DEFAULT_PREFIX}{presence}:`;
    this.keys = [`${this.base}channels`, `${this.base}alive`, `${this.base}epoch`];
    this.owned = options.client === undefined;
    const redisOptions: RedisOptions = { connectionName: 'switchboard-presence', ...options.redis };
    const client = options.client ?? (options.url === undefined ? new Redis(redisOptions) : new Redis(options.url, redisOptions));
    if (this.owned) client.on('error', () => {}); // calls reject with the error; the event would only be logged
    // defineCommand runs EVALSHA and falls back to EVAL when Redis lost its script cache (a restart).
    client.defineCommand('switchboardPresenceAdd', { numberOfKeys: 3, lua: ADD });
    client.defineCommand('switchboardPresenceRemove', { numberOfKeys: 3, lua: REMOVE });
    client.defineCommand('switchboardPresenceRemoveNode', { numberOfKeys: 3, lua: REMOVE_NODE });
    client.defineCommand('switchboardPresenceAlive', { numberOfKeys: 3, lua: ALIVE });
    client.defineCommand('switchboardPresenceSweep', { numberOfKeys: 3, lua: SWEEP });
    client.defineCommand('switchboardPresenceList', { numberOfKeys: 2, lua: LIST });
    this.client = client as Redis & PresenceCommands;
  }

  async add(channel: string, member: PresenceMember): Promise<PresenceChange[]> {
    const { connectionId, node, identityId, info } = member;
    return this.changes(await this.client.switchboardPresenceAdd(...this.common(), channel, connectionId, node, identityId, JSON.stringify(info)));
  }

  async remove(channel: string, connectionId: string): Promise<PresenceChange[]> {
    return this.changes(await this.client.switchboardPresenceRemove(...this.common(), channel, connectionId));
  }

  async list(channel: string): Promise<Member[]> {
    const entries = await this.client.switchboardPresenceList(`${this.base}c:${channel}`, `${this.base}o:${channel}`);
    // One member per identity, in the order of its first connection; info merged in the order added.
    const members = new Map<string, Record<string, unknown>>();
    for (const raw of entries) {
      if (raw === '') continue;
      const [, id, info] = JSON.parse(raw) as Entry;
      let merged = members.get(id);
      if (merged === undefined) members.set(id, (merged = {}));
      Object.assign(merged, JSON.parse(info) as Record<string, unknown>);
    }
    return [...members].map(([id, info]) => ({ id, info }));
  }

  async removeNode(node: string): Promise<PresenceChange[]> {
    return this.changes(await this.client.switchboardPresenceRemoveNode(...this.common(), node));
  }

  async channels(): Promise<string[]> {
    return this.client.smembers(this.keys[0]);
  }

  /** `node` is alive for `ttlMs` more (rounded up to a whole millisecond); it is tracked from its first call. */
  async alive(node: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0 && Number.isFinite(ttlMs))) throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
    this.changes(await this.client.switchboardPresenceAlive(...this.common(), node, String(Math.ceil(ttlMs))));
  }

  /** Removes every node whose liveness lapsed, in one script; returns their leaves. */
  async sweep(): Promise<PresenceChange[]> {
    return this.changes(await this.client.switchboardPresenceSweep(...this.common()));
  }

  /** Closes the connection (unless it was given as `client`). The members stay in Redis: `removeNode` removes them. */
  async close(): Promise<void> {
    if (this.owned) await quit(this.client);
  }

  /** KEYS, then the key base, a new epoch in case the store is empty, and now ('' for Redis's clock). */
  private common(): [string, string, string, string, string, string] {
    const now = this.now === undefined ? '' : String(Math.floor(this.now()));
    return [...this.keys, this.base, randomBytes(8).toString('base64url'), now];
  }

  /** Decodes a write's reply, [epoch, then action, channel, identity, info per change], noting the epoch. */
  private changes(reply: string[]): PresenceChange[] {
    const [epoch] = reply;
    const lost = this.epoch !== undefined && epoch !== this.epoch;
    this.epoch = epoch;
    const changes: PresenceChange[] = [];
    for (let i = 1; i + 3 < reply.length; i += 4) {
      changes.push({
        channel: reply[i + 1]!,
        action: reply[i] === 'join' ? 'join' : 'leave',
        member: { id: reply[i + 2]!, info: JSON.parse(reply[i + 3]!) as Record<string, unknown> },
      });
    }
    if (lost) this.emit('reset');
    return changes;
  }
}
