// Routes: where a message type goes — its owner (a plug, or the protocol), its definition and the hooks that apply.
import type { Hooks, MessageDefinition } from './define.ts';
import type { CodeOwner } from '../observe/faults.ts';
import type { ResourceHandle } from '../resource/define.ts';
import { compileKeyCheck, type KeyCheck } from './strict.ts';

/** A hook with the name of whoever registered it ("global" or a plug), for logs. */
export interface HookEntry<K extends keyof Hooks> {
  owner: string;
  fn: NonNullable<Hooks[K]>;
}

/** Who serves a route: a plug version, or the protocol itself (`$protocol`). */
export interface RouteOwner extends CodeOwner {
  readonly state: Map<string, unknown>;
  /** The plug's resources, by name: what its handlers reach as `ctx.resources`. */
  readonly resources?: Readonly<Record<string, ResourceHandle>>;
}

/** The owner of every protocol route (`$auth`, `$subscribe`, …). */
export const PROTOCOL_OWNER: RouteOwner = Object.freeze({ name: '$protocol', version: '1', state: new Map<string, unknown>() });

/** Where a message type goes, resolved when the route table is built (at start, and at every plug swap). */
export interface Route {
  readonly type: string;
  readonly plug: RouteOwner;
  readonly definition: MessageDefinition;
  /** Whether a protocol feature serves it (its own grant checks; `call:` grants do not apply). */
  readonly protocol: boolean;
  /** Refuses payload keys the input schema does not declare; undefined when there is nothing to check. */
  readonly checkKeys: KeyCheck | undefined;
  readonly beforeHandle: HookEntry<'beforeHandle'>[];
  readonly afterHandle: HookEntry<'afterHandle'>[];
  readonly beforeSend: HookEntry<'beforeSend'>[];
  readonly afterSend: HookEntry<'afterSend'>[];
}

/** The hooks of one route, global first. */
export interface RouteHooks {
  beforeHandle: HookEntry<'beforeHandle'>[];
  afterHandle: HookEntry<'afterHandle'>[];
  beforeSend: HookEntry<'beforeSend'>[];
  afterSend: HookEntry<'afterSend'>[];
}

/** The hook entries of one owner's hooks object. */
export function hookEntries<K extends keyof Hooks>(owner: string, fn: Hooks[K] | undefined): HookEntry<K>[] {
  return fn ? [{ owner, fn: fn as NonNullable<Hooks[K]> }] : [];
}

/** The hooks a route of `owner` runs: the global ones, then the owner's own. */
export function routeHooks(global: Hooks, owner: string, own: Hooks | undefined): RouteHooks {
  return {
    beforeHandle: [...hookEntries<'beforeHandle'>('global', global.beforeHandle), ...hookEntries<'beforeHandle'>(owner, own?.beforeHandle)],
    afterHandle: [...hookEntries<'afterHandle'>('global', global.afterHandle), ...hookEntries<'afterHandle'>(owner, own?.afterHandle)],
    beforeSend: [...hookEntries<'beforeSend'>('global', global.beforeSend), ...hookEntries<'beforeSend'>(owner, own?.beforeSend)],
    afterSend: [...hookEntries<'afterSend'>('global', global.afterSend), ...hookEntries<'afterSend'>(owner, own?.afterSend)],
  };
}

/**
 * Builds one route. A definition with `strict: false` keeps today's zod behaviour (undeclared keys stripped).
 *
 * @example
 * const route = buildRoute('chat.send', plug, definition, routeHooks(globalHooks, plug.name, plug.definition.hooks), false);
 */
export function buildRoute(type: string, owner: RouteOwner, definition: MessageDefinition, hooks: RouteHooks, protocol: boolean): Route {
  const checkKeys = definition.strict === false ? undefined : compileKeyCheck(definition.input);
  return { type, plug: owner, definition, protocol, checkKeys, ...hooks };
}
