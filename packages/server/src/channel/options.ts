// Channel limits (`createServer({ channels })`): defaults and validation that names what is wrong.
import { DevErrorCode, SwitchboardError } from '../errors.ts';

/**
 * `createServer({ channels })`: the limits of channels. See docs/channels.md.
 *
 * @example
 * createServer({ channels: { maxPerConnection: 20, maxMessageBytes: 16 * 1024 } });
 */
export interface ChannelOptions {
  /** Channels one connection may be subscribed to at once (default 100). */
  maxPerConnection?: number;
  /** Subscribers one channel may have on this node (default 10000). */
  maxSubscribers?: number;
  /** Largest `data` a client or HTTP publish may carry, measured as its JSON length (default 65536). */
  maxMessageBytes?: number;
}

/** Channel options after validation and defaults. */
export type ResolvedChannelOptions = Required<ChannelOptions>;

const DEFAULTS: ResolvedChannelOptions = { maxPerConnection: 100, maxSubscribers: 10_000, maxMessageBytes: 64 * 1024 };

/**
 * Validates `createServer({ channels })` and fills in defaults.
 *
 * @example
 * resolveChannelOptions({ maxPerConnection: 20 }).maxSubscribers // 10000
 */
export function resolveChannelOptions(input: ChannelOptions | undefined): ResolvedChannelOptions {
  if (input !== undefined && (typeof input !== 'object' || input === null)) {
    throw new SwitchboardError(DevErrorCode.configInvalid, 'invalid server options: channels: must be an object');
  }
  const resolved = { ...DEFAULTS };
  const problems: string[] = [];
  for (const name of Object.keys(DEFAULTS) as (keyof ResolvedChannelOptions)[]) {
    const value = input?.[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      problems.push(`channels.${name}: must be an integer of 1 or more, got ${JSON.stringify(value)}`);
    } else resolved[name] = value;
  }
  const unknown = Object.keys(input ?? {}).filter((name) => !(name in DEFAULTS));
  if (unknown.length > 0) problems.push(`channels: unknown option ${unknown.join(', ')}; known: ${Object.keys(DEFAULTS).join(', ')}`);
  if (problems.length > 0) throw new SwitchboardError(DevErrorCode.configInvalid, `invalid server options: ${problems.join('; ')}`);
  return resolved;
}
