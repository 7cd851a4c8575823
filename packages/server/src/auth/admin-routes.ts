// Admin HTTP routes for grants and users: read and change an identity's grants, disable and enable users.
import { adminError, type AdminApi, type AdminResponse } from '../admin.ts';
import type { Auth } from './auth.ts';
import { SwitchboardError } from '../errors.ts';

function record(body: unknown): Record<string, unknown> | undefined {
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
}

function optionalGrants(value: unknown): string[] | undefined | false {
  if (value === undefined) return undefined;
  return Array.isArray(value) && value.every((grant) => typeof grant === 'string') ? value : false;
}

/** A bad argument (SB_BAD_ARGUMENT) becomes a 400 that says what to fix. */
function guarded(run: () => AdminResponse): AdminResponse {
  try {
    return run();
  } catch (error) {
    if (error instanceof SwitchboardError) return adminError(400, 'bad_request', error.message);
    throw error;
  }
}

/**
 * Registers `GET /grants`, `POST /grants`, `POST /users/disable` and `POST /users/enable`.
 *
 * @example
 * registerGrantRoutes(admin, auth);
 * // curl -X POST localhost:3000/admin/grants -d '{"identity":"user-42","remove":["subscribe:private-team-a"]}'
 */
export function registerGrantRoutes(admin: AdminApi, auth: Auth): void {
  admin.route('GET', '/grants', ({ query }) => {
    const identity = query.get('identity');
    if (!identity) return adminError(400, 'bad_request', 'pass ?identity=<id>');
    const runtime = auth.store.get(identity);
    return {
      status: 200,
      body: {
        identity,
        grants: auth.grantsOf(identity),
        runtime: runtime ? { set: runtime.set ?? null, added: [...runtime.added], revoked: [...runtime.revoked] } : null,
        disabled: auth.store.disabled(identity) ?? null,
        connections: auth.connectionsOf(identity),
      },
    };
  });

  admin.route('POST', '/grants', ({ body }) => {
    const input = record(body);
    if (!input || typeof input.identity !== 'string' || input.identity.length === 0) {
      return adminError(400, 'bad_request', 'send { "identity": "<id>", "add"?: [...], "remove"?: [...], "set"?: [...], "reset"?: true, "reason"?: "..." }');
    }
    const identity = input.identity;
    const add = optionalGrants(input.add);
    const remove = optionalGrants(input.remove);
    const set = optionalGrants(input.set);
    if (add === false || remove === false || set === false) return adminError(400, 'bad_request', 'add, remove and set must be arrays of grant strings');
    if (input.reason !== undefined && typeof input.reason !== 'string') return adminError(400, 'bad_request', 'reason must be a string');
    if (input.reset !== undefined && typeof input.reset !== 'boolean') return adminError(400, 'bad_request', 'reset must be true or false');
    const reason = input.reason;
    return guarded(() => ({
      status: 200,
      body: { identity, grants: auth.update(identity, { reset: input.reset === true, set, add, remove }, { reason }) },
    }));
  });

  admin.route('POST', '/users/disable', ({ body }) => {
    const input = record(body);
    if (!input || typeof input.identity !== 'string' || input.identity.length === 0) {
      return adminError(400, 'bad_request', 'send { "identity": "<id>", "reason"?: "..." }');
    }
    if (input.reason !== undefined && typeof input.reason !== 'string') return adminError(400, 'bad_request', 'reason must be a string');
    const identity = input.identity;
    const reason = input.reason;
    return guarded(() => ({ status: 200, body: { identity, disabled: true, closed: auth.disableUser(identity, reason) } }));
  });

  admin.route('POST', '/users/enable', ({ body }) => {
    const input = record(body);
    if (!input || typeof input.identity !== 'string' || input.identity.length === 0) {
      return adminError(400, 'bad_request', 'send { "identity": "<id>" }');
    }
    const identity = input.identity;
    return guarded(() => ({ status: 200, body: { identity, wasDisabled: auth.enableUser(identity) } }));
  });
}
