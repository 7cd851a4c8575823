// Identity and grants on the wire: the `$auth` reply and the `$auth.expiring` and `$grants` pushes.

/** Who a connection is, as the client sees it. */
export interface IdentityInfo {
  id: string;
  info: Record<string, unknown>;
}

/**
 * The reply to `$auth`.
 *
 * @example
 * { "identity": { "id": "user-42", "info": { "name": "Ada" } }, "grants": ["call:*"], "expiresAt": 1767225600000 }
 */
export interface AuthReply {
  identity: IdentityInfo;
  grants: string[];
  /** When the token expires (ms since the epoch), or null when it does not. */
  expiresAt: number | null;
}

/** The data of an `$auth.expiring` push: refresh with `$auth` before `expiresAt`. */
export interface AuthExpiring {
  expiresAt: number;
  inMs: number;
}

/** Why a connection's grants changed (`$grants.reason`); applications may pass their own reasons too. */
export const GrantsReason = {
  /** Grants were added or revoked through the server API or the admin API. */
  grantChanged: 'grant_changed',
  /** The token expired and the connection was downgraded to anonymous. */
  tokenExpired: 'token_expired',
  /** The connection authenticated with `$auth`. */
  authenticated: 'authenticated',
  /** The connection refreshed its token with `$auth`, and the new token carries other grants. */
  tokenRefreshed: 'token_refreshed',
} as const;
export type GrantsReason = (typeof GrantsReason)[keyof typeof GrantsReason];

/**
 * The data of a `$grants` push.
 *
 * @example
 * { "grants": ["call:*"], "added": [], "removed": ["subscribe:private-team-*"], "reason": "grant_changed" }
 */
export interface GrantsChange {
  grants: string[];
  added: string[];
  removed: string[];
  reason: GrantsReason | (string & {});
}
