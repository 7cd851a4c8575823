// Server-under-test child: a Switchboard server with the bench plug (and its one resource), a global beforeHandle and
// afterHandle hook and its always-on metrics, driven over IPC by bench/run.ts. Three variants, chosen by the parent
// through the environment: SB_BENCH_ROOMS=1 adds the room kinds of scenario 6 (rooms-plug.ts),
// SB_BENCH_STORE=discard, sqlite:<file> or postgres:<url> records into a store with the audit on (scenario 7; the
// `audit` options are the defaults, or the JSON object SB_BENCH_AUDIT, passed on from the bench's environment), and
// SB_BENCH_REDIS=<url> makes it a node of a cluster on Redis (RedisBus, RedisHistory, RedisPresence under the key
// prefix SB_BENCH_REDIS_PREFIX; its node name SB_BENCH_NODE): scenario 8, which also sets SB_BENCH_HISTORY=1 (the
// channels bench-h… keep history) on its nodes.
import {
  createServer,
  MemoryStore,
  SqliteStore,
  type AuditEntry,
  type Bus,
  type ServerOptions,
  type Store,
  type SwitchboardServer,
} from '@switchboard/server';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { serveCommands } from '../lib/ipc.ts';
import { nowUs } from '../lib/lite-ws.ts';
import { bench, BENCH_AUTH, BENCH_HISTORY_CHANNELS, BENCH_LIMITS, counters, hooks, live, publisherOf, TEXT } from './bench-plug.ts';
import { usage } from './control.ts';
import benchRooms from './rooms-plug.ts';

// The bench measures the server, not its log: only errors are printed (to this process's stdout).
process.env.SWITCHBOARD_LOG_LEVEL ??= 'error';

// Scenario 6: the room kinds, and room limits above what 10,000 empty instances and 4,000 members need.
const withRooms = process.env.SB_BENCH_ROOMS === '1';
/**
 * Scenario 7's store that keeps nothing: it checks and counts audit records and drops them, so that the recorder's
 * own cost (the tap, the queue, redaction, batching) is measured apart from any database's.
 */
class DiscardStore extends MemoryStore {
  readonly counted = new Map<string, { type: string; messageType: string | null; rows: number; replied: number }>();

  override async appendAudit(entries: readonly AuditEntry[]): Promise<void> {
    for (const entry of entries) {
      if (typeof entry.type !== 'string' || entry.type.length === 0) throw new TypeError('an audit entry needs a non-empty type');
      const key = `${entry.type}\n${entry.messageType ?? ''}`;
      const row = this.counted.get(key);
      const replied = entry.reply === undefined ? 0 : 1;
      if (row) {
        row.rows++;
        row.replied += replied;
      } else this.counted.set(key, { type: entry.type, messageType: entry.messageType ?? null, rows: 1, replied });
    }
  }
}

// Scenario 7: a store, and with it the audit (on by default when a store is set).
const storeSpec = process.env.SB_BENCH_STORE ?? '';
let store: Store | undefined;
let storeKind: 'discard' | 'sqlite' | 'postgres' | undefined;
if (storeSpec === 'discard') {
  storeKind = 'discard';
  store = new DiscardStore();
} else if (storeSpec.startsWith('sqlite:')) {
  storeKind = 'sqlite';
  store = new SqliteStore({ file: storeSpec.slice('sqlite:'.length) });
} else if (storeSpec.startsWith('postgres:')) {
  storeKind = 'postgres';
  // Imported only here: the other scenarios never load the driver.
  const { PostgresStore } = await import('@switchboard/postgres');
  store = new PostgresStore({ url: storeSpec.slice('postgres:'.length) });
} else if (storeSpec !== '') throw new Error(`SB_BENCH_STORE must be discard, sqlite:<file> or postgres:<url>, got ${storeSpec}`);

// Scenario 8: a node of a cluster on Redis. Imported only here: the other scenarios never load the driver.
const redisUrl = process.env.SB_BENCH_REDIS ?? '';
let redisOptions: Pick<ServerOptions, 'node' | 'bus' | 'history' | 'presence'> = {};
let redisBus: (Bus & { settled(): Promise<void>; dropped: number }) | undefined;
if (redisUrl !== '') {
  const { RedisBus, RedisHistory, RedisPresence } = await import('@switchboard/redis');
  const prefix = process.env.SB_BENCH_REDIS_PREFIX ?? 'bench:';
  const bus = new RedisBus({ url: redisUrl, prefix });
  await bus.ready();
  redisBus = bus;
  redisOptions = {
    node: process.env.SB_BENCH_NODE ?? `bench-${process.pid}`,
    bus,
    history: new RedisHistory({ url: redisUrl, prefix }),
    presence: new RedisPresence({ url: redisUrl, prefix }),
  };
}

const base: ServerOptions = {
  host: '127.0.0.1',
  port: 0,
  plugs: withRooms ? [bench, benchRooms] : [bench],
  ...(withRooms ? { rooms: { maxInstances: 50_000 } } : {}),
  ...(store ? { store, node: 'bench' } : {}),
  ...(store && process.env.SB_BENCH_AUDIT ? { audit: JSON.parse(process.env.SB_BENCH_AUDIT) as ServerOptions['audit'] } : {}),
  ...redisOptions,
  ...(process.env.SB_BENCH_HISTORY === '1' ? { channels: BENCH_HISTORY_CHANNELS } : {}),
  hooks,
  // Far above the defaults; the limiter and the per-address bucket still run on every message (bench-plug.ts).
  limits: BENCH_LIMITS,
};

// Channels need grants; a server from before authentication existed may refuse the option.
let server: SwitchboardServer;
let auth: string;
try {
  const withAuth = { ...base, auth: BENCH_AUTH };
  server = createServer(withAuth as ServerOptions);
  auth = "auth: { defaultGrants: ['call:*', 'subscribe:*'] } (accepted by createServer)";
} catch (error) {
  auth = `no auth option (${(error as Error).message})`;
  server = createServer(base);
}

const closes: Record<string, number> = {};
server.events.on('close', (_connection, code) => {
  closes[code] = (closes[code] ?? 0) + 1;
});

const info = await server.listen();

/** The recorder's counts, as `/admin/metrics` shows them (loopback needs no token). */
async function auditStats(): Promise<AuditStats | undefined> {
  const response = await fetch(`http://127.0.0.1:${info.port}${server.options.adminPath}/metrics`);
  const body = (await response.json()) as { audit?: AuditStats };
  return body.audit;
}

interface AuditStats {
  recorded: number;
  written: number;
  spooled: number;
  replayed: number;
  dropped: number;
  failures: number;
  queued: number;
  spoolBytes: number;
  storeAvailable: boolean;
}

/** Audit rows in the store, by record type and message type, counted with a connection of our own. */
async function auditRows(): Promise<{ type: string; messageType: string | null; rows: number; replied: number }[]> {
  if (store instanceof DiscardStore) return [...store.counted.values()];
  if (storeKind === 'sqlite') {
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(storeSpec.slice('sqlite:'.length), { readOnly: true });
    try {
      const rows = db.prepare('SELECT type, message_type AS messageType, COUNT(*) AS rows, COUNT(reply_at) AS replied FROM audit GROUP BY type, message_type').all();
      return rows.map((row) => ({ type: String(row.type), messageType: row.messageType === null ? null : String(row.messageType), rows: Number(row.rows), replied: Number(row.replied) }));
    } finally {
      db.close();
    }
  }
  if (storeKind === 'postgres') {
    const { default: postgres } = await import('postgres');
    const sql = postgres(storeSpec.slice('postgres:'.length), { max: 1, onnotice: () => {} });
    try {
      const rows = await sql<{ type: string; message_type: string | null; rows: number; replied: number }[]>`
        SELECT type, message_type, COUNT(*)::int AS rows, COUNT(reply_at)::int AS replied FROM switchboard_audit GROUP BY type, message_type`;
      return rows.map((row) => ({ type: row.type, messageType: row.message_type, rows: row.rows, replied: row.replied }));
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
  return [];
}

// The event loop's delay, sampled every 5 ms once a scenario asks for it (6 and 7; the others run without the
// timer): what a latency tail owes to the server's turns being long. The histogram holds the whole interval
// between two ticks; what is beyond the 5 ms is the delay.
const LOOP_RESOLUTION_MS = 5;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
const beyond = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);

serveCommands(
  {
    usage,
    'eventLoop.reset'() {
      loopDelay.enable();
      loopDelay.reset();
    },
    /** Since the last reset, in ms: the delay's p50, p99 and max (beyond the 5 ms sampling interval). */
    'eventLoop.read': () => ({ p50Ms: beyond(loopDelay.percentile(50)), p99Ms: beyond(loopDelay.percentile(99)), maxMs: beyond(loopDelay.max) }),
    /** Creates `count` instances of a room kind one after another; with `times`, how long each create took. */
    async 'rooms.create'(args: { kind: string; count: number; ids?: boolean; times?: boolean }) {
      const ids: string[] = [];
      const times: number[] = [];
      const started = performance.now();
      for (let i = 0; i < args.count; i++) {
        const t0 = performance.now();
        const room = await server.createRoom(args.kind);
        if (args.times) times.push(performance.now() - t0);
        if (args.ids) ids.push(room.id);
      }
      return { ms: performance.now() - started, ids, times, instances: server.rooms().length };
    },
    /** The instances of one kind: members, restarts. */
    'rooms.list': (args: { kind: string }) =>
      server
        .rooms()
        .filter((room) => room.kind === args.kind)
        .map((room) => ({ id: room.id, members: room.members.length, restarts: room.restarts, isolation: room.isolation })),
    'audit.stats': () => auditStats(),
    /** Waits until the recorder has written everything queued (queue empty, written count still), at most `timeoutMs`. */
    async 'audit.settle'(args: { timeoutMs: number }) {
      const started = performance.now();
      let last = await auditStats();
      while (performance.now() - started < args.timeoutMs) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const now = await auditStats();
        if (now && last && now.queued === 0 && now.written === last.written) return { ms: performance.now() - started, settled: true, stats: now };
        last = now;
      }
      return { ms: performance.now() - started, settled: false, stats: last };
    },
    'audit.rows': () => auditRows(),
    stats: () => ({ connections: server.connectionCount, handled: counters.handled, failed: counters.failed, closes, liveFailures: live.failures, metrics: server.metrics() }),
    /** Resolves once the Redis bus has every subscription acknowledged (scenario 8; at once without Redis). */
    async 'bus.settled'() {
      await redisBus?.settled();
      return { dropped: redisBus?.dropped ?? 0 };
    },
    /** Creates `records` records in `items` (once), and makes `bench.live` write to them. */
    async 'live.seed'(args: { records: number }) {
      const handle = server.resource('items');
      if (handle.size === 0) {
        for (let i = 0; i < args.records; i++) await handle.create({ id: `r-${i}`, n: i, text: TEXT, tick: { seq: 0, t: 0, text: TEXT } });
      }
      live.keys = handle.list().map((record) => record.key);
      return { records: handle.size, position: handle.position };
    },
    'live.records': () => server.resource('items').list().map(({ key, value }) => ({ key, value })),
    /** Applies `count` patches through the plug API, as `bench.live` does: the operations a recovering client missed. */
    async 'live.write'(args: { count: number; seqStart: number }) {
      const handle = server.resource('items');
      const started = performance.now();
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < args.count; i++) {
        const seq = args.seqStart + i;
        writes.push(handle.patch(live.keys[seq % live.keys.length]!, [{ op: 'replace', path: '/tick', value: { seq, t: nowUs(), text: TEXT } }]));
      }
      await Promise.all(writes);
      return { position: handle.position, ms: performance.now() - started };
    },
    exit: () => server.close({ timeoutMs: 1000 }),
  },
  {
    port: info.port,
    path: server.options.path,
    kind: 'switchboard',
    node: process.version,
    greeting: true,
    auth,
    features: { channels: publisherOf(server) !== undefined, rooms: withRooms, store: storeKind ?? null, redis: redisUrl !== '' },
    clusterNode: server.options.node ?? null,
  },
);
