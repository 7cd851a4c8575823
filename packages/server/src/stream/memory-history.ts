// The in-memory history: one process, bounded memory; the reference every other history back end is tested against.
import { randomBytes } from 'node:crypto';
import {
  HISTORY_DEFAULTS,
  type History,
  type HistoryOptions,
  type StreamPage,
  type StreamPosition,
  type StreamPublication,
  type StreamReset,
} from './history.ts';

/** `MemoryHistory`'s options: the history bounds plus a cap on the number of streams. */
export interface MemoryHistoryOptions extends HistoryOptions {
  /** Streams kept at most; when a new one would exceed it, the least recently appended-to is evicted. Default 10 000. */
  maxStreams?: number;
}

/** The default of `MemoryHistoryOptions.maxStreams`. */
export const MEMORY_HISTORY_MAX_STREAMS = 10_000;

/** One stream: its epoch, its held publications (`entries` from `head`) and its last offset. */
interface Stream {
  readonly epoch: string;
  entries: StreamPublication[];
  head: number;
  top: number;
  /** Creation or last append: once `maxAgeMs` older than now with nothing held, the stream ends. */
  touchedAt: number;
}

function newEpoch(): string {
  return randomBytes(8).toString('base64url');
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/**
 * History for a single process. Every method answers synchronously.
 *
 * Each stream gets a random epoch when it is created (by its first append or first read), so a new
 * `MemoryHistory` (a restart) answers old positions with a reset. Memory stays bounded: every stream
 * holds at most `maxPublications`; a stream with nothing held is dropped `maxAgeMs` after its creation or
 * last append (its epoch ends; the check is amortised over calls, oldest first, so it needs no timer);
 * and at most `maxStreams` streams are kept, the least recently appended-to being evicted first.
 *
 * @example
 * const history = new MemoryHistory({ maxPublications: 100, maxAgeMs: 5 * 60_000 });
 * const position = history.append('channel:orders.eu', { event: 'created', data: { id: 7 } });
 */
export class MemoryHistory implements History {
  private readonly maxPublications: number;
  private readonly maxAgeMs: number;
  private readonly maxStreams: number;
  private readonly now: () => number;
  /** In the order of last append (re-inserted on each), so the streams that end first are at the front. */
  private readonly streams = new Map<string, Stream>();

  constructor(options: MemoryHistoryOptions = {}) {
    this.maxPublications = options.maxPublications ?? HISTORY_DEFAULTS.maxPublications;
    this.maxAgeMs = options.maxAgeMs ?? HISTORY_DEFAULTS.maxAgeMs;
    this.maxStreams = options.maxStreams ?? MEMORY_HISTORY_MAX_STREAMS;
    this.now = options.now ?? Date.now;
    if (!Number.isSafeInteger(this.maxPublications) || this.maxPublications < 1) {
      throw new RangeError(`maxPublications must be a positive integer, got ${this.maxPublications}`);
    }
    if (!(this.maxAgeMs > 0)) throw new RangeError(`maxAgeMs must be a positive number, got ${this.maxAgeMs}`);
    if (!Number.isSafeInteger(this.maxStreams) || this.maxStreams < 1) {
      throw new RangeError(`maxStreams must be a positive integer, got ${this.maxStreams}`);
    }
  }

  /** How many streams are held now. */
  get size(): number {
    this.sweep(this.now());
    return this.streams.size;
  }

  append(stream: string, data: unknown): StreamPosition {
    const now = this.now();
    const state = this.stream(stream, now);
    this.expire(state, now);
    state.top++;
    state.entries.push({ offset: state.top, time: now, data });
    if (state.entries.length - state.head > this.maxPublications) state.head++;
    this.compact(state);
    state.touchedAt = now;
    this.streams.delete(stream);
    this.streams.set(stream, state);
    return { epoch: state.epoch, offset: state.top };
  }

  since(stream: string, position: StreamPosition, options: { limit?: number } = {}): StreamPage | StreamReset {
    const limit = options.limit ?? Infinity;
    if (limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 1)) {
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    }
    const now = this.now();
    const state = this.stream(stream, now);
    this.expire(state, now);
    const current = { epoch: state.epoch, offset: state.top };
    const offset = position.offset;
    if (position.epoch !== state.epoch || !isCount(offset) || offset > state.top) return { reset: true, position: current };
    if (offset === state.top) return { reset: false, publications: [], position: current };
    const first = state.entries[state.head]?.offset ?? state.top + 1;
    if (offset + 1 < first) return { reset: true, position: current };
    const start = state.head + (offset + 1 - first);
    const end = Math.min(state.entries.length, start + limit);
    const publications = copy(state.entries, start, end);
    return { reset: false, publications, position: { epoch: state.epoch, offset: publications.at(-1)!.offset } };
  }

  latest(stream: string, n: number): StreamPage {
    if (!isCount(n)) throw new RangeError(`n must be a non-negative integer, got ${n}`);
    const now = this.now();
    const state = this.stream(stream, now);
    this.expire(state, now);
    const start = Math.max(state.head, state.entries.length - n);
    return { reset: false, publications: copy(state.entries, start, state.entries.length), position: { epoch: state.epoch, offset: state.top } };
  }

  position(stream: string): StreamPosition {
    const now = this.now();
    const state = this.stream(stream, now);
    return { epoch: state.epoch, offset: state.top };
  }

  trim(stream: string, keep: number): void {
    if (!isCount(keep)) throw new RangeError(`keep must be a non-negative integer, got ${keep}`);
    const state = this.streams.get(stream);
    if (state === undefined) return;
    state.head = Math.max(state.head, state.entries.length - keep);
    this.compact(state);
  }

  remove(stream: string): boolean {
    return this.streams.delete(stream);
  }

  async close(): Promise<void> {
    this.streams.clear();
  }

  /** The stream, created empty under a new epoch if it is not held (evicting the oldest if at the cap). */
  private stream(name: string, now: number): Stream {
    this.sweep(now);
    let state = this.streams.get(name);
    if (state === undefined) {
      if (this.streams.size >= this.maxStreams) this.streams.delete(this.streams.keys().next().value!);
      state = { epoch: newEpoch(), entries: [], head: 0, top: 0, touchedAt: now };
      this.streams.set(name, state);
    }
    return state;
  }

  /** Drops the streams at the front whose newest publication (or creation) is older than `maxAgeMs`. */
  private sweep(now: number): void {
    for (const [name, state] of this.streams) {
      if (now < state.touchedAt + this.maxAgeMs) return;
      this.streams.delete(name);
    }
  }

  /** Drops a stream's publications older than `maxAgeMs`. */
  private expire(state: Stream, now: number): void {
    while (state.head < state.entries.length && now >= state.entries[state.head]!.time + this.maxAgeMs) state.head++;
    this.compact(state);
  }

  /** Frees the dropped front of `entries` once it is most of the array. */
  private compact(state: Stream): void {
    if (state.head === state.entries.length) {
      state.entries = [];
      state.head = 0;
    } else if (state.head >= 32 && state.head * 2 >= state.entries.length) {
      state.entries = state.entries.slice(state.head);
      state.head = 0;
    }
  }
}

function copy(entries: StreamPublication[], start: number, end: number): StreamPublication[] {
  const publications: StreamPublication[] = [];
  for (let i = start; i < end; i++) {
    const entry = entries[i]!;
    publications.push({ offset: entry.offset, time: entry.time, data: entry.data });
  }
  return publications;
}
