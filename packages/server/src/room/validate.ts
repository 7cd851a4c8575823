// Checks a plug's `rooms` before it may serve them.
import { ROOM_KIND_PATTERN } from '@switchboard/protocol';
import { isRoom } from './define.ts';

/** Problems with a plug's `rooms`, for the plug validator. */
export function roomProblems(value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['"rooms" must be an object mapping each room kind to defineRoom({...})'];
  const problems: string[] = [];
  for (const [name, definition] of Object.entries(value)) {
    if (!ROOM_KIND_PATTERN.test(name)) problems.push(`room kind "${name}" must match ${ROOM_KIND_PATTERN}`);
    else if (!isRoom(definition)) problems.push(`room kind "${name}" must come from defineRoom({ create, messages })`);
    else {
      if (typeof definition.create !== 'function') problems.push(`room kind "${name}": "create" must be a function returning the initial state`);
      if (typeof definition.messages !== 'object' || definition.messages === null) problems.push(`room kind "${name}": "messages" must be an object`);
      else {
        for (const [type, message] of Object.entries(definition.messages)) {
          const entry = message as { input?: { safeParse?: unknown }; handler?: unknown };
          if (typeof entry?.input?.safeParse !== 'function') problems.push(`room kind "${name}", message "${type}": "input" must be a zod schema`);
          if (typeof entry?.handler !== 'function') problems.push(`room kind "${name}", message "${type}": "handler" must be a function`);
        }
      }
      const pushes: unknown = definition.pushes;
      if (pushes !== undefined) {
        if (typeof pushes !== 'object' || pushes === null || Array.isArray(pushes)) problems.push(`room kind "${name}": "pushes" must map each push type to a zod schema`);
        else {
          for (const [type, schema] of Object.entries(pushes)) {
            if (typeof (schema as { safeParse?: unknown } | null)?.safeParse !== 'function') problems.push(`room kind "${name}", push "${type}": must be a zod schema`);
          }
        }
      }
    }
  }
  return problems;
}
