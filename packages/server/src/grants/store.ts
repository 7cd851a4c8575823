// Grants set at runtime, per identity, kept in memory across reconnects; and the users that are disabled.

/** The runtime layer of one identity's grants, on top of what its token carries. */
export interface RuntimeGrants {
  /** Replaces the token's grants when set (`setGrants`). */
  set: string[] | undefined;
  /** Added with `grant`. */
  added: Set<string>;
  /** Removed with `revoke`: wins over the token, the default grants and `set`. */
  revoked: Set<string>;
}

/**
 * Holds runtime grant changes and disabled users for this server process. Pure data: applying a change to
 * live connections is the auth subsystem's job.
 *
 * @example
 * store.grant('user-42', ['subscribe:private-team-a']);
 * store.effective(['call:*'], tokenGrants, 'user-42');
 */
export class GrantStore {
  private readonly runtime = new Map<string, RuntimeGrants>();
  private readonly disabledUsers = new Map<string, string>();

  /** The runtime layer of an identity, if it has one. */
  get(identityId: string): RuntimeGrants | undefined {
    return this.runtime.get(identityId);
  }

  grant(identityId: string, grants: readonly string[]): void {
    const entry = this.entry(identityId);
    for (const grant of grants) {
      entry.revoked.delete(grant);
      entry.added.add(grant);
    }
  }

  revoke(identityId: string, grants: readonly string[]): void {
    const entry = this.entry(identityId);
    for (const grant of grants) {
      entry.added.delete(grant);
      entry.revoked.add(grant);
    }
    if (entry.set) entry.set = entry.set.filter((grant) => !entry.revoked.has(grant));
  }

  /** Replaces the identity's grants (the default grants still apply); clears earlier grant/revoke calls. */
  setGrants(identityId: string, grants: readonly string[]): void {
    const entry = this.entry(identityId);
    entry.set = [...new Set(grants)];
    entry.added.clear();
    entry.revoked.clear();
  }

  /** Forgets every runtime change: the identity's grants come from its token again. */
  reset(identityId: string): void {
    this.runtime.delete(identityId);
  }

  /**
   * An identity's effective grants: the default grants, plus the token's grants (or the runtime `set`),
   * plus the runtime additions, minus the runtime revocations.
   */
  effective(defaults: readonly string[], tokenGrants: readonly string[], identityId: string): string[] {
    const entry = this.runtime.get(identityId);
    if (entry === undefined) return [...defaults, ...tokenGrants];
    const all = new Set([...defaults, ...(entry.set ?? tokenGrants), ...entry.added]);
    for (const grant of entry.revoked) all.delete(grant);
    return [...all];
  }

  disable(identityId: string, reason: string): void {
    this.disabledUsers.set(identityId, reason);
  }

  enable(identityId: string): boolean {
    return this.disabledUsers.delete(identityId);
  }

  /** Why the identity was disabled, or undefined when it is not. */
  disabled(identityId: string): string | undefined {
    return this.disabledUsers.get(identityId);
  }

  private entry(identityId: string): RuntimeGrants {
    let entry = this.runtime.get(identityId);
    if (entry === undefined) {
      entry = { set: undefined, added: new Set(), revoked: new Set() };
      this.runtime.set(identityId, entry);
    }
    return entry;
  }
}
