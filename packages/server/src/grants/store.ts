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

/** Where runtime grant changes and disabled users are persisted (the server's store), told of each change. */
export interface GrantPersistence {
  saved(identityId: string, record: { set: string[] | null; added: string[]; removed: string[] }): void;
  deleted(identityId: string): void;
  disabled(identityId: string, reason: string): void;
  enabled(identityId: string): void;
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
  /** Told of every change, to persist it (the server's store). */
  persist: GrantPersistence | undefined = undefined;

  /** Takes the persisted state of a store (at start), replacing what is held. */
  load(snapshot: { grants: { identityId: string; set: string[] | null; added: string[]; removed: string[] }[]; disabled: { identityId: string; reason: string }[] }): void {
    this.runtime.clear();
    this.disabledUsers.clear();
    for (const record of snapshot.grants) {
      this.runtime.set(record.identityId, { set: record.set === null ? undefined : [...record.set], added: new Set(record.added), revoked: new Set(record.removed) });
    }
    for (const user of snapshot.disabled) this.disabledUsers.set(user.identityId, user.reason);
  }

  private changed(identityId: string): void {
    const entry = this.runtime.get(identityId);
    if (entry === undefined) this.persist?.deleted(identityId);
    else this.persist?.saved(identityId, { set: entry.set === undefined ? null : [...entry.set], added: [...entry.added], removed: [...entry.revoked] });
  }

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
    this.changed(identityId);
  }

  revoke(identityId: string, grants: readonly string[]): void {
    const entry = this.entry(identityId);
    for (const grant of grants) {
      entry.added.delete(grant);
      entry.revoked.add(grant);
    }
    if (entry.set) entry.set = entry.set.filter((grant) => !entry.revoked.has(grant));
    this.changed(identityId);
  }

  /** Replaces the identity's grants (the default grants still apply); clears earlier grant/revoke calls. */
  setGrants(identityId: string, grants: readonly string[]): void {
    const entry = this.entry(identityId);
    entry.set = [...new Set(grants)];
    entry.added.clear();
    entry.revoked.clear();
    this.changed(identityId);
  }

  /** Forgets every runtime change: the identity's grants come from its token again. */
  reset(identityId: string): void {
    if (this.runtime.delete(identityId)) this.changed(identityId);
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
    this.persist?.disabled(identityId, reason);
  }

  enable(identityId: string): boolean {
    const was = this.disabledUsers.delete(identityId);
    if (was) this.persist?.enabled(identityId);
    return was;
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
