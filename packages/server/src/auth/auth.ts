// Authentication and live grants: who each connection is, what it may do, and applying changes at once.
import type { IncomingMessage } from 'node:http';
import { CloseCode, ErrorCode, GrantsReason, SystemType, UnsubscribeReason, type Envelope, type GrantsChange } from '@switchboard/protocol';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { GrantApi, GrantChangeOptions } from '../api.ts';
import type { Connection, ConnectionInfo } from '../connection/connection.ts';
import { DevErrorCode, MessageError, SwitchboardError } from '../errors.ts';
import type { Admission, Feature, ProtocolRoute, Refusal, RouteKind, UpgradeContext } from '../feature.ts';
import type { HandlerContext } from '../plug/define.ts';
import { diffGrants, grantFor, grantSet, isGrant, type GrantAction, type GrantSet } from '../grants/grant-set.ts';
import type { GrantStore } from '../grants/store.ts';
import type { GrantChange } from '../bus/bus.ts';
import type { UpgradeDecision } from '../transport/transport.ts';
import type { Identity, ResolvedAuthOptions } from './options.ts';
import type { Session } from './session.ts';
import { createVerifier, type Verified } from './verify.ts';

/** setTimeout's longest delay; longer waits re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A WebSocket close reason must fit in 123 bytes of UTF-8. */
function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  return reason;
}

const UNAUTHENTICATED: Refusal = {
  code: ErrorCode.unauthenticated,
  message: 'authenticate first: send $auth { token } (only $auth and $ping are accepted before)',
};

function forbidden(action: GrantAction, target: string): Refusal {
  const grant = grantFor(action, target);
  return { code: ErrorCode.forbidden, message: `missing grant "${grant}"`, grant };
}

/** The token of an upgrade request: `Authorization: Bearer …`, else the `token` query parameter (browsers). */
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined && header.startsWith('Bearer ')) return header.slice(7).trim();
  const url = request.url ?? '';
  const query = url.indexOf('?');
  if (query < 0) return undefined;
  return new URLSearchParams(url.slice(query + 1)).get('token') ?? undefined;
}

/** An `authenticate` hook's answer, checked and frozen; a string says what is wrong with it. */
function normalizeIdentity(value: Identity): Identity | string {
  if (typeof value !== 'object' || value === null) return 'it must return an identity object or null';
  if (typeof value.id !== 'string' || value.id.length === 0) return 'identity.id must be a non-empty string';
  const grants = value.grants ?? [];
  if (!Array.isArray(grants) || grants.some((grant) => typeof grant !== 'string')) return 'identity.grants must be an array of strings';
  if (value.info !== undefined && (typeof value.info !== 'object' || value.info === null)) return 'identity.info must be an object';
  if (value.expiresAt !== undefined && !Number.isFinite(value.expiresAt)) return 'identity.expiresAt must be a number (ms since the epoch)';
  // Copies, so that freezing them does not freeze objects the application still uses.
  const identity: Identity = { id: value.id, grants: [...grants] };
  if (value.info !== undefined) identity.info = { ...value.info };
  if (value.expiresAt !== undefined) identity.expiresAt = value.expiresAt;
  return freezeIdentity(identity);
}

function freezeIdentity(identity: Identity): Identity {
  Object.freeze(identity.grants);
  if (identity.info) Object.freeze(identity.info);
  return Object.freeze(identity);
}

function checkArguments(identityId: unknown, grants: unknown): void {
  if (typeof identityId !== 'string' || identityId.length === 0) {
    throw new SwitchboardError(DevErrorCode.badArgument, 'identityId must be a non-empty string (the token\'s sub)');
  }
  if (grants === undefined) return;
  if (!Array.isArray(grants)) throw new SwitchboardError(DevErrorCode.badArgument, 'grants must be an array of grant strings');
  const bad = grants.filter((grant) => typeof grant !== 'string' || !isGrant(grant));
  if (bad.length > 0) {
    throw new SwitchboardError(
      DevErrorCode.badArgument,
      `${bad.map((grant) => JSON.stringify(grant)).join(', ')}: not a grant; use call:<type>, subscribe:<channel>, publish:<channel> or broadcast (* matches any run of characters)`,
    );
  }
}

/** The auth state of a connection: its `access` slot holds the session this feature set when it opened. */
function sessionOf(connection: Connection): Session | undefined {
  return connection.access as Session | undefined;
}

/** What the auth feature is handed by `server.ts`. */
export interface AuthHost {
  readonly log: Logger;
  sendTo(connection: Connection, envelope: Envelope): boolean;
  closeConnection(connection: Connection, code: number, reason: string): void;
  /** A connection's identity or grants changed: the other features drop what it may no longer have. */
  accessChanged(connection: Connection, reason: string): void;
  /** A runtime change was made here (not one applied from another node): the server tells the cluster. */
  changed?(identityId: string, change: GrantChange, reason: string | undefined): void;
}

const authInput = z.strictObject({ token: z.string().min(1) });

// The one timer callback for every session: no closure per connection.
function onSessionTimer(auth: Auth, connection: Connection): void {
  auth.timerFired(connection);
}

/**
 * The auth subsystem: verifies credentials on upgrade and with `$auth`, holds each connection's identity
 * and grants, checks every message's `call:` grant, runs expiry timers, and applies runtime grant changes.
 *
 * @example
 * const auth = new Auth(core, resolveAuthOptions({ secret }), new GrantStore());
 * auth.install();
 */
export class Auth implements Feature, GrantApi {
  readonly name = 'auth';
  readonly options: ResolvedAuthOptions;
  readonly store: GrantStore;
  /** The grants of an anonymous connection. */
  readonly defaults: GrantSet;
  readonly routes: readonly ProtocolRoute[];
  private readonly core: AuthHost;
  private readonly verifyToken: ((token: string) => Promise<Verified>) | undefined;
  private readonly anonymous: Session;
  /** Local connections by identity id: what a grant change or a disabled user applies to. */
  private readonly byIdentity = new Map<string, Set<Connection>>();
  /** While a change from another node is applied: it is not sent back to the cluster. */
  private applying = false;

  constructor(host: AuthHost, options: ResolvedAuthOptions, store: GrantStore) {
    this.core = host;
    this.options = options;
    this.store = store;
    this.defaults = grantSet(options.defaultGrants);
    const jwt = options.secret !== undefined || options.publicKeys.length > 0 || options.jwksUrl !== undefined;
    this.verifyToken = jwt ? createVerifier(options) : undefined;
    this.anonymous = Object.freeze({ identity: undefined, grants: this.defaults, timer: undefined, warned: false, request: undefined }) as Session;
    this.routes = [
      {
        type: SystemType.auth,
        input: authInput,
        description: 'authenticate, or refresh the token of the same identity',
        handler: (data: z.output<typeof authInput>, ctx: HandlerContext) => this.onAuth(ctx.connection, data.token, ctx),
      },
    ];
  }

  // ---------------------------------------------------------------- checks other subsystems use

  /** A connection's effective grants. */
  grantsOfConnection(connection: Connection): GrantSet {
    return sessionOf(connection)?.grants ?? this.defaults;
  }

  /**
   * Whether the connection may do `action` on `target`: by grant, else (authenticated only) by the
   * `authorize` hook. A promise only when the hook is asked.
   */
  allows(connection: Connection, action: GrantAction, target: string): boolean | Promise<boolean> {
    if (this.grantsOfConnection(connection).allows(action, target)) return true;
    const identity = sessionOf(connection)?.identity;
    return identity === undefined ? false : this.askHook(identity, action, target);
  }

  /** The same check for an identity without a connection (HTTP publish with a JWT). */
  identityAllows(identity: Identity, action: GrantAction, target: string): boolean | Promise<boolean> {
    return this.grantSetFor(identity).allows(action, target) || this.askHook(identity, action, target);
  }

  /** Asks the `authorize` hook; a hook that throws refuses (fail closed) and is logged. */
  askHook(identity: Identity, action: GrantAction, target: string): boolean | Promise<boolean> {
    const hook = this.options.authorize;
    if (hook === undefined) return false;
    try {
      const answer = hook(identity, { action, target });
      if (typeof answer === 'boolean') return answer;
      return Promise.resolve(answer).then(
        (value) => value === true,
        (error: unknown) => {
          this.core.log.error({ err: error, hook: 'authorize', identity: identity.id, action, target }, 'authorize hook threw; refused');
          return false;
        },
      );
    } catch (error) {
      this.core.log.error({ err: error, hook: 'authorize', identity: identity.id, action, target }, 'authorize hook threw; refused');
      return false;
    }
  }

  /**
   * Checks credentials: the `authenticate` hook when configured, else the JWT. Undefined when there were
   * none to check (no token, and the hook returned null).
   */
  async authenticate(token: string | undefined, request: IncomingMessage | undefined): Promise<Verified | undefined> {
    let verified: Verified;
    const hook = this.options.authenticate;
    if (hook !== undefined) {
      let answer: Identity | null;
      try {
        answer = await hook({ token, request: request! });
      } catch (error) {
        this.core.log.error({ err: error, hook: 'authenticate' }, 'authenticate hook threw; credentials refused');
        return { ok: false, code: ErrorCode.authFailed, message: 'the credentials could not be checked' };
      }
      if (answer === null || answer === undefined) {
        return token === undefined ? undefined : { ok: false, code: ErrorCode.authFailed, message: 'the credentials were refused' };
      }
      const identity = normalizeIdentity(answer);
      if (typeof identity === 'string') {
        this.core.log.error({ hook: 'authenticate', problem: identity }, `authenticate hook returned a bad identity: ${identity}`);
        return { ok: false, code: ErrorCode.authFailed, message: 'the credentials could not be checked' };
      }
      verified = { ok: true, identity };
    } else if (token === undefined) {
      return undefined;
    } else if (this.verifyToken === undefined) {
      return { ok: false, code: ErrorCode.authFailed, message: 'this server is not configured to accept tokens' };
    } else {
      verified = await this.verifyToken(token);
      if (!verified.ok && verified.code === ErrorCode.authFailed) {
        this.core.log.error({ err: verified.cause }, 'token could not be checked (JWKS unreachable?)');
      }
      if (verified.ok) verified = { ok: true, identity: freezeIdentity(verified.identity) };
    }
    if (!verified.ok) return verified;
    const identity = verified.identity;
    const disabled = this.store.disabled(identity.id);
    if (disabled !== undefined) return { ok: false, code: ErrorCode.userDisabled, message: `this user is disabled: ${disabled}` };
    if (identity.expiresAt !== undefined && identity.expiresAt <= Date.now()) {
      return { ok: false, code: ErrorCode.tokenExpired, message: 'the credentials have expired' };
    }
    return verified;
  }

  // ---------------------------------------------------------------- core listeners

  async upgrade(request: IncomingMessage, context: UpgradeContext): Promise<UpgradeDecision<UpgradeContext>> {
    const verified = await this.authenticate(bearerToken(request), request);
    if (verified === undefined) return { ok: true, context };
    if (!verified.ok) {
      return { ok: false, status: verified.code === ErrorCode.userDisabled ? 403 : 401, code: verified.code, message: verified.message };
    }
    return { ok: true, context: { ...context, identity: verified.identity } };
  }

  open(connection: Connection, context: UpgradeContext): void {
    const identity = context.identity;
    // The hook may need the request again for `$auth`; otherwise it is not kept.
    const request = this.options.authenticate ? context.request : undefined;
    if (identity !== undefined) {
      connection.access = { identity, grants: this.grantSetFor(identity), timer: undefined, warned: false, request } as Session;
      this.index(connection, identity.id);
      // Disabled between the upgrade check and now.
      const disabled = this.store.disabled(identity.id);
      if (disabled !== undefined) this.core.closeConnection(connection, CloseCode.kicked, closeReason(disabled));
    } else if (!this.options.anonymous || request !== undefined) {
      connection.access = { identity: undefined, grants: this.defaults, timer: undefined, warned: false, request } as Session;
    } else {
      connection.access = this.anonymous;
    }
  }

  /** Timers start once `$welcome` is out, so a warning never comes before it. */
  ready(connection: Connection): void {
    this.arm(connection);
  }

  close(connection: Connection): void {
    const session = sessionOf(connection);
    if (session === undefined || session === this.anonymous) return;
    clearTimeout(session.timer);
    session.timer = undefined;
    if (session.identity) this.unindex(connection, session.identity.id);
  }

  welcome(connection: Connection): Record<string, unknown> {
    const session = sessionOf(connection);
    if (session === undefined) return {};
    const identity = session.identity;
    if (identity === undefined) return { grants: session.grants.list };
    return {
      identity: { id: identity.id, info: identity.info ?? {} },
      grants: session.grants.list,
      ...(identity.expiresAt === undefined ? {} : { expiresAt: identity.expiresAt }),
    };
  }

  describe(connection: Connection): Partial<ConnectionInfo> {
    const session = sessionOf(connection);
    if (session === undefined) return {};
    return {
      ...(session.identity ? { identity: { id: session.identity.id, info: session.identity.info ?? {} } } : {}),
      grants: session.grants.list,
    };
  }

  /**
   * Every message passes here. Before authentication (on a server that requires it) every type but `$auth`
   * and `$ping` gets `unauthenticated`, whether it exists or not, so types cannot be enumerated; plug
   * messages need `call:`; protocol messages check their own grants (subscribe, publish, broadcast).
   */
  authorize(connection: Connection, type: string, route: RouteKind | undefined): Admission {
    const session = sessionOf(connection);
    if (session === undefined) return undefined;
    if (session.identity === undefined && !this.options.anonymous) {
      return type === SystemType.auth || type === SystemType.ping ? undefined : UNAUTHENTICATED;
    }
    if (route === undefined || route.protocol) return undefined;
    if (session.grants.allows('call', type)) return undefined;
    if (session.identity === undefined || this.options.authorize === undefined) return forbidden('call', type);
    const answer = this.askHook(session.identity, 'call', type);
    if (answer === true) return undefined;
    if (answer === false) return forbidden('call', type);
    return answer.then((allowed) => (allowed ? undefined : forbidden('call', type)));
  }

  // ---------------------------------------------------------------- $auth

  private async onAuth(connection: Connection, token: string, ctx: HandlerContext): Promise<void> {
    const verified = await this.authenticate(token, sessionOf(connection)?.request);
    if (connection.closed) return;
    if (verified === undefined || !verified.ok) {
      throw new MessageError(verified?.code ?? ErrorCode.authFailed, verified?.message ?? 'the credentials were refused');
    }
    const identity = verified.identity;
    const current = sessionOf(connection)?.identity;
    if (current !== undefined && current.id !== identity.id) {
      throw new MessageError(ErrorCode.forbidden, `a refresh must be for the same identity ("${current.id}"); open a new connection to switch users`);
    }
    const before = this.grantsOfConnection(connection);
    const session = this.ownSession(connection);
    session.identity = identity;
    session.grants = this.grantSetFor(identity);
    session.warned = false;
    if (current === undefined) this.index(connection, identity.id);
    ctx.reply({ identity: { id: identity.id, info: identity.info ?? {} }, grants: session.grants.list, expiresAt: identity.expiresAt ?? null });
    this.applied(connection, before, current === undefined ? GrantsReason.authenticated : GrantsReason.tokenRefreshed, UnsubscribeReason.grantRevoked);
    this.arm(connection);
  }

  /** The connection's own session, replacing the shared anonymous one. */
  private ownSession(connection: Connection): Session {
    const session = sessionOf(connection);
    if (session !== undefined && session !== this.anonymous) return session;
    const own: Session = { identity: undefined, grants: this.defaults, timer: undefined, warned: false, request: undefined };
    connection.access = own;
    return own;
  }

  // ---------------------------------------------------------------- timers

  /**
   * Schedules the connection's next timer: the authentication deadline, the expiry warning or the expiry.
   * One timer per connection, unref'd; re-armed on every `$auth`.
   */
  private arm(connection: Connection): void {
    const session = sessionOf(connection);
    if (session === undefined || session === this.anonymous || connection.closed) return;
    clearTimeout(session.timer);
    session.timer = undefined;
    const identity = session.identity;
    if (identity === undefined) {
      if (!this.options.anonymous) this.schedule(session, connection, this.options.authTimeoutMs);
      return;
    }
    const expiresAt = identity.expiresAt;
    if (expiresAt === undefined) return;
    const now = Date.now();
    if (now >= expiresAt) return this.expire(connection);
    const warning = this.options.expiryWarningMs;
    if (warning > 0 && !session.warned) {
      if (now < expiresAt - warning) return this.schedule(session, connection, expiresAt - warning - now);
      session.warned = true;
      this.core.sendTo(connection, { type: SystemType.authExpiring, data: { expiresAt, inMs: expiresAt - now } });
    }
    this.schedule(session, connection, expiresAt - now);
  }

  private schedule(session: Session, connection: Connection, delay: number): void {
    session.timer = setTimeout(onSessionTimer, Math.min(Math.max(0, delay), MAX_TIMER_MS), this, connection);
    session.timer.unref();
  }

  /** @internal the session timer fired. */
  timerFired(connection: Connection): void {
    const session = sessionOf(connection);
    if (session === undefined || connection.closed) return;
    session.timer = undefined;
    if (session.identity === undefined) {
      if (!this.options.anonymous) this.core.closeConnection(connection, CloseCode.unauthorized, 'authentication required');
      return;
    }
    // Early when the wait was longer than setTimeout allows: arm() schedules the rest.
    this.arm(connection);
  }

  private expire(connection: Connection): void {
    const session = sessionOf(connection)!;
    const identity = session.identity!;
    if (this.options.onExpiry === 'close') {
      this.core.closeConnection(connection, CloseCode.unauthorized, 'token_expired');
      return;
    }
    const before = session.grants;
    this.unindex(connection, identity.id);
    session.identity = undefined;
    session.grants = this.defaults;
    session.warned = false;
    this.applied(connection, before, GrantsReason.tokenExpired, UnsubscribeReason.tokenExpired);
    // Without anonymous access the downgraded connection gets a new authentication deadline.
    this.arm(connection);
  }

  // ---------------------------------------------------------------- live changes

  private grantSetFor(identity: Identity): GrantSet {
    return grantSet(this.store.effective(this.options.defaultGrants, identity.grants, identity.id));
  }

  /** After an identity or grant change: channels drop what is no longer allowed, then `$grants` tells the client. */
  private applied(connection: Connection, before: GrantSet, reason: string, unsubscribeReason: string): void {
    this.core.accessChanged(connection, unsubscribeReason);
    const after = this.grantsOfConnection(connection);
    if (after === before) return;
    const { added, removed } = diffGrants(before, after);
    if (added.length === 0 && removed.length === 0) return;
    const change: GrantsChange = { grants: [...after.list], added, removed, reason };
    this.core.sendTo(connection, { type: SystemType.grants, data: change });
  }

  /** Recomputes the grants of every local connection of an identity and applies the difference. */
  private refresh(identityId: string, reason: string): void {
    const connections = this.byIdentity.get(identityId);
    if (connections === undefined) return;
    for (const connection of [...connections]) {
      const session = sessionOf(connection)!;
      const before = session.grants;
      session.grants = this.grantSetFor(session.identity!);
      this.applied(connection, before, reason, UnsubscribeReason.grantRevoked);
    }
  }

  private index(connection: Connection, identityId: string): void {
    let connections = this.byIdentity.get(identityId);
    if (connections === undefined) {
      connections = new Set();
      this.byIdentity.set(identityId, connections);
    }
    connections.add(connection);
  }

  private unindex(connection: Connection, identityId: string): void {
    const connections = this.byIdentity.get(identityId);
    if (connections === undefined) return;
    connections.delete(connection);
    if (connections.size === 0) this.byIdentity.delete(identityId);
  }

  /** How many local connections an identity has. */
  connectionsOf(identityId: string): number {
    return this.byIdentity.get(identityId)?.size ?? 0;
  }

  // ---------------------------------------------------------------- GrantApi

  grant(identityId: string, grants: string[], options?: GrantChangeOptions): string[] {
    return this.update(identityId, { add: grants }, options);
  }

  revoke(identityId: string, grants: string[], options?: GrantChangeOptions): string[] {
    return this.update(identityId, { remove: grants }, options);
  }

  setGrants(identityId: string, grants: string[], options?: GrantChangeOptions): string[] {
    return this.update(identityId, { set: grants }, options);
  }

  resetGrants(identityId: string, options?: GrantChangeOptions): string[] {
    return this.update(identityId, { reset: true }, options);
  }

  /**
   * Several changes at once, applied in this order (reset, set, add, remove), then pushed to the
   * identity's connections as one `$grants`. What `POST /admin/grants` does.
   */
  update(identityId: string, change: { reset?: boolean; set?: string[]; add?: string[]; remove?: string[] }, options?: GrantChangeOptions): string[] {
    checkArguments(identityId, change.set);
    checkArguments(identityId, change.add);
    checkArguments(identityId, change.remove);
    if (change.reset === true) this.store.reset(identityId);
    if (change.set !== undefined) this.store.setGrants(identityId, change.set);
    if (change.add !== undefined) this.store.grant(identityId, change.add);
    if (change.remove !== undefined) this.store.revoke(identityId, change.remove);
    this.refresh(identityId, options?.reason ?? GrantsReason.grantChanged);
    if (!this.applying) this.core.changed?.(identityId, { op: 'update', ...change }, options?.reason);
    return this.grantsOf(identityId);
  }

  /**
   * Applies a change made on another node (from the bus) to this node's connections of the identity,
   * without telling the cluster again and without persisting it: the node that made it did both.
   */
  applyRemote(identityId: string, change: GrantChange, reason: string | undefined): void {
    const persist = this.store.persist;
    this.applying = true;
    this.store.persist = undefined;
    try {
      const options = reason === undefined ? undefined : { reason };
      switch (change.op) {
        case 'grant':
          this.update(identityId, { add: change.grants }, options);
          break;
        case 'revoke':
          this.update(identityId, { remove: change.grants }, options);
          break;
        case 'set':
          this.update(identityId, { set: change.grants }, options);
          break;
        case 'reset':
          this.update(identityId, { reset: true }, options);
          break;
        case 'update': {
          const { op: _op, ...rest } = change;
          this.update(identityId, rest, options);
          break;
        }
        case 'disable':
          this.disableUser(identityId, change.reason);
          break;
        case 'enable':
          this.enableUser(identityId);
          break;
      }
    } finally {
      this.applying = false;
      this.store.persist = persist;
    }
  }

  /**
   * The identity's effective grants: those of its connections here (the union: their tokens may differ),
   * or, with none connected, the default grants with the runtime changes (its next token adds its own).
   */
  grantsOf(identityId: string): string[] {
    checkArguments(identityId, undefined);
    const connections = this.byIdentity.get(identityId);
    if (connections === undefined) return [...grantSet(this.store.effective(this.options.defaultGrants, [], identityId)).list];
    const all = new Set<string>();
    for (const connection of connections) for (const grant of this.grantsOfConnection(connection).list) all.add(grant);
    return [...all].sort();
  }

  disableUser(identityId: string, reason = 'disabled by the server'): number {
    checkArguments(identityId, undefined);
    this.store.disable(identityId, reason);
    if (!this.applying) this.core.changed?.(identityId, { op: 'disable', reason }, undefined);
    const connections = this.byIdentity.get(identityId);
    if (connections === undefined) return 0;
    for (const connection of connections) this.core.closeConnection(connection, CloseCode.kicked, closeReason(reason));
    return connections.size;
  }

  enableUser(identityId: string): boolean {
    checkArguments(identityId, undefined);
    if (!this.applying) this.core.changed?.(identityId, { op: 'enable' }, undefined);
    return this.store.enable(identityId);
  }
}
