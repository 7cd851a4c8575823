// Channel names and kinds, shared by server and client.

/** Channel kinds, told apart by the name's prefix. */
export type ChannelKind = 'public' | 'private' | 'presence';

/** Channel names: 1 to 200 characters of letters, digits and `_-.:@=,;` (no spaces, no `*`). */
export const CHANNEL_NAME_PATTERN = /^[A-Za-z0-9_\-.:@=,;]{1,200}$/;

/**
 * The kind of a channel: `presence-…` channels are presence channels, `private-…` ones private,
 * everything else public.
 *
 * @example
 * channelKind('presence-lobby') // 'presence'
 */
export function channelKind(name: string): ChannelKind {
  if (name.startsWith('presence-')) return 'presence';
  if (name.startsWith('private-')) return 'private';
  return 'public';
}
