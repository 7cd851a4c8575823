// Checks a plug's `resources` before it may serve them.
import { RESOURCE_NAME_PATTERN } from '@switchboard/protocol';
import { isResource } from './define.ts';

/** The field names of an object schema, or undefined when it is not one (no check then). */
export function fieldsOf(schema: unknown): Set<string> | undefined {
  const def = (schema as { _zod?: { def?: { type?: string; shape?: Record<string, unknown> } } })._zod?.def;
  return def?.type === 'object' && def.shape ? new Set(Object.keys(def.shape)) : undefined;
}

/** Problems with a plug's `resources`, for the plug validator. */
export function resourceProblems(value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['"resources" must be an object mapping each resource name to defineResource({...})'];
  const problems: string[] = [];
  for (const [name, definition] of Object.entries(value)) {
    if (!RESOURCE_NAME_PATTERN.test(name)) problems.push(`resource name "${name}" must match ${RESOURCE_NAME_PATTERN}`);
    else if (!isResource(definition)) problems.push(`resource "${name}" must come from defineResource({ key, schema })`);
    else {
      const schema = definition.schema as { safeParse?: unknown } | undefined;
      if (typeof schema?.safeParse !== 'function') problems.push(`resource "${name}": "schema" must be a zod object schema`);
      else {
        const fields = fieldsOf(schema);
        if (typeof definition.key !== 'string' || (fields !== undefined && !fields.has(definition.key))) {
          problems.push(`resource "${name}": "key" must name a field of its schema (got ${JSON.stringify(definition.key)})`);
        }
      }
      if (definition.source !== undefined && (typeof definition.source.load !== 'function' || typeof definition.source.write !== 'function')) {
        problems.push(`resource "${name}": "source" must be memorySource(), sqliteSource(...) or loaderSource(...)`);
      }
    }
  }
  return problems;
}
