// Checks a plug definition before it may take traffic, listing every problem found.
import { MESSAGE_TYPE_PATTERN, RESERVED_PREFIX, MAX_EVENT_LENGTH } from '@switchboard/protocol';
import { HOOK_NAMES } from './define.ts';
import { resourceProblems } from '../resource/validate.ts';
import { roomProblems } from '../room/validate.ts';

/** Plug names: a letter, then letters, digits, `-` and `_` (at most 64). */
export const PLUG_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function isSchema(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { safeParse?: unknown }).safeParse === 'function';
}

/** Channel event names: 1 to 128 characters, as `publish` accepts them. */

function pushTypeProblem(type: string): string | undefined {
  if (type.startsWith(RESERVED_PREFIX)) return `push type "${type}": the "${RESERVED_PREFIX}" prefix is reserved for the protocol`;
  if (!MESSAGE_TYPE_PATTERN.test(type)) return `push type "${type}" must match ${MESSAGE_TYPE_PATTERN}`;
  return undefined;
}

function eventProblem(event: string): string | undefined {
  if (event.length === 0 || event.length > MAX_EVENT_LENGTH) return `event "${event}" must be 1 to ${MAX_EVENT_LENGTH} characters`;
  return undefined;
}

/** Checks `pushes` or `events`: optional, and when given an object of zod schemas with valid names. */
function schemaMapProblems(value: unknown, field: string, what: string, nameProblem: (name: string) => string | undefined): string[] {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`"${field}" must be an object mapping each ${what} to a zod schema of its data`];
  }
  const problems: string[] = [];
  for (const [name, schema] of Object.entries(value)) {
    const problem = nameProblem(name);
    if (problem !== undefined) problems.push(problem);
    else if (!isSchema(schema)) problems.push(`${what} "${name}" in "${field}" must be a zod schema (z.object({...}))`);
  }
  return problems;
}

/**
 * Returns what is wrong with a plug definition (empty when it is valid).
 *
 * @example
 * validatePlug({ name: 'chat' }) // ['"messages" must be an object mapping message types to definitions']
 */
export function validatePlug(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) {
    return ['the default export must be definePlug({ name, messages })'];
  }
  const plug = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof plug.name !== 'string' || !PLUG_NAME_PATTERN.test(plug.name)) {
    problems.push(`"name" must match ${PLUG_NAME_PATTERN} (got ${JSON.stringify(plug.name)})`);
  }
  if (plug.version !== undefined && (typeof plug.version !== 'string' || plug.version.length === 0 || plug.version.length > 64)) {
    problems.push('"version" must be a string of 1 to 64 characters');
  }
  const messages = plug.messages;
  if (typeof messages !== 'object' || messages === null || Array.isArray(messages)) {
    problems.push('"messages" must be an object mapping message types to definitions');
  } else {
    for (const [type, definition] of Object.entries(messages)) {
      if (type.startsWith(RESERVED_PREFIX)) {
        problems.push(`message type "${type}": the "${RESERVED_PREFIX}" prefix is reserved for the protocol`);
        continue;
      }
      if (!MESSAGE_TYPE_PATTERN.test(type)) {
        problems.push(`message type "${type}" must match ${MESSAGE_TYPE_PATTERN}`);
        continue;
      }
      if (typeof definition !== 'object' || definition === null) {
        problems.push(`message "${type}" must be an object with input and handler`);
        continue;
      }
      const entry = definition as Record<string, unknown>;
      if (!isSchema(entry.input)) problems.push(`message "${type}": "input" must be a zod schema (z.object({...}))`);
      if (entry.output !== undefined && !isSchema(entry.output)) {
        problems.push(`message "${type}": "output" must be a zod schema when given`);
      }
      if (typeof entry.handler !== 'function') problems.push(`message "${type}": "handler" must be a function`);
    }
  }
  problems.push(...schemaMapProblems(plug.pushes, 'pushes', 'push type', pushTypeProblem));
  problems.push(...schemaMapProblems(plug.events, 'events', 'event', eventProblem));
  problems.push(...resourceProblems(plug.resources));
  problems.push(...roomProblems(plug.rooms));
  if (plug.hooks !== undefined) {
    if (typeof plug.hooks !== 'object' || plug.hooks === null) {
      problems.push('"hooks" must be an object');
    } else {
      for (const [hook, fn] of Object.entries(plug.hooks)) {
        if (!(HOOK_NAMES as readonly string[]).includes(hook)) {
          problems.push(`unknown hook "${hook}"; hooks are ${HOOK_NAMES.join(', ')}`);
        } else if (typeof fn !== 'function') {
          problems.push(`hook "${hook}" must be a function`);
        }
      }
    }
  }
  for (const key of ['onLoad', 'onUnload'] as const) {
    if (plug[key] !== undefined && typeof plug[key] !== 'function') problems.push(`"${key}" must be a function`);
  }
  return problems;
}
