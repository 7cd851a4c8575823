// On Node 22, which cannot parse `using` declarations, lowers them in the repository's TypeScript files
// with esbuild (already a dependency), so the test suites run on the minimum supported Node too.
// Loaded by scripts/test.js with --import only when Node is older than 24; Node 24 runs the files as they are.
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

const USING = /\b(?:await\s+)?using\s+[A-Za-z_$]/;

registerHooks({
  load(url, context, nextLoad) {
    const result = nextLoad(url, context);
    if (!url.startsWith('file:') || url.includes('/node_modules/') || !/\.m?ts$/.test(new URL(url).pathname)) return result;
    const source = typeof result.source === 'string' ? result.source : Buffer.from(result.source ?? '').toString('utf8');
    if (!USING.test(source)) return result;
    const { code } = transformSync(source, {
      loader: 'ts',
      format: 'esm',
      target: 'node22',
      sourcemap: 'inline',
      sourcefile: fileURLToPath(url),
    });
    return { format: 'module', source: code, shortCircuit: true };
  },
});
