// Prometheus metrics at `metricsPath` (default `/metrics`), in the text exposition format, with prom-client.
//
// Each server has its own prom-client `Registry` (never prom-client's global one), so several servers in one
// process (tests) never clash and an application's own use of the global registry is left alone. Nothing here
// runs on the message path: the message path records into `Metrics` (plain fields, see metrics.ts), and every
// metric below reads its value when scraped — gauges and counters through prom-client's `collect()`, the
// histograms through a small collector that hands the registry buckets that were counted already.
//
// Process metrics (CPU, memory, GC, handles, event-loop lag: prom-client's `collectDefaultMetrics`) are one
// set per process, kept in one registry of their own and appended to every server's output. Per server they
// would be wrong twice: they describe the process, not the server, and each `collectDefaultMetrics` call
// starts an event-loop delay monitor and a GC observer that are never stopped.
//
// prom-client is imported when the server starts listening (`load()`, not awaited) rather than with the
// server's modules: it takes 60–150 ms to load (its push gateway pulls in `https`, its exemplars
// OpenTelemetry), which would otherwise delay every start, metrics scraped or not.
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metric, Registry } from 'prom-client';
import type { ServerEvents } from '../api.ts';
import type { ChannelInfo } from '../api.ts';
import { BUCKETS_MS, SIZE_BUCKETS, type Metrics, type SizeHistogram } from '../metrics.ts';
import type { ResourceInfo } from '../resource/define.ts';
import type { RoomInfo } from '../room/define.ts';

/** What the Prometheus endpoint reads when scraped; `server.ts` hands it over. */
export interface PrometheusSources {
  metrics: Metrics;
  connectionsOpen(): number;
  inFlight(): number;
  channels(): readonly ChannelInfo[];
  resources(): readonly ResourceInfo[];
  rooms(): readonly RoomInfo[];
  /** `rooms.counts`: instances that ended, failed, and the restarts of those that ended. */
  roomCounts: { readonly failed: number; readonly restarts: number };
  faults(): { total: number; stalls: number };
  /** The recorder, when the server has a store: its queue, spool and counts. */
  audit?(): { queued: number; spoolBytes: number; storeAvailable: boolean; written: number; replayed: number; dropped: number; failures: number } | undefined;
  /** Whether the cluster bus delivers across nodes now; undefined without one. */
  busConnected?(): boolean | undefined;
  /** The server's events: plug loads, swaps, removals and rejections are counted from them. */
  events: EventEmitter<ServerEvents>;
}

/** How a label set and a value are handed to the registry (prom-client's `MetricValueWithName`). */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * A histogram whose buckets are counted elsewhere (by `Metrics`, on the message path): it implements the part
 * of prom-client's metric contract the registry uses (`name`, `help`, `type`, `get()`), so the registry
 * formats it like any of its own histograms.
 */
class CountedHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly name: string;
  readonly help: string;
  private readonly bounds: readonly number[];
  private readonly read: () => Iterable<{ labels: Record<string, string>; buckets: readonly number[]; sum: number; count: number }>;

  /**
   * `bounds` are the buckets' upper bounds in the unit exported (the last one `Infinity`); `read` yields each
   * series with its per-bucket counts (not cumulative), in the same order.
   */
  constructor(registry: Registry, config: { name: string; help: string; bounds: readonly number[]; read: CountedHistogram['read'] }) {
    this.name = config.name;
    this.help = config.help;
    this.bounds = config.bounds;
    this.read = config.read;
    registry.registerMetric(this as unknown as Metric);
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const values: Sample[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.read()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += series.buckets[i]!;
        const bound = this.bounds[i]!;
        values.push({ labels: { ...series.labels, le: bound === Infinity ? '+Inf' : bound }, value: cumulative, metricName: bucketName });
      }
      values.push({ labels: series.labels, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: series.labels, value: series.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** `registry.resetMetrics()`: nothing to reset here, the counts belong to `Metrics`. */
  reset(): void {}
}

type PromClient = typeof import('prom-client');
type Read = () => Iterable<[Record<string, string>, number]>;

/** A counter whose value is read when scraped: `read` yields each label set with its running total. */
function counterOf({ Counter }: PromClient, registry: Registry, name: string, help: string, labelNames: string[], read: Read): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

/** A gauge whose value is read when scraped, as in `counter`. */
function gaugeOf({ Gauge }: PromClient, registry: Registry, name: string, help: string, labelNames: string[], read: Read): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

const NO_LABELS: Record<string, string> = {};
const one = (value: number): Iterable<[Record<string, string>, number]> => [[NO_LABELS, value]];

let processRegistry: Registry | undefined;

/**
 * The process metrics, once per process whatever the number of servers: started with the first server that
 * has metrics on and listens, so that the first scrape already has event-loop and GC figures.
 */
function processMetrics(client: PromClient): Registry {
  if (processRegistry === undefined) {
    processRegistry = new client.Registry();
    client.collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** What a plug swap was, as the `event` label of `switchboard_plug_swaps_total`. */
type SwapEvent = 'loaded' | 'swapped' | 'removed' | 'rejected';

/**
 * One server's Prometheus registry and endpoint. See docs/configuration.md#prometheus-metrics for every metric.
 *
 * @example
 * const prometheus = new Prometheus({ metrics, connectionsOpen: () => lifecycle.byId.size, ... });
 * void prometheus.load(); // when the server starts listening
 * const { text } = await prometheus.render(); // the exposition text
 */
export class Prometheus {
  private readonly sources: PrometheusSources;
  private readonly swaps: Record<SwapEvent, number> = { loaded: 0, swapped: 0, removed: 0, rejected: 0 };
  private loading: Promise<{ registry: Registry; shared: Registry }> | undefined;

  constructor(sources: PrometheusSources) {
    this.sources = sources;
    const swaps = this.swaps;
    // Counted from the start, whenever prom-client is loaded.
    sources.events.on('plug:loaded', (info) => void swaps[info.previousVersion === undefined ? 'loaded' : 'swapped']++);
    sources.events.on('plug:unloaded', () => void swaps.removed++);
    sources.events.on('plug:rejected', () => void swaps.rejected++);
  }

  /**
   * Loads prom-client and builds this server's registry (once); the process metrics start then. The server
   * calls it when it starts listening, without waiting; a scrape waits for it.
   */
  load(): Promise<{ registry: Registry; shared: Registry }> {
    return (this.loading ??= import('prom-client').then((client) => {
      const registry = new client.Registry();
      this.define(client, registry);
      return { registry, shared: processMetrics(client) };
    }));
  }

  /** Every metric of the server, in `registry`. */
  private define(client: PromClient, registry: Registry): void {
    const sources = this.sources;
    const { metrics } = sources;
    const swaps = this.swaps;
    const counter = (name: string, help: string, labelNames: string[], read: Read) => counterOf(client, registry, name, help, labelNames, read);
    const gauge = (name: string, help: string, labelNames: string[], read: Read) => gaugeOf(client, registry, name, help, labelNames, read);

    // ---------------------------------------------------------------- connections
    gauge('switchboard_connections_open', 'WebSocket connections open now.', [], () => one(sources.connectionsOpen()));
    counter('switchboard_connections_opened_total', 'WebSocket connections accepted since the server started.', [], () => one(metrics.connectionsOpened));
    counter('switchboard_connections_closed_total', 'WebSocket connections closed since the server started.', [], () => one(metrics.connectionsClosed));
    gauge('switchboard_requests_in_flight', 'Messages whose handler (or hook) is still running.', [], () => one(sources.inFlight()));

    // ---------------------------------------------------------------- messages, by type (bounded: see metrics.ts)
    counter('switchboard_messages_total', 'Messages received (direction="in") and sent (direction="out"), by message type.', ['direction', 'type'], function* () {
      for (const [type, stats] of metrics.entries()) {
        if (stats.inbound.count > 0) yield [{ direction: 'in', type }, stats.inbound.count];
        if (stats.outbound.count > 0) yield [{ direction: 'out', type }, stats.outbound.count];
      }
    });
    counter('switchboard_message_bytes_total', 'Payload bytes received and sent, by direction and message type.', ['direction', 'type'], function* () {
      for (const [type, stats] of metrics.entries()) {
        if (stats.inbound.count > 0) yield [{ direction: 'in', type }, stats.inbound.bytes];
        if (stats.outbound.count > 0) yield [{ direction: 'out', type }, stats.outbound.bytes];
      }
    });
    const sizes = (direction: 'in' | 'out', histogram: SizeHistogram) => ({ labels: { direction }, buckets: histogram.buckets, sum: histogram.sum, count: histogram.count });
    new CountedHistogram(registry, {
      name: 'switchboard_message_size_bytes',
      help: 'Payload size of the messages received and sent, by direction.',
      bounds: SIZE_BUCKETS,
      read: () => [sizes('in', metrics.sizes.inbound), sizes('out', metrics.sizes.outbound)],
    });
    const secondsBounds = BUCKETS_MS.map((ms) => (ms === Infinity ? ms : ms / 1000));
    new CountedHistogram(registry, {
      name: 'switchboard_handler_duration_seconds',
      help: 'How long handlers (plug and protocol) took, by message type; async handlers until they settled.',
      bounds: secondsBounds,
      read: function* () {
        for (const [type, stats] of metrics.entries()) {
          if (stats.handled > 0) yield { labels: { type }, buckets: stats.buckets, sum: stats.totalMs / 1000, count: stats.handled };
        }
      },
    });
    counter('switchboard_handler_errors_total', 'Handlers that threw, rejected or timed out, by message type.', ['type'], function* () {
      for (const [type, stats] of metrics.entries()) if (stats.errors > 0) yield [{ type }, stats.errors];
    });
    counter('switchboard_errors_total', 'Errors sent to clients (error replies and $error pushes), by protocol error code.', ['code'], function* () {
      for (const [code, count] of metrics.errors) yield [{ code }, count];
    });

    // ---------------------------------------------------------------- channels, resources, rooms
    gauge('switchboard_channels', 'Channels with at least one subscriber on this node.', [], () => one(sources.channels().filter((channel) => channel.subscribers > 0).length));
    gauge('switchboard_resource_records', 'Records a resource holds, by resource.', ['resource'], function* () {
      for (const resource of sources.resources()) yield [{ resource: resource.name }, resource.records];
    });
    gauge('switchboard_resource_subscribers', 'Subscriptions to a resource (all its views) on this node, by resource.', ['resource'], function* () {
      for (const resource of sources.resources()) yield [{ resource: resource.name }, resource.subscribers];
    });
    gauge('switchboard_rooms', 'Room instances running.', [], () => one(sources.rooms().length));
    counter('switchboard_room_restarts_total', 'Room instances restarted from their last good state after a fault.', [], () => {
      let live = 0;
      for (const room of sources.rooms()) live += room.restarts;
      return one(sources.roomCounts.restarts + live);
    });
    counter('switchboard_room_failures_total', 'Room instances stopped for good: past their restart limit.', [], () => one(sources.roomCounts.failed));

    // ---------------------------------------------------------------- records
    gauge('switchboard_audit_queue', 'Audit and connection records waiting in memory to be written.', [], () => one(sources.audit?.()?.queued ?? 0));
    gauge('switchboard_audit_spool_bytes', 'Bytes in the audit spool file (records waiting while the store is unavailable).', [], () => one(sources.audit?.()?.spoolBytes ?? 0));
    gauge('switchboard_bus_connected', '1 while the cluster bus delivers across nodes, 0 while it is down (absent without a cluster bus).', [], () =>
      sources.busConnected?.() === undefined ? [] : one(sources.busConnected() ? 1 : 0),
    );
    gauge('switchboard_store_available', '1 while the store accepts writes, 0 while records go to the spool.', [], () => one(sources.audit?.()?.storeAvailable === false ? 0 : 1));
    counter('switchboard_audit_written_total', 'Records written to the store (from memory, or replayed from the spool).', [], () => {
      const audit = sources.audit?.();
      return one(audit === undefined ? 0 : audit.written + audit.replayed);
    });
    counter('switchboard_audit_dropped_total', 'Records dropped (the store was away and the spool full or off).', [], () => one(sources.audit?.()?.dropped ?? 0));
    counter('switchboard_store_failures_total', 'Store writes that failed.', [], () => one(sources.audit?.()?.failures ?? 0));

    // ---------------------------------------------------------------- plugs and faults
    counter('switchboard_plug_swaps_total', 'Plug changes: loaded (new), swapped (new version), removed, rejected (a bad file; the old version kept serving).', ['event'], () =>
      Object.entries(swaps).map(([event, count]): [Record<string, string>, number] => [{ event }, count]),
    );
    counter('switchboard_plug_faults_total', 'Errors that escaped plug (or application) code outside a handler.', [], () => one(sources.faults().total));
    counter('switchboard_event_loop_stalls_total', 'Event-loop blocks longer than faults.stallMs (see nodejs_eventloop_lag_* for the delay itself).', [], () =>
      one(sources.faults().stalls),
    );
  }

  /** The exposition text (this server's metrics, then the process's) and its content type. */
  async render(): Promise<{ text: string; contentType: string }> {
    const { registry, shared } = await this.load();
    const [own, process] = await Promise.all([registry.metrics(), shared.metrics()]);
    return { text: `${own}\n${process}`, contentType: registry.contentType };
  }

  /**
   * Answers a scrape (GET or HEAD). The caller has checked the path and that the client may read it.
   *
   * @example
   * if (url === '/metrics' && admin.guard(req, res)) prometheus.handle(req, res);
   */
  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 }).end();
      return;
    }
    this.render().then(
      ({ text, contentType }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        const text = `metrics could not be collected: ${(error as Error).message}`;
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
      },
    );
  }
}
