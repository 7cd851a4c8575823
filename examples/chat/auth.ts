// Who may do what in the example: the token secret, the grants of each role, and the server's auth options.
import { ErrorCode, MessageError, type AuthOptions, type Connection, type Identity } from '@switchboard/server';

/**
 * DEVELOPMENT ONLY. Used when CHAT_JWT_SECRET is not set, so that `npm start` works with zero setup.
 * Anyone who reads this file can mint tokens for a server that uses it: set CHAT_JWT_SECRET (32+ characters)
 * anywhere the example is reachable by others.
 */
export const DEV_JWT_SECRET = 'switchboard-example-chat-DEVELOPMENT-ONLY-secret';

/** The HS256 secret the demo sign-in signs with and the server verifies with. */
export const jwtSecret: string = process.env.CHAT_JWT_SECRET || DEV_JWT_SECRET;
/** True when CHAT_JWT_SECRET is not set: the demo plug logs a warning at load, so it is never a surprise. */
export const usingDevSecret = jwtSecret === DEV_JWT_SECRET;

/** Who is online: every signed-in user may join; its members are identities, so two tabs count once. */
export const LOBBY_CHANNEL = 'presence-lobby';
/** The staff-only room for operational events. */
export const OPS_CHANNEL = 'private-ops';

export const ROLES = ['customer', 'staff'] as const;
export type Role = (typeof ROLES)[number];

/**
 * "Ops access": reading and posting in the ops room. Staff have it by role; `ops.grant` / `ops.revoke` give
 * it to a customer or take it away, at runtime. It does not include managing access (`STAFF_GRANTS`).
 */
export const OPS_ACCESS_GRANTS = [`subscribe:${OPS_CHANNEL}`, `publish:${OPS_CHANNEL}`];

/**
 * What only a staff token carries: calling `ops.grant` / `ops.revoke`. The ops plug also checks the role in
 * the token, so this grant given to a customer at runtime (say, over the admin API) still lets them manage
 * nobody's access.
 */
export const STAFF_GRANTS = ['call:ops.*'];

/** What a connection may do before signing in: sign in, and read the chat. */
export const ANONYMOUS_GRANTS = ['call:demo.signIn', 'call:chat.history'];

/**
 * What every signed-in user may do: every `chat.*` message, so a message type added to plugs/chat.ts while
 * the server runs works at once (grants live in tokens, and this file is not hot-swapped), and the lobby.
 */
export const SIGNED_IN_GRANTS = ['call:chat.*', `subscribe:${LOBBY_CHANNEL}`];

/**
 * The grants a token carries, by role; the anonymous grants apply on top (they are the server's defaults).
 *
 * @example
 * grantsFor('customer') // ['call:chat.*', 'subscribe:presence-lobby']
 */
export function grantsFor(role: Role): string[] {
  return role === 'staff' ? [...SIGNED_IN_GRANTS, ...STAFF_GRANTS, ...OPS_ACCESS_GRANTS] : [...SIGNED_IN_GRANTS];
}

/**
 * `createServer({ auth })` for the example (switchboard.config.ts and the tests use the same object).
 * Anonymous connections are accepted so the page can load, read the chat and then sign in over the socket.
 */
export const auth: AuthOptions = {
  secret: jwtSecret,
  defaultGrants: ANONYMOUS_GRANTS,
};

/**
 * The identity id for a display name: the same name is the same user, so two tabs signed in as "Ada" are
 * one presence member. A real identity provider would give a stable user id instead.
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
    role: role === 'staff' ? 'staff' : 'customer',
  };
}
