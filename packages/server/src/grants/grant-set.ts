// Grant strings (`call:orders.*`, `subscribe:private-team-*`, `read:orders`, `broadcast`), compiled once into fast matchers.

/**
 * What a grant allows: calling a message type, subscribing to or publishing on a channel, reading or
 * writing a resource, or broadcasting.
 */
export type GrantAction = 'call' | 'subscribe' | 'publish' | 'read' | 'write' | 'join' | 'broadcast';

const ACTIONS_WITH_TARGET = new Set(['call', 'subscribe', 'publish', 'read', 'write', 'join']);
/** Targets may use the characters of message types and channel names, plus `*`. */
const TARGET_PATTERN = /^[A-Za-z0-9_\-.:@=,;*]{1,200}$/;

/**
 * Whether a string is a grant the server understands: `call:<pattern>`, `subscribe:<pattern>`,
 * `publish:<pattern>`, `read:<pattern>`, `write:<pattern>` (resources), `join:<pattern>` (room kinds) or `broadcast`, where `*` in a pattern matches any run of characters.
 *
 * @example
 * isGrant('subscribe:private-team-*') // true
 * isGrant('subscribe:')               // false
 */
export function isGrant(grant: string): boolean {
  if (grant === 'broadcast') return true;
  const colon = grant.indexOf(':');
  if (colon < 0) return false;
  return ACTIONS_WITH_TARGET.has(grant.slice(0, colon)) && TARGET_PATTERN.test(grant.slice(colon + 1));
}

/**
 * The grant an action on a target needs, as `forbidden` names it.
 *
 * @example
 * grantFor('publish', 'orders.eu') // 'publish:orders.eu'
 */
export function grantFor(action: GrantAction, target: string): string {
  return action === 'broadcast' ? 'broadcast' : `${action}:${target}`;
}

// Patterns with a `*` somewhere other than the end become regular expressions, compiled once per pattern.
const MAX_CACHED = 10_000;
const regexpCache = new Map<string, RegExp>();

function compilePattern(pattern: string): RegExp {
  let regexp = regexpCache.get(pattern);
  if (regexp === undefined) {
    const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
    regexp = new RegExp(`^${source}$`);
    if (regexpCache.size >= MAX_CACHED) regexpCache.clear();
    regexpCache.set(pattern, regexp);
  }
  return regexp;
}

/**
 * Name patterns (`*` matches any run of characters), split by shape so that the common cases need no regular
 * expression: grants use one per action, channel history one for its channel list.
 *
 * @example
 * const keeps = new PatternSet(['room.*', 'orders']);
 * keeps.matches('room.7') // true
 */
export class PatternSet {
  all = false;
  readonly exact = new Set<string>();
  readonly prefixes: string[] = [];
  readonly regexps: RegExp[] = [];

  constructor(patterns: Iterable<string> = []) {
    for (const pattern of patterns) this.add(pattern);
  }

  add(pattern: string): void {
    if (pattern === '*') this.all = true;
    else if (!pattern.includes('*')) this.exact.add(pattern);
    else if (pattern.indexOf('*') === pattern.length - 1) this.prefixes.push(pattern.slice(0, -1));
    else this.regexps.push(compilePattern(pattern));
  }

  matches(target: string): boolean {
    if (this.all || this.exact.has(target)) return true;
    for (const prefix of this.prefixes) if (target.startsWith(prefix)) return true;
    for (const regexp of this.regexps) if (regexp.test(target)) return true;
    return false;
  }
}

/**
 * A set of grants compiled for checking. Immutable; sets with the same grants are shared (see `grantSet`).
 *
 * @example
 * const grants = grantSet(['call:*', 'subscribe:private-team-*']);
 * grants.allows('subscribe', 'private-team-a') // true
 */
export class GrantSet {
  /** The grants, sorted and without duplicates: what `$grants` and `$welcome` carry. */
  readonly list: readonly string[];
  private readonly call = new PatternSet();
  private readonly subscribe = new PatternSet();
  private readonly publish = new PatternSet();
  private readonly read = new PatternSet();
  private readonly write = new PatternSet();
  private readonly join = new PatternSet();
  private readonly broadcast: boolean;

  constructor(grants: readonly string[]) {
    this.list = Object.freeze([...new Set(grants.filter(isGrant))].sort());
    let broadcast = false;
    for (const grant of this.list) {
      if (grant === 'broadcast') {
        broadcast = true;
        continue;
      }
      const colon = grant.indexOf(':');
      const target = grant.slice(colon + 1);
      switch (grant.slice(0, colon)) {
        case 'call':
          this.call.add(target);
          break;
        case 'subscribe':
          this.subscribe.add(target);
          break;
        case 'publish':
          this.publish.add(target);
          break;
        case 'read':
          this.read.add(target);
          break;
        case 'write':
          this.write.add(target);
          break;
        case 'join':
          this.join.add(target);
          break;
      }
    }
    this.broadcast = broadcast;
  }

  allows(action: GrantAction, target: string): boolean {
    switch (action) {
      case 'call':
        return this.call.matches(target);
      case 'subscribe':
        return this.subscribe.matches(target);
      case 'publish':
        return this.publish.matches(target);
      case 'read':
        return this.read.matches(target);
      case 'write':
        return this.write.matches(target);
      case 'join':
        return this.join.matches(target);
      case 'broadcast':
        return this.broadcast;
    }
  }

  has(grant: string): boolean {
    return this.list.includes(grant);
  }
}

const setCache = new Map<string, GrantSet>();

/**
 * The compiled set for a list of grants. Connections with the same grants share one set, so checking stays
 * a lookup however many connections there are. Strings that are not grants are dropped.
 *
 * @example
 * grantSet(['call:*']).allows('call', 'chat.send') // true
 */
export function grantSet(grants: readonly string[]): GrantSet {
  const key = [...grants].sort().join('\n');
  let set = setCache.get(key);
  if (set === undefined) {
    set = new GrantSet(grants);
    if (setCache.size >= MAX_CACHED) setCache.clear();
    setCache.set(key, set);
  }
  return set;
}

/** What changed between two grant sets, for `$grants`. */
export function diffGrants(before: GrantSet, after: GrantSet): { added: string[]; removed: string[] } {
  return {
    added: after.list.filter((grant) => !before.has(grant)),
    removed: before.list.filter((grant) => !after.has(grant)),
  };
}
