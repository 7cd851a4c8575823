// Reconnect backoff: exponential growth, a ceiling, and jitter so clients do not return in lockstep.

/**
 * How the client retries after an unexpected close.
 *
 * @example
 * connect(url, { reconnect: { initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: 20 } });
 */
export interface ReconnectOptions {
  /** Delay before the first retry. Default 250. */
  initialDelayMs?: number;
  /** Ceiling of every delay. Default 10000. */
  maxDelayMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Random spread as a ± fraction of the delay (0.5: from 50% to 150%). Default 0.5. */
  jitter?: number;
  /** Failed attempts in a row before giving up (the client then closes). Default Infinity. */
  maxAttempts?: number;
}

/** Reconnect options with every default filled in. */
export type ResolvedReconnect = Required<ReconnectOptions>;

/**
 * The defaults of `reconnect`.
 *
 * @example
 * connect(url, { reconnect: { ...DEFAULT_RECONNECT, jitter: 0 } });
 */
export const DEFAULT_RECONNECT: ResolvedReconnect = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
};

/**
 * Fills in defaults and clamps values that would make no sense (negative delays, a shrinking factor).
 *
 * @example
 * resolveReconnect({ initialDelayMs: 100 }).maxDelayMs // 10000
 */
export function resolveReconnect(options: ReconnectOptions = {}): ResolvedReconnect {
  const merged = { ...DEFAULT_RECONNECT, ...options };
  return {
    initialDelayMs: Math.max(0, merged.initialDelayMs),
    maxDelayMs: Math.max(0, merged.maxDelayMs),
    factor: Math.max(1, merged.factor),
    jitter: Math.min(1, Math.max(0, merged.jitter)),
    maxAttempts: Math.max(0, merged.maxAttempts),
  };
}

/**
 * The delay before retry number `attempt` (1 for the first retry): `initialDelayMs · factor^(attempt-1)`,
 * capped at `maxDelayMs`, spread by ±`jitter`, and never above `maxDelayMs`.
 *
 * @example
 * backoffDelay(3, { ...DEFAULT_RECONNECT, jitter: 0 }) // 1000
 */
export function backoffDelay(attempt: number, options: ResolvedReconnect, random: () => number = Math.random): number {
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** Math.max(0, attempt - 1));
  const spread = base * options.jitter * (2 * random() - 1);
  return Math.round(Math.min(options.maxDelayMs, Math.max(0, base + spread)));
}
