// Lets a project's config, plugs and tests import Switchboard packages and zod from the CLI's own install.
//
// A project made by `switchboard init` runs before `npm install`: whatever the project cannot resolve
// itself, among the packages below, resolves from here. A project that installed its own copies uses those.
import { registerHooks } from 'node:module';

/** The packages a project may use without installing them. */
export const PROVIDED_PACKAGES: readonly string[] = [
  '@switchboard/cli',
  '@switchboard/server',
  '@switchboard/server/testing',
  '@switchboard/client',
  'zod',
  'zod/v4',
];

const provided = new Set(PROVIDED_PACKAGES);

// A module is evaluated once per process, so importing this file twice registers the hook once.
registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (!provided.has(specifier)) throw error;
      return nextResolve(specifier, { ...context, parentURL: import.meta.url });
    }
  },
});
