// Live permission changes: whoever has ops access can grant it to or take it from another user, at once.
import { definePlug, z, type HandlerContext } from '@switchboard/server';
import { OPS_CHANNEL, OPS_GRANTS, signedInUser } from '../auth.ts';

/** What `ops.grant` and `ops.revoke` take: the identity id (`sub`) of the user to change. */
const target = z.object({ userId: z.string().trim().min(1).max(200) });
/** The target's grants after the change, so the caller can show the outcome. */
const result = z.object({ userId: z.string(), grants: z.array(z.string()) });

/** The operational event every ops member sees when access changes: `access` on the ops channel. */
export interface AccessEvent {
  userId: string;
  change: 'granted' | 'revoked';
  by: string;
  byName: string;
}

/**
 * The handler of `ops.grant` and `ops.revoke`: changes the target's ops grants on every one of its live
 * connections, then tells the ops room. A revoke removes the user from the room before it returns, so the
 * `access` event no longer reaches them; a grant lets them subscribe right away.
 */
function changeAccess(change: AccessEvent['change']) {
  return ({ userId }: z.output<typeof target>, ctx: HandlerContext): z.input<typeof result> => {
    const by = signedInUser(ctx.connection);
    const options = { reason: `ops access ${change} by ${by.name}` };
    const grants = change === 'granted' ? ctx.server.grant(userId, OPS_GRANTS, options) : ctx.server.revoke(userId, OPS_GRANTS, options);
    ctx.server.publish(OPS_CHANNEL, 'access', { userId, change, by: by.id, byName: by.name } satisfies AccessEvent);
    return { userId, grants };
  };
}

// Only connections with `call:ops.*` reach these handlers: the server checks the grant before the plug runs.
export default definePlug({
  name: 'ops',
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
