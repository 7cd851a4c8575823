// Per-connection rate limiting: a token bucket, plus the rule that closes persistent offenders.

/** Rate limit settings (per connection). */
export interface RateLimitOptions {
  /** Sustained messages per second. 0 turns the limit off. */
  messagesPerSecond: number;
  /** Messages that may arrive at once above the sustained rate. */
  burst: number;
  /** Refused messages within `windowMs` after which the connection is closed with 1008. */
  closeAfter: number;
  windowMs: number;
}

/** The per-connection state the limiter keeps (fields live on the connection to avoid another object). */
export interface RateState {
  tokens: number;
  refilledAt: number;
  refused: number;
  refusedSince: number;
}

/** What happened to one message. */
export const RateVerdict = { allow: 0, refuse: 1, close: 2 } as const;
export type RateVerdict = (typeof RateVerdict)[keyof typeof RateVerdict];

/**
 * Takes a token for one message.
 *
 * @example
 * if (takeToken(conn, limits, performance.now()) === RateVerdict.refuse) reply('rate_limited');
 */
export function takeToken(state: RateState, options: RateLimitOptions, now: number): RateVerdict {
  if (options.messagesPerSecond <= 0) return RateVerdict.allow;
  const elapsed = now - state.refilledAt;
  if (elapsed > 0) {
    state.tokens = Math.min(options.burst, state.tokens + (elapsed * options.messagesPerSecond) / 1000);
    state.refilledAt = now;
  }
  if (state.tokens >= 1) {
    state.tokens -= 1;
    return RateVerdict.allow;
  }
  if (now - state.refusedSince > options.windowMs) {
    state.refusedSince = now;
    state.refused = 0;
  }
  state.refused++;
  return state.refused > options.closeAfter ? RateVerdict.close : RateVerdict.refuse;
}
