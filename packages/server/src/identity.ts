// Who a connection is, and what the authorize hook is asked: the identity vocabulary every layer shares.

/**
 * Who a connection is. From a JWT: `id` is `sub`, `info` the `info` claim, `grants` the `grants` claim and
 * `expiresAt` comes from `exp`. An `authenticate` hook returns one itself.
 *
 * @example
 * { id: 'user-42', info: { name: 'Ada' }, grants: ['subscribe:private-team-a'], expiresAt: Date.now() + 3_600_000 }
 */
export interface Identity {
  id: string;
  /** Public information about the identity: what other members of a presence channel see. */
  info?: Record<string, unknown>;
  grants: string[];
  /** When the credentials expire, in ms since the epoch. */
  expiresAt?: number;
}

/** What the `authorize` hook is asked about. */
export interface AuthorizeRequest {
  action: 'subscribe' | 'publish' | 'call' | 'read' | 'write' | 'join' | 'broadcast';
  /** The channel, message type or resource; '' for `broadcast`. */
  target: string;
}
