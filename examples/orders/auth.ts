// Who may do what in the orders example: the token secret, the grants of each role, and the server's auth options.
import { ErrorCode, MessageError, type AuthOptions, type Connection, type Identity } from '@switchboard/server';

/**
 * DEVELOPMENT ONLY. Used when ORDERS_JWT_SECRET is not set, so that `npm start` works with zero setup.
 * Anyone who reads this file can mint tokens for a server that uses it: set ORDERS_JWT_SECRET (32+
 * characters) anywhere the example is reachable by others.
 */
export const DEV_JWT_SECRET = 'switchboard-example-orders-DEVELOPMENT-ONLY-secret';

/** The HS256 secret the demo sign-in signs with and the server verifies with. */
export const jwtSecret: string = process.env.ORDERS_JWT_SECRET || DEV_JWT_SECRET;
/** True when ORDERS_JWT_SECRET is not set: the demo plug logs a warning at load, so it is never a surprise. */
export const usingDevSecret = jwtSecret === DEV_JWT_SECRET;

/** A customer places and changes their own orders; the back office sees and runs every order. */
export const ROLES = ['customer', 'backoffice'] as const;
export type Role = (typeof ROLES)[number];

/** The resources of plugs/shop.ts, named here because grants name them. */
export const ORDERS = 'orders';
export const HOLDS = 'holds';

/** The grant a hold takes away from a customer (and lifting it gives back): writing to `orders` at all. */
export const WRITE_ORDERS = `write:${ORDERS}`;

/** What a connection may do before signing in: sign in. */
export const ANONYMOUS_GRANTS = ['call:demo.signIn'];

/**
 * A customer: read and write `orders` (the resource's `scope` narrows both to their own orders, its
 * `authorizeWrite` to what a customer may change), and read the catalog.
 */
export const CUSTOMER_GRANTS = [`read:${ORDERS}`, WRITE_ORDERS, 'call:shop.catalog'];

/**
 * The back office: every order, the holds, and every `shop.*` message (mark paid, ship, put on hold). The
 * shop plug also checks the role in the token, so `call:shop.*` given to a customer at runtime (say, over
 * the admin API) still lets them run nobody's orders.
 */
export const BACK_OFFICE_GRANTS = [`read:${ORDERS}`, WRITE_ORDERS, `read:${HOLDS}`, 'call:shop.*'];

/**
 * The grants a token carries, by role; the anonymous grants apply on top (they are the server's defaults).
 *
 * @example
 * grantsFor('customer') // ['read:orders', 'write:orders', 'call:shop.catalog']
 */
export function grantsFor(role: Role): string[] {
  return role === 'backoffice' ? [...BACK_OFFICE_GRANTS] : [...CUSTOMER_GRANTS];
}

/**
 * `createServer({ auth })` for the example (switchboard.config.ts and the tests use the same object).
 * Anonymous connections are accepted so the page can load and then sign in over the socket.
 */
export const auth: AuthOptions = {
  secret: jwtSecret,
  defaultGrants: ANONYMOUS_GRANTS,
};

/**
 * The identity id for a display name: the same name is the same user, so two tabs open as "Ada" see the
 * same orders. A real identity provider would give a stable user id instead.
 *
 * @example
 * userIdFor(' Ada Lovelace ') // 'ada-lovelace'
 */
export function userIdFor(name: string): string {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  // Names without a single latin letter or digit (say, in Cyrillic) still need a distinct id.
  return slug || `u-${Buffer.from(name.trim().toLowerCase()).toString('hex').slice(0, 64)}`;
}

/** A signed-in user as plugs read it from the connection's identity. */
export interface User {
  id: string;
  name: string;
  role: Role;
}

/**
 * The user an identity is: its name and role come from the token's `info`, which the server verified, so a
 * role is something nobody can give themselves at runtime (unlike a grant).
 *
 * @example
 * const user = userOf(connection.identity);
 */
export function userOf(identity: Identity): User {
  const { name, role } = identity.info ?? {};
  return {
    id: identity.id,
    name: typeof name === 'string' ? name : identity.id,
    role: role === 'backoffice' ? 'backoffice' : 'customer',
  };
}

/**
 * The connection's user; throws `unauthenticated` for an anonymous connection (the example's grants already
 * keep those out, but a plug must not depend on how the server was configured).
 *
 * @example
 * const { id, name } = signedInUser(ctx.connection);
 */
export function signedInUser(connection: Connection): User {
  const identity = connection.identity;
  if (!identity) throw new MessageError(ErrorCode.unauthenticated, 'sign in first');
  return userOf(identity);
}

/** Whether the connection is signed in as the back office (by the role in its token). */
export function isBackOffice(connection: Connection): boolean {
  return connection.identity !== undefined && userOf(connection.identity).role === 'backoffice';
}
