// The bench plug and global hooks every Switchboard server of the bench runs: the single process of
// servers/switchboard.ts and each worker of servers/cluster-worker.ts (scenario 8), so both are the same application.
import { defineResource, definePlug, MessageError, z, type Hooks, type ServerOptions } from '@switchboard/server';

export const tick = z.object({ seq: z.number().int().nonnegative(), t: z.number().nonnegative(), text: z.string().max(1024) });

/** Channels are landing separately; until then the server has no `publish`. */
interface Publisher {
  publish(channel: string, event: string, data?: unknown): void;
}

export function publisherOf(api: unknown): Publisher | undefined {
  return typeof (api as Partial<Publisher>).publish === 'function' ? (api as Publisher) : undefined;
}

// Live data (scenario 5): one resource; `bench.live` patches the `tick` field of one of its records, so every
// `$live.op` carries the writer's seq and timestamp the way a channel message does. Seeded over IPC (`live.seed`),
// so the other scenarios run with it empty.
export const TEXT = 'hello from the switchboard benchmark';
const items = defineResource({
  key: 'id',
  description: 'Records the bench patches: scenario 5',
  schema: z.object({ id: z.string(), n: z.number().int(), text: z.string().max(1024), tick }),
  access: { read: 'public', write: 'public' },
});
/** Live-data state: the keys `bench.live` writes to, in turn (seq modulo their count), and writes that failed. */
export const live = { keys: [] as string[], failures: { count: 0, first: '' } };
function liveFailed(error: unknown): void {
  live.failures.count++;
  live.failures.first ||= (error as Error).message;
}

export const bench = definePlug({
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
        if (live.keys.length === 0) throw new MessageError('bench_unsupported', 'no records seeded: call live.seed first');
        // A memory resource applies and fans out the write synchronously, inside this call, as publish() does for a
        // channel; its promise is not returned, so the message does not wait for a microtask (see docs/performance.md).
        ctx.resources.items.patch(live.keys[data.seq % live.keys.length]!, [{ op: 'replace', path: '/tick', value: data }]).catch(liveFailed);
      },
    },
  },
});

// A global hook pair as an application would have (an allow-list check, a counter): part of what is measured.
/** What the global `afterHandle` hook counted: messages handled, and of those failed. */
export const counters = { handled: 0, failed: 0 };
export const hooks: Hooks = {
  // Protocol messages ($subscribe, $ping) pass global hooks too (plug '$protocol'); the allow-list lets them by.
  beforeHandle: (message) => (message.plug === 'bench' || message.plug === '$protocol' ? undefined : { reject: 'this server only serves the bench plug' }),
  afterHandle: (_message, outcome) => {
    counters.handled++;
    if (!outcome.ok) counters.failed++;
  },
};

/**
 * The limits of every bench server: the load is far above the default 200 messages/s per connection, and every
 * load connection comes from 127.0.0.1, which the per-address limits would see as one flooding client. The limiter
 * and the per-address bucket still run on every message (1e9, not 0), so their cost is measured.
 */
export const BENCH_LIMITS: ServerOptions['limits'] = {
  rateLimit: { messagesPerSecond: 1e9, burst: 1e9 },
  perAddress: { connectionsPerSecond: 0, messagesPerSecond: 1e9, burst: 1e9 },
};

/** Channels need grants: every connection may call and subscribe. */
export const BENCH_AUTH: ServerOptions['auth'] = { defaultGrants: ['call:*', 'subscribe:*'] };

/** Scenario 8: the channels `bench-h…` keep history (the others do not, as by default). */
export const BENCH_HISTORY_CHANNELS: ServerOptions['channels'] = { history: { channels: ['bench-h*'] } };
