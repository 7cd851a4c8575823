// Per-message-type measurements: payload sizes in and out, handler time; read by the admin endpoint.

// Handler time histogram: bucket upper bounds in milliseconds, roughly ×2 apart.
const BUCKETS_MS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, Infinity];

/** Counters for one direction of one message type. */
export interface TrafficStats {
  count: number;
  bytes: number;
  maxBytes: number;
}

class TypeStats {
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

/** A snapshot of one message type, as `/admin/metrics` returns it. */
export interface TypeSnapshot {
  inbound: TrafficStats;
  outbound: TrafficStats;
  handler: { count: number; errors: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number };
}

/**
 * Measurements per message type. Cheap to update (a few additions), so they are always on.
 *
 * @example
 * metrics.inbound('chat.send', 42);
 * metrics.snapshot()['chat.send'].inbound.bytes // 42
 */
export class Metrics {
  private readonly types = new Map<string, TypeStats>();
  connectionsOpened = 0;
  connectionsClosed = 0;

  private stats(type: string): TypeStats {
    let stats = this.types.get(type);
    if (!stats) {
      stats = new TypeStats();
      this.types.set(type, stats);
    }
    return stats;
  }

  /** Records a received message (unknown types are counted under `(unknown)` so bad input cannot grow the table). */
  inbound(type: string, bytes: number): void {
    add(this.stats(type).inbound, bytes, 1);
  }

  /** Records `count` sends of one encoded message. */
  outbound(type: string, bytes: number, count = 1): void {
    add(this.stats(type).outbound, bytes, count);
  }

  handler(type: string, ms: number, ok: boolean): void {
    this.stats(type).observeHandler(ms, ok);
  }

  snapshot(): Record<string, TypeSnapshot> {
    const out: Record<string, TypeSnapshot> = {};
    for (const [type, s] of this.types) {
      out[type] = {
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
    }
    return out;
  }
}
