// The history contract: per-stream publications with positions, so a client that reconnects gets what it missed.
import type { StreamPosition } from '@switchboard/protocol';
import type { MaybePromise } from '../maybe-promise.ts';

// One type for the wire and the back ends: the position a client sends back is the one a history returned.
export type { StreamPosition };

/** A publication as history returns it. */
export interface StreamPublication {
  offset: number;
  /** When it was appended, in milliseconds since the Unix epoch, by the history's clock. */
  time: number;
  /** What was appended. It must survive a JSON round trip (other back ends store JSON). */
  data: unknown;
}

/** `since` and `latest`: the publications asked for, and the position after the last of them. */
export interface StreamPage {
  reset: false;
  /** Oldest first, offsets consecutive. */
  publications: StreamPublication[];
  /**
   * Where to continue from: the position of the last publication returned; when none were, the given
   * position (`since`) or the current one (`latest`).
   */
  position: StreamPosition;
}

/** `since` could not say what was missed: the reader must reload its state and continue from `position`. */
export interface StreamReset {
  reset: true;
  /** The stream's current position. */
  position: StreamPosition;
}

/** Bounds and clock of a history. Every stream keeps at most `maxPublications`, none older than `maxAgeMs`. */
export interface HistoryOptions {
  /** Publications kept per stream, the newest; a positive integer. Default 100. */
  maxPublications?: number;
  /** How long a publication is kept, in milliseconds (`Infinity` for no age bound). Default 300 000 (5 minutes). */
  maxAgeMs?: number;
  /** The clock, in milliseconds; tests pass a fake one. Default `Date.now`. */
  now?: () => number;
}

/** The documented defaults of `HistoryOptions`. */
export const HISTORY_DEFAULTS = { maxPublications: 100, maxAgeMs: 5 * 60_000 } as const;

/**
 * History: the recent publications of each stream (a channel's messages, say) and the position after
 * them. A node appends what it publishes and sends the returned position with it; a client that
 * reconnects hands its last position to `since` and gets what it missed, or a reset when that is no
 * longer known.
 *
 * Guarantees every implementation keeps (`test/history-contract.ts`):
 * - `append` returns the stream's epoch and the next offset (1 for a new stream or epoch); offsets of a
 *   stream never repeat within an epoch. Streams are independent.
 * - A publication is held until `maxPublications` newer ones exist or until `now() >= time + maxAgeMs`.
 * - `since(position)`: the publications after `position`, oldest first. Equal to the current position:
 *   an empty page, no reset. A reset when the epoch is not the stream's current one, when the offset is
 *   ahead of the stream, is not a non-negative integer, or when a publication after it is no longer held.
 *   A position from a client is never trusted: a bad one resets, it does not throw.
 * - `limit` (a positive integer, default: no limit beyond the bounds): at most the first `limit` missed
 *   publications are returned, and `position` is that of the last one, so the caller continues with
 *   another `since(page.position)` until a page is shorter than `limit`. Nothing is skipped: if the next
 *   part was trimmed in between, that call resets.
 * - `latest(stream, n)`: the newest `n` held publications (fewer if fewer are held), oldest first, with the
 *   current position, for a late joiner that wants recent context and a position to continue from.
 * - `position`, `since` and `latest` of a stream that holds nothing give a position that stays valid when
 *   the first publication is appended (the epoch a reader got is the one `append` uses, unless the stream
 *   ends in between), so a reader that subscribed to an empty stream misses nothing.
 * - `trim(stream, keep)` keeps the newest `keep` publications (epoch and offsets unchanged); `remove`
 *   forgets the stream (its epoch ends).
 *
 * `MemoryHistory` is the reference implementation.
 *
 * @example
 * const position = await history.append('channel:orders.eu', message);   // { epoch: 'Yc2…', offset: 42 }
 * const page = await history.since('channel:orders.eu', lastSeen, { limit: 100 });
 * if (page.reset) resync(page.position); else replay(page.publications);
 */
export interface History {
  /** Appends a publication; returns its position. */
  append(stream: string, data: unknown): MaybePromise<StreamPosition>;
  /** What a reader at `position` missed, or a reset. */
  since(stream: string, position: StreamPosition, options?: { limit?: number }): MaybePromise<StreamPage | StreamReset>;
  /** The newest `n` publications (`n` a non-negative integer) and the current position. */
  latest(stream: string, n: number): MaybePromise<StreamPage>;
  /** The stream's current position: its epoch and the offset of its last publication (0 if none yet). */
  position(stream: string): MaybePromise<StreamPosition>;
  /** Keeps only the newest `keep` publications of a stream (`keep` a non-negative integer). */
  trim(stream: string, keep: number): MaybePromise<void>;
  /** Forgets a stream; true if it was held. Its next append starts a new epoch at offset 1. */
  remove(stream: string): MaybePromise<boolean>;
  close(): Promise<void>;
}
