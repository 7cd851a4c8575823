// Live permission changes: staff give a customer ops access (the ops room) or take it away, at once.
import { definePlug, MessageError, z, type HandlerContext, type ServerApi } from '@switchboard/server';
import { OPS_ACCESS_GRANTS, OPS_CHANNEL, signedInUser, userOf, type User } from '../auth.ts';

/**
 * The codes `ops.grant` and `ops.revoke` refuse with, besides the server's own (`forbidden` when the caller
 * lacks `call:ops.*`, `invalid_payload`). Match on these, not on the message text.
 *
 * @example
 * if (error.code === OpsErrorCode.staffMember) showHint('staff have ops access by their role');
 */
export const OpsErrorCode = {
  /** The caller is not staff (by the role in their token), even if a runtime grant lets them call ops.*. */
  staffOnly: 'staff_only',
  /** The target is the caller: nobody changes their own access. */
  ownAccess: 'own_access',
  /** The target is staff: staff have ops access by their role, and no one may take it away here. */
  staffMember: 'staff_member',
  /** The target is not connected, so their role cannot be told; the page offers only users who are online. */
  userOffline: 'user_offline',
} as const;
export type OpsErrorCode = (typeof OpsErrorCode)[keyof typeof OpsErrorCode];

/** What `ops.grant` and `ops.revoke` take: the identity id (`sub`) of the user to change. */
const target = z.object({ userId: z.string().trim().min(1).max(200) });
/** The outcome: the target's grants now, and whether their ops access changed (granting it twice does not). */
const result = z.object({ userId: z.string(), changed: z.boolean(), grants: z.array(z.string()) });

/** The operational event every ops member sees when access changes: `access` on the ops channel. */
const accessEvent = z.object({
  userId: z.string(),
  userName: z.string(),
  change: z.enum(['granted', 'revoked']),
  /** The identity id of whoever made the change, and their name. */
  by: z.string(),
  byName: z.string(),
});
export type AccessEvent = z.output<typeof accessEvent>;

/**
 * What this plug publishes on the ops channel. Members' own `note` events are not listed: clients publish
 * them directly, so their data is whatever the client sent.
 */
const events = { access: accessEvent };

/** The context of the ops handlers: they reply with `result` and may publish `events`. */
type OpsContext = HandlerContext<z.input<typeof result>, Record<never, never>, typeof events>;

/** The grant that opens the room: whether the target has it tells whether a change changed anything. */
const ROOM_GRANT = `subscribe:${OPS_CHANNEL}`;

/** The user `userId` is signed in as on one of their connections here, or undefined when they are not online. */
function onlineUser(server: Pick<ServerApi, 'connections'>, userId: string): User | undefined {
  for (const connection of server.connections()) {
    if (connection.identity?.id === userId) return userOf(connection.identity);
  }
  return undefined;
}

/**
 * The handler of `ops.grant` and `ops.revoke`: a staff member changes an online customer's ops access on
 * every one of their live connections, then tells the ops room. A revoke removes the customer from the room
 * before it returns, so the `access` event no longer reaches them; a grant lets them subscribe right away.
 */
function changeAccess(change: AccessEvent['change']) {
  return ({ userId }: z.output<typeof target>, ctx: OpsContext): z.input<typeof result> => {
    // The grant check (call:ops.*) ran before this; the role check is what a runtime grant cannot get round.
    const by = signedInUser(ctx.connection);
    if (by.role !== 'staff') throw new MessageError(OpsErrorCode.staffOnly, 'Only staff can change who has access to the ops room.');
    if (userId === by.id) throw new MessageError(OpsErrorCode.ownAccess, 'You cannot change your own access to the ops room.');
    const user = onlineUser(ctx.server, userId);
    if (!user) throw new MessageError(OpsErrorCode.userOffline, 'That user is not online: access can be changed for people who are here.', { userId });
    if (user.role === 'staff') throw new MessageError(OpsErrorCode.staffMember, `${user.name} is staff: staff have access to the ops room by their role.`, { userId });

    const had = ctx.server.grantsOf(userId).includes(ROOM_GRANT);
    const options = { reason: `ops access ${change} by ${by.name}` };
    const grants = change === 'granted' ? ctx.server.grant(userId, OPS_ACCESS_GRANTS, options) : ctx.server.revoke(userId, OPS_ACCESS_GRANTS, options);
    const changed = had !== grants.includes(ROOM_GRANT);
    if (changed) ctx.server.publish(OPS_CHANNEL, 'access', { userId, userName: user.name, change, by: by.id, byName: by.name });
    return { userId, changed, grants };
  };
}

// Only connections with `call:ops.*` (staff tokens) reach these handlers: the server checks the grant first.
export default definePlug({
  name: 'ops',
  events,
  messages: {
    'ops.grant': {
      description: 'Staff only: gives an online customer ops access (read and post in private-ops), at once',
      input: target,
      output: result,
      handler: changeAccess('granted'),
    },
    'ops.revoke': {
      description: 'Staff only: takes ops access away from a customer; their connections leave private-ops at once',
      input: target,
      output: result,
      handler: changeAccess('revoked'),
    },
  },
});
