// Paths as the CLI shows them: relative to the working folder when inside it, so messages stay short.
import { isAbsolute, relative } from 'node:path';

/**
 * A path for messages: `./plugs` rather than `/home/ada/app/plugs` when it is under `cwd`.
 *
 * @example
 * displayPath('/app/plugs', '/app') // './plugs'
 */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  if (rel === '') return '.';
  return rel.startsWith('..') || isAbsolute(rel) ? path : `./${rel}`;
}
