// Server-under-test child: a Switchboard server with the bench plug, a global beforeHandle and afterHandle hook and
// its always-on metrics, driven over IPC by bench/run.ts.
import { createServer, definePlug, MessageError, z, type Hooks, type ServerOptions, type SwitchboardServer } from '@switchboard/server';
import { serveCommands } from '../lib/ipc.ts';
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

const bench = definePlug({
  name: 'bench',
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
      input: tick.extend({ channel: z.string().optional(), spread: z.number().int().min(1).max(1000).optional() }),
      description: 'Publishes the payload to one channel, or to bench-0 … bench-(spread-1)',
      handler({ channel, spread, ...data }, ctx) {
        const publisher = publisherOf(ctx.server);
        if (!publisher) throw new MessageError('bench_unsupported', 'this server has no publish()');
        if (channel !== undefined) publisher.publish(channel, 'tick', data);
        for (let i = 0; i < (spread ?? 0); i++) publisher.publish(`bench-${i}`, 'tick', data);
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
    stats: () => ({ connections: server.connectionCount, handled, failed, closes, metrics: server.metrics() }),
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
