// Server-under-test child: a Switchboard server with the bench plug (and its one resource), a global beforeHandle and
// afterHandle hook and its always-on metrics, driven over IPC by bench/run.ts.
import { createServer, defineResource, definePlug, MessageError, z, type Hooks, type ServerOptions, type SwitchboardServer } from '@switchboard/server';
import { serveCommands } from '../lib/ipc.ts';
import { nowUs } from '../lib/lite-ws.ts';
import { usage } from './control.ts';

// The bench measures the server, not its log: only errors are printed (to this process's stdout).
process.env.SWITCHBOARD_LOG_LEVEL ??= 'error';

const tick = z.object({ seq: z.number().int().nonnegative(), t: z.number().nonnegative(), text: z.string().max(1024) });

/** Channels are landing separately; until then the server has no `publish`. */
interface Publisher {
  publish(channel: string, event: string, data?: unknown): void;
}

function publisherOf(api: unknown): Publisher | undefined {
  return typeof (api as Partial<Publisher>).publish === 'function' ? (api as Publisher) : undefined;
}

// Live data (scenario 5): one resource; `bench.live` patches the `tick` field of one of its records, so every
// `$live.op` carries the writer's seq and timestamp the way a channel message does. Seeded over IPC (`live.seed`),
// so the other scenarios run with it empty.
const TEXT = 'hello from the switchboard benchmark';
const items = defineResource({
  key: 'id',
  description: 'Records the bench patches: scenario 5',
  schema: z.object({ id: z.string(), n: z.number().int(), text: z.string().max(1024), tick }),
  access: { read: 'public', write: 'public' },
});
/** The keys `bench.live` writes to, in turn (seq modulo their count). */
let liveKeys: string[] = [];
const liveFailures = { count: 0, first: '' };
function liveFailed(error: unknown): void {
  liveFailures.count++;
  liveFailures.first ||= (error as Error).message;
}

const bench = definePlug({
  name: 'bench',
  resources: { items },
  messages: {
    'bench.echo': {
      input: z.object({ seq: z.number().int(), text: z.string().max(1024) }),
      description: 'Replies with its payload: request/reply through the whole pipeline',
      handler: (data) => data,
    },
    'bench.broadcast': {
      input: tick,
      description: 'Broadcasts the payload to every other connection as bench.tick',
      handler(data, ctx) {
        ctx.server.broadcast('bench.tick', data, { except: ctx.connection });
      },
    },
    'bench.publish': {
      // `pad` (scenario 5) makes a channel message as large on the wire as a `$live.op` carrying the same tick.
      input: tick.extend({ channel: z.string().optional(), spread: z.number().int().min(1).max(1000).optional(), pad: z.string().max(1024).optional() }),
      description: 'Publishes the payload to one channel, or to bench-0 … bench-(spread-1)',
      handler({ channel, spread, ...data }, ctx) {
        const publisher = publisherOf(ctx.server);
        if (!publisher) throw new MessageError('bench_unsupported', 'this server has no publish()');
        if (channel !== undefined) publisher.publish(channel, 'tick', data);
        for (let i = 0; i < (spread ?? 0); i++) publisher.publish(`bench-${i}`, 'tick', data);
      },
    },
    'bench.live': {
      input: tick,
      description: 'Patches /tick of record (seq mod records) of the items resource: one operation to every subscriber',
      handler(data, ctx) {
        if (liveKeys.length === 0) throw new MessageError('bench_unsupported', 'no records seeded: call live.seed first');
        // A memory resource applies and fans out the write synchronously, inside this call, as publish() does for a
        // channel; its promise is not returned, so the message does not wait for a microtask (see docs/performance.md).
        ctx.resources.items.patch(liveKeys[data.seq % liveKeys.length]!, [{ op: 'replace', path: '/tick', value: data }]).catch(liveFailed);
      },
    },
  },
});

// A global hook pair as an application would have (an allow-list check, a counter): part of what is measured.
let handled = 0;
let failed = 0;
const hooks: Hooks = {
  // Protocol messages ($subscribe, $ping) pass global hooks too (plug '$protocol'); the allow-list lets them by.
  beforeHandle: (message) => (message.plug === 'bench' || message.plug === '$protocol' ? undefined : { reject: 'this server only serves the bench plug' }),
  afterHandle: (_message, outcome) => {
    handled++;
    if (!outcome.ok) failed++;
  },
};

const base: ServerOptions = {
  host: '127.0.0.1',
  port: 0,
  plugs: [bench],
  hooks,
  limits: {
    // The load is far above the default 200 messages/s per connection; the limiter still runs on every message.
    rateLimit: { messagesPerSecond: 1e9, burst: 1e9 },
    // Every load connection comes from 127.0.0.1: the per-address limits would see one flooding client.
    // The bucket still runs on every message (1e9, not 0), so its cost is measured.
    perAddress: { connectionsPerSecond: 0, messagesPerSecond: 1e9, burst: 1e9 },
  },
};

// Channels need grants; a server from before authentication existed may refuse the option.
let server: SwitchboardServer;
let auth: string;
try {
  const withAuth = { ...base, auth: { defaultGrants: ['call:*', 'subscribe:*'] } };
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
serveCommands(
  {
    usage,
    stats: () => ({ connections: server.connectionCount, handled, failed, closes, liveFailures, metrics: server.metrics() }),
    /** Creates `records` records in `items` (once), and makes `bench.live` write to them. */
    async 'live.seed'(args: { records: number }) {
      const handle = server.resource('items');
      if (handle.size === 0) {
        for (let i = 0; i < args.records; i++) await handle.create({ id: `r-${i}`, n: i, text: TEXT, tick: { seq: 0, t: 0, text: TEXT } });
      }
      liveKeys = handle.list().map((record) => record.key);
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
        writes.push(handle.patch(liveKeys[seq % liveKeys.length]!, [{ op: 'replace', path: '/tick', value: { seq, t: nowUs(), text: TEXT } }]));
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
    features: { channels: publisherOf(server) !== undefined },
  },
);
