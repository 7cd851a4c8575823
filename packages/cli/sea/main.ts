// The single executable's entry: offers its bundled packages to plugs, config and test files, then runs the CLI.
//
// Inside the executable there is no node_modules: the server, zod and the SDK live in this one bundle. Plug,
// config and test files are still real files imported from disk, so a module hook serves their imports of
// the packages below from the bundle's own module objects (one zod, one definePlug), unless the project
// installed its own copy, exactly as the npm-installed CLI does (see src/register.ts).
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { dirname, join } from 'node:path';
import * as server from '@switchboard/server';
import * as zod from 'zod';
import * as cli from '../src/index.ts';
import { CONFIG_FILES } from '../src/config.ts';
import { main } from '../src/main.ts';

// The import specifiers a project's files may use without installing anything (src/register.ts's
// PROVIDED_PACKAGES), and how to get each. The SDK and the test helpers (which load node:test) are only
// initialized when a file imports them: esbuild turns require() of a bundled module into a lazy initializer.
/* eslint-disable @typescript-eslint/no-require-imports */
const BUNDLED: Record<string, () => object> = {
  '@switchboard/cli': () => cli,
  '@switchboard/server': () => server,
  '@switchboard/server/testing': () => require('@switchboard/server/testing') as object,
  '@switchboard/client': () => require('@switchboard/client') as object,
  zod: () => zod,
  'zod/v4': () => zod,
};
/* eslint-enable @typescript-eslint/no-require-imports */

const MODULES_KEY = Symbol.for('switchboard.sea.modules');
const SCHEME = 'switchboard-sea:';

// What the generated modules read their exports from, by specifier.
const loaded: Record<string, object> = {};
(globalThis as Record<symbol, unknown>)[MODULES_KEY] = loaded;

// An ES module that re-exports one bundled namespace, name by name (names are quoted, so any is valid).
function moduleSource(specifier: string, namespace: object): string {
  const names = Object.keys(namespace);
  const lines = [`const m = globalThis[Symbol.for(${JSON.stringify(MODULES_KEY.description)})][${JSON.stringify(specifier)}];`];
  names.forEach((name, i) => lines.push(`const e${i} = m[${JSON.stringify(name)}];`));
  lines.push(`export { ${names.map((name, i) => `e${i} as ${JSON.stringify(name)}`).join(', ')} };`);
  return lines.join('\n');
}

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (!Object.hasOwn(BUNDLED, specifier)) return nextResolve(specifier, context);
    try {
      return nextResolve(specifier, context);
    } catch {
      return { url: `${SCHEME}${specifier}`, format: 'module', shortCircuit: true };
    }
  },
  load(url, context, nextLoad) {
    if (!url.startsWith(SCHEME)) return nextLoad(url, context);
    const specifier = url.slice(SCHEME.length);
    const get = BUNDLED[specifier];
    if (get === undefined) throw new Error(`${url}: not a module of the Switchboard executable`);
    loaded[specifier] ??= get();
    return { format: 'module', source: moduleSource(specifier, loaded[specifier]), shortCircuit: true };
  },
});

function isProject(dir: string): boolean {
  return existsSync(join(dir, 'plugs')) || CONFIG_FILES.some((name) => existsSync(join(dir, name)));
}

// Double-clicked, an executable starts wherever the file manager says (the home folder on macOS). Put next to
// a project, it serves that project: a bare run outside a project moves to the executable's folder.
const home = dirname(process.execPath);
if (process.argv.length <= 2 && !isProject(process.cwd()) && isProject(home)) {
  process.stderr.write(`switchboard: no project here; serving the one beside the executable, in ${home}\n`);
  process.chdir(home);
}

// As src/bin.ts, without top-level await (the executable's main script is CommonJS). In the executable,
// argv is [executable, executable, ...arguments].
main(process.argv.slice(2)).then(
  (outcome) => {
    if (outcome !== 'running') process.exitCode = outcome;
  },
  (error: unknown) => {
    process.stderr.write(`switchboard: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
