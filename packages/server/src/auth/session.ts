// What a connection carries once the auth subsystem has seen it: identity, compiled grants, its one timer.
import type { IncomingMessage } from 'node:http';
import type { GrantSet } from '../grants/grant-set.ts';
import type { Identity } from './options.ts';

/**
 * A connection's authentication state. Anonymous connections that need no timer share one session, so
 * checking grants costs a field read and a lookup, and no allocation.
 */
export interface Session {
  /** Undefined while the connection is anonymous. Frozen: plugs read it through `connection.identity`. */
  identity: Identity | undefined;
  /** The effective grants: the default grants, the identity's, and the runtime changes. */
  grants: GrantSet;
  /** The one timer of the connection: the authentication deadline, the expiry warning, or the expiry. */
  timer: NodeJS.Timeout | undefined;
  /** Whether `$auth.expiring` was pushed for the current token. */
  warned: boolean;
  /** The upgrade request, kept only when an `authenticate` hook needs it again for `$auth`. */
  request: IncomingMessage | undefined;
}
