// Live permission changes: whoever has ops access can grant it to or take it from another user, at once.
import { definePlug, z, type HandlerContext } from '@switchboard/server';
import { OPS_CHANNEL, OPS_GRANTS, signedInUser } from '../auth.ts';

/** What `ops.grant` and `ops.revoke` take: the identity id (`sub`) of the user to change. */
const target = z.object({ userId: z.string().trim().min(1).max(200) });
/** The target's grants after the change, so the caller can show the outcome. */
const result = z.object({ userId: z.string(), grants: z.array(z.string()) });

/** The operational event every ops member sees when access changes: `access` on the ops channel. */
const accessEvent = z.object({
  userId: z.string(),
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

/**
 * The handler of `ops.grant` and `ops.revoke`: changes the target's ops grants on every one of its live
 * connections, then tells the ops room. A revoke removes the user from the room before it returns, so the
 * `access` event no longer reaches them; a grant lets them subscribe right away.
 */
function changeAccess(change: AccessEvent['change']) {
  return ({ userId }: z.output<typeof target>, ctx: OpsContext): z.input<typeof result> => {
    const by = signedInUser(ctx.connection);
    const options = { reason: `ops access ${change} by ${by.name}` };
    const grants = change === 'granted' ? ctx.server.grant(userId, OPS_GRANTS, options) : ctx.server.revoke(userId, OPS_GRANTS, options);
    ctx.server.publish(OPS_CHANNEL, 'access', { userId, change, by: by.id, byName: by.name });
    return { userId, grants };
  };
}

// Only connections with `call:ops.*` reach these handlers: the server checks the grant before the plug runs.
export default definePlug({
  name: 'ops',
  events,
  messages: {
    'ops.grant': {
      description: 'Gives a user ops access (subscribe and publish on private-ops, call ops.*), effective at once',
      input: target,
      output: result,
      handler: changeAccess('granted'),
    },
    'ops.revoke': {
      description: 'Takes ops access away from a user; their connections leave private-ops at once',
      input: target,
      output: result,
      handler: changeAccess('revoked'),
    },
  },
});
