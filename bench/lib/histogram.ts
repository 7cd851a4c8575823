// Latency histogram in microseconds: log-linear buckets (under 1% error), cheap to record, mergeable across processes.

// Values below 128 µs get one bucket each; above, each power of two is split into 64 buckets.
const LINEAR = 128;
const SUB_BUCKETS = 64;
const BUCKETS = LINEAR + 24 * SUB_BUCKETS;
const MAX_VALUE = 2 ** 31 - 1;

function indexOf(value: number): number {
  if (value < LINEAR) return value;
  const bit = 31 - Math.clz32(value);
  const shift = bit - 6;
  return LINEAR + (bit - 7) * SUB_BUCKETS + ((value >>> shift) - SUB_BUCKETS);
}

function valueOf(index: number): number {
  if (index < LINEAR) return index;
  const k = index - LINEAR;
  const shift = (k >> 6) + 1;
  const lower = (SUB_BUCKETS + (k & 63)) * 2 ** shift;
  return lower + (2 ** shift - 1) / 2;
}

/** A histogram as it crosses the IPC channel: sparse [bucket, count] pairs. */
export interface HistogramData {
  buckets: [number, number][];
  count: number;
  sum: number;
  max: number;
}

/**
 * Records latencies in microseconds.
 *
 * @example
 * const h = new Histogram();
 * h.record(1234);
 * h.percentile(0.99) // ≈ 1234
 */
export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;

  record(us: number): void {
    const value = us <= 0 ? 0 : us >= MAX_VALUE ? MAX_VALUE : Math.round(us);
    this.counts[indexOf(value)]!++;
    this.count++;
    this.sum += value;
    if (value > this.max) this.max = value;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  /** The value at quantile `q` (0–1), in microseconds; 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    if (rank >= this.count) return this.max;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i), this.max);
    }
    return this.max;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  toData(): HistogramData {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, count: this.count, sum: this.sum, max: this.max };
  }

  add(data: HistogramData): this {
    for (const [index, count] of data.buckets) this.counts[index]! += count;
    this.count += data.count;
    this.sum += data.sum;
    if (data.max > this.max) this.max = data.max;
    return this;
  }

  static merge(all: Iterable<HistogramData>): Histogram {
    const merged = new Histogram();
    for (const data of all) merged.add(data);
    return merged;
  }
}
