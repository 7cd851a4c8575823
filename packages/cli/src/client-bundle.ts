// The browser SDK as one ES module, built with esbuild from @switchboard/client and served at /switchboard.js.
import { getAsset, isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { ServerOptions } from '@switchboard/server';

/** Where pages load the SDK from: `import { connect } from '/switchboard.js'`. */
export const CLIENT_BUNDLE_PATH = '/switchboard.js';

/**
 * Inside the single executable (packages/cli/sea), which cannot run esbuild, the SDK is prebuilt into
 * these assets.
 */
export const CLIENT_BUNDLE_ASSETS = { readable: 'switchboard.js', minified: 'switchboard.min.js' } as const;

type Asset = NonNullable<ServerOptions['assets']>[string];

// esbuild keeps a helper process running after a build; the bundle is built once per server, so stop it
// when no build is under way (the next build starts a new one).
let buildsRunning = 0;

/**
 * Bundles the client SDK for browsers: one ESM file, no imports left, readable unless `minify`.
 *
 * @example
 * const source = await buildClientBundle({ minify: true });
 */
export async function buildClientBundle(options: { minify?: boolean } = {}): Promise<string> {
  if (isSea()) return getAsset(options.minify === true ? CLIENT_BUNDLE_ASSETS.minified : CLIENT_BUNDLE_ASSETS.readable, 'utf8');
  const { build, stop } = await import('esbuild');
  const entry = fileURLToPath(import.meta.resolve('@switchboard/client'));
  buildsRunning++;
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? false,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  }).finally(() => {
    if (--buildsRunning === 0) void stop();
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`esbuild produced no output for ${entry}`);
  return output.text;
}

/**
 * The `assets` entry for `createServer` that serves the SDK. It is built on the first request (so a
 * server that never serves a page never pays for it), and a failed build is logged with esbuild's errors.
 *
 * @example
 * createServer({ assets: clientBundleAssets(log), public: './public' });
 */
export function clientBundleAssets(log: Logger, options: { minify?: boolean } = {}): Record<string, Asset> {
  return {
    [CLIENT_BUNDLE_PATH]: {
      contentType: 'text/javascript; charset=utf-8',
      async load() {
        const started = performance.now();
        try {
          const source = await buildClientBundle(options);
          log.debug({ path: CLIENT_BUNDLE_PATH, bytes: Buffer.byteLength(source), ms: Math.round(performance.now() - started) }, 'client SDK built');
          return source;
        } catch (error) {
          log.error({ err: error, path: CLIENT_BUNDLE_PATH }, 'building the client SDK failed');
          throw error;
        }
      },
    },
  };
}
