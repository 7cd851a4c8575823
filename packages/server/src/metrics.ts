// Per-message-type measurements: payload sizes in and out, handler time, error replies; read by the admin
// endpoint (`/admin/metrics`, JSON) and by the Prometheus endpoint (`/metrics`, observe/prometheus.ts), so
// both show the same numbers.
//
// The table is keyed by message type, and types can come from clients, so it is bounded: at most `maxTypes`
// distinct types get their own entry (plus the server's fixed labels below); any type after that, or one
// the `known` predicate refuses, is counted under `(other)`. Memory stays flat whatever a client sends.
//
// Recording is on the message path, so it is plain arithmetic on preallocated fields: one Map lookup and a
// few additions per message. prom-client's own counters and histograms cost 0.1–0.5 µs per call even through
// cached children (they rebuild a label hash and validate labels on every call), several times a message;
// so prom-client renders these numbers when scraped instead of recording them (see observe/prometheus.ts).

/** Handler time histogram: bucket upper bounds in milliseconds, roughly ×2 apart. */
export const BUCKETS_MS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, Infinity];

/** Payload size histogram (per direction): bucket upper bounds in bytes, ×4 apart up to the default `maxPayload`. */
export const SIZE_BUCKETS: readonly number[] = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, Infinity];

/** Distinct error codes counted on their own before new ones go under `(other)` (plugs choose their codes). */
export const MAX_ERROR_CODES = 64;

/** Distinct message types the table keys by default before new ones go under `(other)`. */
export const MAX_METRIC_TYPES = 1024;

/**
 * Labels the server uses for messages that have no type of their own; they always get an entry and do not
 * count toward `maxTypes`. `(other)` collects the types the bound or `known` turned away.
 */
export const MetricLabel = {
  /** The frame could not be decoded or is not an envelope. */
  invalid: '(invalid)',
  /** No plug or protocol handler serves the type. */
  unknown: '(unknown)',
  /** Refused before routing (rate limit, shutdown). */
  refused: '(refused)',
  /** A type beyond `maxTypes`, or one `known` refused. */
  other: '(other)',
} as const;
export type MetricLabel = (typeof MetricLabel)[keyof typeof MetricLabel];

const LABELS: ReadonlySet<string> = new Set(Object.values(MetricLabel));

/** Options of `Metrics`. */
export interface MetricsOptions {
  /** Distinct types with their own entry; later ones are counted under `(other)`. Default `MAX_METRIC_TYPES`. */
  maxTypes?: number;
  /**
   * Whether a type deserves its own entry (a served message type, say); asked only for types that have no
   * entry yet. Types it refuses are counted under `(other)`. Default: every type, up to `maxTypes`.
   */
  known?: (type: string) => boolean;
}

/** Counters for one direction of one message type. */
export interface TrafficStats {
  count: number;
  bytes: number;
  maxBytes: number;
}

/** The measurements of one message type (read-only outside this module). */
export class TypeStats {
  readonly inbound: TrafficStats = { count: 0, bytes: 0, maxBytes: 0 };
  readonly outbound: TrafficStats = { count: 0, bytes: 0, maxBytes: 0 };
  handled = 0;
  errors = 0;
  totalMs = 0;
  maxMs = 0;
  readonly buckets = new Array<number>(BUCKETS_MS.length).fill(0);

  observeHandler(ms: number, ok: boolean): void {
    this.handled++;
    if (!ok) this.errors++;
    this.totalMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
    let i = 0;
    while (ms > BUCKETS_MS[i]!) i++;
    this.buckets[i]!++;
  }

  quantile(q: number): number {
    if (this.handled === 0) return 0;
    const rank = Math.ceil(q * this.handled);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return Math.min(BUCKETS_MS[i]!, this.maxMs);
    }
    return this.maxMs;
  }
}

function add(stats: TrafficStats, bytes: number, count: number): void {
  stats.count += count;
  stats.bytes += bytes * count;
  if (bytes > stats.maxBytes) stats.maxBytes = bytes;
}

/** A histogram of payload sizes: counts per `SIZE_BUCKETS` bucket (not cumulative), their sum and count. */
export class SizeHistogram {
  readonly buckets = new Array<number>(SIZE_BUCKETS.length).fill(0);
  sum = 0;
  count = 0;

  observe(bytes: number, count: number): void {
    let i = 0;
    while (bytes > SIZE_BUCKETS[i]!) i++;
    this.buckets[i]! += count;
    this.sum += bytes * count;
    this.count += count;
  }
}

/** A snapshot of one message type, as `/admin/metrics` returns it. */
export interface TypeSnapshot {
  inbound: TrafficStats;
  outbound: TrafficStats;
  handler: { count: number; errors: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number };
}

/**
 * Measurements per message type. Cheap to update (one Map lookup and a few additions), so they are always
 * on. Bounded: see `MetricsOptions`; callers should still pass `(unknown)` for types nothing serves.
 *
 * @example
 * const metrics = new Metrics({ known: (type) => registry.routes.has(type) });
 * metrics.inbound('chat.send', 42);
 * metrics.snapshot()['chat.send'].inbound.bytes // 42
 */
export class Metrics {
  private readonly types = new Map<string, TypeStats>();
  private readonly maxTypes: number;
  private readonly known: ((type: string) => boolean) | undefined;
  /** Entries that count toward `maxTypes` (every entry but the fixed labels). */
  private typed = 0;
  connectionsOpened = 0;
  connectionsClosed = 0;
  /** Payload sizes of every message received and sent, whatever its type. */
  readonly sizes = { inbound: new SizeHistogram(), outbound: new SizeHistogram() };
  /** Error replies and `$error` pushes sent, by error code (bounded: see `MAX_ERROR_CODES`). */
  readonly errors = new Map<string, number>();

  constructor(options: MetricsOptions = {}) {
    const maxTypes = options.maxTypes ?? MAX_METRIC_TYPES;
    if (!Number.isInteger(maxTypes) || maxTypes < 0) throw new RangeError(`Metrics: maxTypes must be an integer >= 0, got ${maxTypes}`);
    this.maxTypes = maxTypes;
    this.known = options.known;
  }

  private stats(type: string): TypeStats {
    const stats = this.types.get(type);
    if (stats) return stats;
    if (LABELS.has(type)) return this.add(type);
    if (this.typed >= this.maxTypes || (this.known !== undefined && !this.known(type))) {
      return this.types.get(MetricLabel.other) ?? this.add(MetricLabel.other);
    }
    this.typed++;
    return this.add(type);
  }

  private add(key: string): TypeStats {
    const stats = new TypeStats();
    this.types.set(key, stats);
    return stats;
  }

  /** Records a received message. Pass `(unknown)` for types nothing serves; the table stays bounded regardless. */
  inbound(type: string, bytes: number): void {
    add(this.stats(type).inbound, bytes, 1);
    this.sizes.inbound.observe(bytes, 1);
  }

  /** Records `count` sends of one encoded message. */
  outbound(type: string, bytes: number, count = 1): void {
    add(this.stats(type).outbound, bytes, count);
    this.sizes.outbound.observe(bytes, count);
  }

  /** Records an error sent to a client. Codes past `MAX_ERROR_CODES` distinct ones are counted under `(other)`. */
  error(code: string): void {
    const errors = this.errors;
    const seen = errors.get(code);
    if (seen !== undefined) errors.set(code, seen + 1);
    else if (errors.size < MAX_ERROR_CODES) errors.set(code, 1);
    else errors.set(MetricLabel.other, (errors.get(MetricLabel.other) ?? 0) + 1);
  }

  /** Every entry of the table, by type (the Prometheus endpoint reads them when scraped). */
  entries(): IterableIterator<[string, TypeStats]> {
    return this.types.entries();
  }

  handler(type: string, ms: number, ok: boolean): void {
    this.stats(type).observeHandler(ms, ok);
  }

  snapshot(): Record<string, TypeSnapshot> {
    const out: Record<string, TypeSnapshot> = {};
    for (const [type, s] of this.types) {
      const value: TypeSnapshot = {
        inbound: { ...s.inbound },
        outbound: { ...s.outbound },
        handler: {
          count: s.handled,
          errors: s.errors,
          meanMs: s.handled ? s.totalMs / s.handled : 0,
          p50Ms: s.quantile(0.5),
          p99Ms: s.quantile(0.99),
          maxMs: s.maxMs,
        },
      };
      // Defined, not assigned: a type named `__proto__` becomes a key like any other, not the prototype.
      Object.defineProperty(out, type, { value, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
}
