// Live permission changes: whoever has ops access can grant it to or take it from another user, at once.
import { definePlug, z } from '@switchboard/server';
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

// Only connections with `call:ops.*` reach these handlers: the server checks the grant before the plug runs.
export default definePlug({
  name: 'ops',
  messages: {
    'ops.grant': {
      description: 'Gives a user ops access (subscribe and publish on private-ops, call ops.*), effective at once',
      input: target,
      output: result,
      handler({ userId }, ctx) {
        const by = signedInUser(ctx.connection);
        // Every connection of that user gets `$grants` with this reason, and may subscribe right away.
        const grants = ctx.server.grant(userId, OPS_GRANTS, { reason: `ops access granted by ${by.name}` });
        ctx.server.publish(OPS_CHANNEL, 'access', { userId, change: 'granted', by: by.id, byName: by.name } satisfies AccessEvent);
        return { userId, grants };
      },
    },
    'ops.revoke': {
      description: 'Takes ops access away from a user; their connections leave private-ops at once',
      input: target,
      output: result,
      handler({ userId }, ctx) {
        const by = signedInUser(ctx.connection);
        // Removes the user from private-ops before it returns, so the event below no longer reaches them.
        const grants = ctx.server.revoke(userId, OPS_GRANTS, { reason: `ops access revoked by ${by.name}` });
        ctx.server.publish(OPS_CHANNEL, 'access', { userId, change: 'revoked', by: by.id, byName: by.name } satisfies AccessEvent);
        return { userId, grants };
      },
    },
  },
});
