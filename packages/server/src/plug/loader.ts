// Imports plug files, each version as a fresh module, and lets plugs use the server's own zod and API.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { registerHooks } from 'node:module';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DevErrorCode, SwitchboardError } from '../errors.ts';

const PLUG_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

/**
 * Whether a file in the plugs folder is a plug: a .ts/.mts/.js/.mjs file that is not a declaration,
 * a test, hidden, or prefixed with `_` (use `_`-files for helpers plugs share).
 */
export function isPlugFile(file: string): boolean {
  const name = basename(file);
  if (name.startsWith('.') || name.startsWith('_')) return false;
  if (name.endsWith('.d.ts') || /\.(test|spec)\.[mc]?[jt]s$/.test(name)) return false;
  return PLUG_EXTENSIONS.some((extension) => name.endsWith(extension));
}

// Packages a plug may import without installing them: the running server's own copies.
const PROVIDED = new Set(['zod', 'zod/v4', '@switchboard/server']);
let hooksRegistered = false;

/**
 * Lets plug files import `zod` and `@switchboard/server` even when their project has not installed them,
 * resolving to the server's own copies (one zod instance, one definePlug).
 */
function provideServerPackages(): void {
  if (hooksRegistered) return;
  hooksRegistered = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context);
      } catch (error) {
        if (!PROVIDED.has(specifier)) throw error;
        return nextResolve(specifier, { ...context, parentURL: import.meta.url });
      }
    },
  });
}

/** A plug module, imported. */
export interface ImportedPlug {
  definition: unknown;
  /** Content hash, the version when the plug names none. */
  version: string;
}

let generation = 0;

/**
 * Imports a plug file as a new module instance. Throws SB_PLUG_LOAD_FAILED with the cause when the file
 * cannot be read, does not parse, or throws while importing.
 */
export async function importPlug(file: string): Promise<ImportedPlug> {
  provideServerPackages();
  let source: Buffer;
  try {
    source = await readFile(file);
  } catch (error) {
    throw new SwitchboardError(DevErrorCode.plugLoadFailed, `${file}: cannot read: ${(error as Error).message}`, { cause: error });
  }
  const version = createHash('sha256').update(source).digest('hex').slice(0, 8);
  const url = `${pathToFileURL(file).href}?v=${version}-${++generation}`;
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    const err = error as Error;
    throw new SwitchboardError(DevErrorCode.plugLoadFailed, `${file}: ${err.name ?? 'Error'}: ${err.message ?? String(error)}`, {
      cause: error,
    });
  }
  if (module.default === undefined) {
    throw new SwitchboardError(DevErrorCode.plugInvalid, `${file}: no default export; end the file with "export default definePlug({...})"`);
  }
  return { definition: module.default, version };
}
