// Strict payloads: a payload field the schema does not declare is refused, not silently stripped.
import type { Issue } from '@switchboard/protocol';
import type { Schema } from './define.ts';

/**
 * Checks a payload that already passed its schema for keys the schema does not declare; returns the first
 * one found as an issue, or undefined. Compiled once per schema, so a message pays a walk over its own keys.
 */
export type KeyCheck = (value: unknown) => Issue | undefined;

// zod's object schemas strip unknown keys by default and zod offers no switch to make that strict
// everywhere, so the walk below reads the schema definitions (`_zod.def`, zod 4's documented internals)
// and checks the payload against the declared shapes. Objects that chose `.loose()`/`.passthrough()` or a
// `.catchall()` keep their extra keys; `.strict()` objects are already refused by zod itself.
interface Def {
  type: string;
  shape?: Record<string, Schema>;
  catchall?: Schema;
  innerType?: Schema;
  element?: Schema;
  options?: Schema[];
  in?: Schema;
  items?: Schema[];
  rest?: Schema | null;
  valueType?: Schema;
  getter?: () => Schema;
}

function defOf(schema: Schema): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type Walk = (value: unknown, path: (string | number)[]) => Issue | undefined;

const cache = new WeakMap<Schema, Walk | null>();

/** The walk for one schema; null when nothing inside it can carry an undeclared key. */
function compile(schema: Schema, seen: Set<Schema>): Walk | null {
  const cached = cache.get(schema);
  if (cached !== undefined) return cached;
  if (seen.has(schema)) return null;
  seen.add(schema);
  const walk = build(schema, seen);
  cache.set(schema, walk);
  return walk;
}

function build(schema: Schema, seen: Set<Schema>): Walk | null {
  const def = defOf(schema);
  switch (def.type) {
    case 'object': {
      const shape = def.shape ?? {};
      const fields = Object.entries(shape).map(([key, field]) => [key, compile(field, seen)] as const);
      const nested = fields.filter((entry): entry is readonly [string, Walk] => entry[1] !== null);
      const open = def.catchall !== undefined;
      return (value, path) => {
        if (!isPlainObject(value)) return undefined;
        if (!open) {
          for (const key in value) {
            if (!Object.hasOwn(shape, key)) {
              return { path: [...path, key], message: `unexpected key "${key}": the schema does not declare it`, code: 'unrecognized_keys' };
            }
          }
        }
        for (const [key, walk] of nested) {
          if (value[key] === undefined) continue;
          const issue = walk(value[key], [...path, key]);
          if (issue) return issue;
        }
        return undefined;
      };
    }
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
    case 'success':
      return def.innerType ? compile(def.innerType, seen) : null;
    case 'pipe':
      return def.in ? compile(def.in, seen) : null;
    case 'array': {
      const element = def.element ? compile(def.element, seen) : null;
      if (!element) return null;
      return (value, path) => {
        if (!Array.isArray(value)) return undefined;
        for (let i = 0; i < value.length; i++) {
          const issue = element(value[i], [...path, i]);
          if (issue) return issue;
        }
        return undefined;
      };
    }
    case 'tuple': {
      const items = (def.items ?? []).map((item) => compile(item, seen));
      const rest = def.rest ? compile(def.rest, seen) : null;
      if (items.every((item) => item === null) && rest === null) return null;
      return (value, path) => {
        if (!Array.isArray(value)) return undefined;
        for (let i = 0; i < value.length; i++) {
          const walk = i < items.length ? items[i] : rest;
          const issue = walk ? walk(value[i], [...path, i]) : undefined;
          if (issue) return issue;
        }
        return undefined;
      };
    }
    case 'record': {
      const values = def.valueType ? compile(def.valueType, seen) : null;
      if (!values) return null;
      return (value, path) => {
        if (!isPlainObject(value)) return undefined;
        for (const key in value) {
          const issue = values(value[key], [...path, key]);
          if (issue) return issue;
        }
        return undefined;
      };
    }
    case 'union': {
      const options = (def.options ?? []).map((option) => [option, compile(option, seen)] as const);
      if (options.every(([, walk]) => walk === null)) return null;
      // The option that accepted the value is the one whose keys count.
      return (value, path) => {
        for (const [option, walk] of options) {
          if (!option.safeParse(value).success) continue;
          return walk ? walk(value, path) : undefined;
        }
        return undefined;
      };
    }
    case 'lazy': {
      const getter = def.getter;
      if (!getter) return null;
      let inner: Walk | null | undefined;
      return (value, path) => {
        inner ??= compile(getter(), new Set());
        return inner ? inner(value, path) : undefined;
      };
    }
    default:
      // Scalars, unknown/any, intersections (their keys are split over two shapes): nothing to check.
      return null;
  }
}

/**
 * Compiles the key check of a message's input schema; undefined when the schema cannot carry an undeclared
 * key (scalars, `.loose()` objects) so the pipeline skips the step.
 *
 * @example
 * const check = compileKeyCheck(z.object({ text: z.string() }));
 * check?.({ text: 'hi', admin: true }) // { path: ['admin'], message: 'unexpected key "admin": …', code: 'unrecognized_keys' }
 */
export function compileKeyCheck(schema: Schema): KeyCheck | undefined {
  const walk = compile(schema, new Set());
  if (walk === null) return undefined;
  return (value) => walk(value, []);
}
