// History on Redis: every node of a cluster appends to and reads the same streams, each a Redis stream plus a small hash.
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import {
  HISTORY_DEFAULTS,
  type History,
  type HistoryOptions,
  type StreamPage,
  type StreamPosition,
  type StreamPublication,
  type StreamReset,
} from '@switchboard/server/history';
import { quit, REDIS_DEFAULT_PREFIX } from './redis-bus.ts';

/** `RedisHistory`'s options: the history bounds and clock, and where Redis is. */
export interface RedisHistoryOptions extends HistoryOptions {
  /** `redis://[:password@]host:6379[/db]`. Default: ioredis's (127.0.0.1:6379). Ignored with `client`. */
  url?: string;
  /** ioredis options for the connection. Ignored with `client`. */
  redis?: RedisOptions;
  /** A connection to use instead of making one; `close()` leaves it open. Not one in subscriber mode. */
  client?: Redis;
  /** Prepended to every key, so that several apps can share one Redis. Default `sb:`. */
  prefix?: string;
}

// Every script takes KEYS = [meta, log] and ARGV = [now, maxAgeMs (-1: none), a new epoch, …]. `meta` is a
// hash: e = epoch, t = the last offset, a = when the stream was created or last appended to. `log` is a Redis
// stream whose entry ids are `<offset>-0`, with fields t (time) and d (the JSON data).
// `open` gives the stream's epoch and last offset, creating it under the new epoch when it does not exist
// (its keys expired or were never written: its history is lost) or when it ended (nothing appended for
// maxAgeMs), and drops the publications older than maxAgeMs.
const OPEN = `
local meta, log = KEYS[1], KEYS[2]
local now, maxAge, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local function open()
  local m = redis.call('HMGET', meta, 'e', 't', 'a')
  local epoch, top = m[1], tonumber(m[2])
  if epoch and maxAge >= 0 and now >= tonumber(m[3]) + maxAge then epoch = false end
  if not epoch then
    epoch, top = ARGV[3], 0
    redis.call('DEL', meta, log)
    redis.call('HSET', meta, 'e', epoch, 't', 0, 'a', ARGV[1])
    if ttl >= 0 then redis.call('PEXPIRE', meta, ttl) end
    return epoch, top
  end
  if maxAge >= 0 then
    local cursor = '-'
    while true do
      local batch = redis.call('XRANGE', log, cursor, '+', 'COUNT', 64)
      if #batch == 0 then
        if cursor ~= '-' then redis.call('XTRIM', log, 'MAXLEN', 0) end
        break
      end
      local keep = nil
      for i = 1, #batch do
        if now < tonumber(batch[i][2][2]) + maxAge then keep = batch[i][1]; break end
      end
      if keep then
        if keep ~= batch[1][1] or cursor ~= '-' then redis.call('XTRIM', log, 'MINID', keep) end
        break
      end
      cursor = '(' .. batch[#batch][1]
    end
  end
  return epoch, top
end
local function entries(list)
  local out = {}
  for i = 1, #list do
    local id = list[i][1]
    out[#out + 1] = tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
    out[#out + 1] = list[i][2][2]
    out[#out + 1] = list[i][2][4]
  end
  return out
end
`;

// ARGV[5] = the data's JSON, ARGV[6] = maxPublications. Returns { epoch, offset }.
const APPEND = `${OPEN}
local epoch = open()
local top = redis.call('HINCRBY', meta, 't', 1)
redis.call('HSET', meta, 'a', ARGV[1])
redis.call('XADD', log, 'MAXLEN', ARGV[6], top .. '-0', 't', ARGV[1], 'd', ARGV[5])
if ttl >= 0 then
  redis.call('PEXPIRE', meta, ttl)
  redis.call('PEXPIRE', log, ttl)
end
return { epoch, top }
`;

// ARGV[5] = 'position' | 'latest' | 'since'. latest: ARGV[6] = n. since: ARGV[6] = the reader's epoch, ARGV[7]
// its offset (-1 when malformed), ARGV[8] the limit (-1: none). Returns { epoch, top, reset (0/1), then
// offset, time, data for each publication }.
const READ = `${OPEN}
local epoch, top = open()
local mode = ARGV[5]
if mode == 'position' then return { epoch, top, 0 } end
if mode == 'latest' then
  local n = tonumber(ARGV[6])
  if n == 0 then return { epoch, top, 0 } end
  local list = redis.call('XREVRANGE', log, '+', '-', 'COUNT', n)
  local out = { epoch, top, 0 }
  for i = #list, 1, -1 do
    local id = list[i][1]
    out[#out + 1] = tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
    out[#out + 1] = list[i][2][2]
    out[#out + 1] = list[i][2][4]
  end
  return out
end
local offset, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
if ARGV[6] ~= epoch or offset < 0 or offset > top then return { epoch, top, 1 } end
if offset == top then return { epoch, top, 0 } end
local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
local firstOffset = top + 1
if first then firstOffset = tonumber(string.sub(first[1], 1, string.find(first[1], '-', 1, true) - 1)) end
if offset + 1 < firstOffset then return { epoch, top, 1 } end
local list
if limit < 0 then list = redis.call('XRANGE', log, (offset + 1) .. '-0', '+')
else list = redis.call('XRANGE', log, (offset + 1) .. '-0', '+', 'COUNT', limit) end
local out = entries(list)
table.insert(out, 1, 0)
table.insert(out, 1, top)
table.insert(out, 1, epoch)
return out
`;

type Reply = [epoch: string, top: number, reset: number, ...rest: (number | string)[]];

interface HistoryCommands {
  switchboardHistoryAppend(meta: string, log: string, ...args: string[]): Promise<[string, number]>;
  switchboardHistoryRead(meta: string, log: string, ...args: string[]): Promise<Reply>;
}

function newEpoch(): string {
  return randomBytes(8).toString('base64url');
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/**
 * History shared by every node of a cluster, on Redis (6.2 or later). Each stream is two keys: a hash
 * with its epoch, its last offset and when it was last appended to, and a Redis stream of its held
 * publications (entry id `<offset>-0`, trimmed exactly to `maxPublications`). The keys of a stream share a
 * hash tag (`{stream}`), so they stay on one node of a Redis Cluster. Every call but `trim` and `remove` (one
 * command each) is one Lua script, so an
 * append writes epoch, offset and publication together, and reads see a consistent stream.
 *
 * Like `MemoryHistory`: a stream gets a new random epoch when it is first read or appended to, and when its
 * keys are gone (Redis restarted without persistence, or evicted them), so old positions reset instead of
 * pointing at other publications. Publications older than `maxAgeMs` (by `now`) are dropped when the stream
 * is next used; a stream not appended to for `maxAgeMs` ends (its epoch with it), and its keys carry a
 * `PEXPIRE` of `maxAgeMs` (real time) so that Redis frees an idle stream by itself. With `maxAgeMs:
 * Infinity` keys never expire.
 *
 * Calls reject while Redis cannot be reached (after ioredis's retries).
 *
 * @example
 * const history = new RedisHistory({ url: 'redis://redis.internal:6379', maxPublications: 100 });
 * const position = await history.append('channel:orders.eu', { event: 'created', data: { id: 7 } });
 */
export class RedisHistory implements History {
  private readonly maxPublications: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly prefix: string;
  private readonly client: Redis & HistoryCommands;
  private readonly owned: boolean;

  constructor(options: RedisHistoryOptions = {}) {
    this.maxPublications = options.maxPublications ?? HISTORY_DEFAULTS.maxPublications;
    this.maxAgeMs = options.maxAgeMs ?? HISTORY_DEFAULTS.maxAgeMs;
    this.now = options.now ?? Date.now;
    this.prefix = options.prefix ?? REDIS_DEFAULT_PREFIX;
    if (!Number.isSafeInteger(this.maxPublications) || this.maxPublications < 1) {
      throw new RangeError(`maxPublications must be a positive integer, got ${this.maxPublications}`);
    }
    if (!(this.maxAgeMs > 0)) throw new RangeError(`maxAgeMs must be a positive number, got ${this.maxAgeMs}`);
    this.owned = options.client === undefined;
    const redisOptions: RedisOptions = { connectionName: 'switchboard-history', ...options.redis };
    const client = options.client ?? (options.url === undefined ? new Redis(redisOptions) : new Redis(options.url, redisOptions));
    if (this.owned) client.on('error', () => {}); // calls reject with the error; the event would only be logged
    // defineCommand runs EVALSHA and falls back to EVAL when Redis lost its script cache (a restart).
    client.defineCommand('switchboardHistoryAppend', { numberOfKeys: 2, lua: APPEND });
    client.defineCommand('switchboardHistoryRead', { numberOfKeys: 2, lua: READ });
    this.client = client as Redis & HistoryCommands;
  }

  async append(stream: string, data: unknown): Promise<StreamPosition> {
    const [meta, log] = this.keys(stream);
    const [epoch, offset] = await this.client.switchboardHistoryAppend(
      meta,
      log,
      ...this.common(),
      JSON.stringify(data) ?? 'null',
      String(this.maxPublications),
    );
    return { epoch, offset };
  }

  async since(stream: string, position: StreamPosition, options: { limit?: number } = {}): Promise<StreamPage | StreamReset> {
    const limit = options.limit ?? Infinity;
    if (limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 1)) {
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    }
    // Never trusted: anything but a string epoch and a safe non-negative integer offset resets.
    const epoch = typeof position?.epoch === 'string' ? position.epoch : '';
    const offset = typeof position?.offset === 'number' && isCount(position.offset) ? String(position.offset) : '-1';
    const reply = await this.read(stream, 'since', epoch, offset, limit === Infinity ? '-1' : String(limit));
    const current = { epoch: reply[0], offset: reply[1] };
    if (reply[2] === 1) return { reset: true, position: current };
    const publications = decode(reply);
    const last = publications.at(-1);
    return { reset: false, publications, position: last === undefined ? current : { epoch: current.epoch, offset: last.offset } };
  }

  async latest(stream: string, n: number): Promise<StreamPage> {
    if (!isCount(n)) throw new RangeError(`n must be a non-negative integer, got ${n}`);
    const reply = await this.read(stream, 'latest', String(n));
    return { reset: false, publications: decode(reply), position: { epoch: reply[0], offset: reply[1] } };
  }

  async position(stream: string): Promise<StreamPosition> {
    const reply = await this.read(stream, 'position');
    return { epoch: reply[0], offset: reply[1] };
  }

  async trim(stream: string, keep: number): Promise<void> {
    if (!isCount(keep)) throw new RangeError(`keep must be a non-negative integer, got ${keep}`);
    // XTRIM leaves a missing key missing; exact trimming, so what stays is what `keep` says.
    await this.client.xtrim(this.keys(stream)[1], 'MAXLEN', keep);
  }

  async remove(stream: string): Promise<boolean> {
    // The log never outlives its hash (an append writes both with the same TTL), so any key deleted means held.
    return (await this.client.del(...this.keys(stream))) > 0;
  }

  /** Closes the connection (unless it was given as `client`). */
  async close(): Promise<void> {
    if (this.owned) await quit(this.client);
  }

  /** The hash and the Redis stream of a stream, with one hash tag so that Redis Cluster keeps them together. */
  private keys(stream: string): [string, string] {
    const meta = `${this.prefix}history:{${stream}}`;
    return [meta, `${meta}:log`];
  }

  /** now, maxAgeMs (-1: none), a new epoch in case the stream is (re)created, the keys' TTL (-1: none). */
  private common(): string[] {
    const finite = Number.isFinite(this.maxAgeMs);
    return [String(this.now()), finite ? String(this.maxAgeMs) : '-1', newEpoch(), finite ? String(Math.ceil(this.maxAgeMs)) : '-1'];
  }

  private read(stream: string, ...args: string[]): Promise<Reply> {
    const [meta, log] = this.keys(stream);
    return this.client.switchboardHistoryRead(meta, log, ...this.common(), ...args);
  }
}

function decode(reply: Reply): StreamPublication[] {
  const publications: StreamPublication[] = [];
  for (let i = 3; i + 2 < reply.length; i += 3) {
    publications.push({ offset: Number(reply[i]), time: Number(reply[i + 1]), data: JSON.parse(String(reply[i + 2])) as unknown });
  }
  return publications;
}
