// Builds the CLI as a single executable for this machine's platform: `npm run build:exe` → .tmp/exe/switchboard.
//
// Node's single executable applications (SEA): the CLI and everything it imports are bundled into one
// CommonJS script, prepared as a blob together with the assets the CLI reads at run time (the prebuilt
// browser SDK, the templates, package.json), and the blob is injected with postject into a copy of the
// node binary running this script. See docs/deploy.md, "Single executable".
//
//   node packages/cli/sea/build.ts [--out <dir>]   (default .tmp/exe in the repository)
import { spawnSync } from 'node:child_process';
import { copyFile, chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { buildClientBundle, CLIENT_BUNDLE_ASSETS } from '../src/client-bundle.ts';
import { templateFiles, TEMPLATES_ASSET, type TemplateName } from '../src/templates.ts';

const CLI_DIR = fileURLToPath(new URL('../', import.meta.url));
const REPO_DIR = fileURLToPath(new URL('../../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));

// The fuse postject flips so that node looks for the injected blob; the same string in every node release.
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

// `import.meta` does not exist in CommonJS. In the executable, `__filename` is the executable itself, so
// `import.meta.url` becomes its file URL (only used to compute paths the executable never reads: those
// files are assets), and `import.meta.resolve` fails loudly if anything ever calls it.
const BANNER = `const import_meta_url = require('node:url').pathToFileURL(__filename).href;
const import_meta_resolve = (specifier) => {
  throw new Error('import.meta.resolve(' + JSON.stringify(specifier) + ') is not available inside the Switchboard executable');
};`;

/** What one build produced. */
export interface BuildResult {
  executable: string;
  /** The executable's size. */
  bytes: number;
  /** The injected blob's size: the bundled CLI, its code cache and the assets. */
  blobBytes: number;
  ms: number;
}

/** Why the build cannot go on, said so that the fix is clear. */
class BuildError extends Error {
  override name = 'BuildError';
}

function fail(message: string): never {
  throw new BuildError(message);
}

// Runs a tool and shows its output only when it fails (postject prints harmless warnings about ELF notes).
function run(command: string, args: string[], what: string): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) fail(`${what}: cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${what} failed (${command} ${args.join(' ')}, exit ${result.status}):\n${result.stdout}${result.stderr}`);
}

async function bundleCli(outfile: string): Promise<void> {
  const result = await build({
    entryPoints: [ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node}`,
    // esbuild runs at build time only (client-bundle.ts reads the prebuilt SDK inside the executable);
    // ws's optional native helpers are loaded in a try/catch and are not there.
    // The cluster back ends are optional packages the executable does not carry (SWITCHBOARD_REDIS_URL and
    // SWITCHBOARD_DATABASE_URL then say so): it is one self-contained node.
    external: ['esbuild', 'bufferutil', 'utf-8-validate', '@switchboard/redis', '@switchboard/postgres'],
    define: { 'import.meta.url': 'import_meta_url', 'import.meta.resolve': 'import_meta_resolve' },
    banner: { js: BANNER },
    legalComments: 'none',
    logLevel: 'silent',
  });
  for (const warning of result.warnings) process.stderr.write(`build:exe: esbuild: ${warning.text}\n`);
}

async function templatesAsset(): Promise<string> {
  const sets: Partial<Record<TemplateName, Record<string, string>>> = {};
  for (const name of ['project', 'plug'] as const) {
    sets[name] = Object.fromEntries((await templateFiles(name)).map((file) => [file.path, file.source]));
  }
  return JSON.stringify(sets);
}

/**
 * Builds the executable into `outDir` (`switchboard`, or `switchboard.exe` on Windows).
 *
 * @example
 * const { executable, bytes } = await buildExecutable('.tmp/exe');
 */
export async function buildExecutable(outDir: string): Promise<BuildResult> {
  const started = performance.now();
  if (Number(process.versions.node.split('.')[0]) < 24) fail(`building the executable needs Node 24 or newer, this is ${process.version}`);
  if ((process.config.variables as Record<string, unknown>).single_executable_application === false) {
    fail(`this node (${process.execPath}) was built without single executable support; use an official build from nodejs.org`);
  }
  const work = await mkdtemp(join(tmpdir(), 'switchboard-sea-'));
  try {
    const main = join(work, 'main.cjs');
    await bundleCli(main);

    const assets: Record<string, string> = {};
    const addAsset = async (key: string, content: string) => {
      const file = join(work, 'assets', key);
      await mkdir(join(work, 'assets'), { recursive: true });
      await writeFile(file, content);
      assets[key] = file;
    };
    await addAsset(CLIENT_BUNDLE_ASSETS.readable, await buildClientBundle({ minify: false }));
    await addAsset(CLIENT_BUNDLE_ASSETS.minified, await buildClientBundle({ minify: true }));
    await addAsset(TEMPLATES_ASSET, await templatesAsset());
    await addAsset('package.json', await readFile(join(CLI_DIR, 'package.json'), 'utf8'));

    const blob = join(work, 'sea-prep.blob');
    const config = join(work, 'sea-config.json');
    // The code cache makes start-up faster; it is specific to this node version and platform, as the
    // executable is anyway.
    await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }, null, 2));
    run(process.execPath, ['--experimental-sea-config', config], 'preparing the blob');

    await mkdir(outDir, { recursive: true });
    const executable = join(outDir, process.platform === 'win32' ? 'switchboard.exe' : 'switchboard');
    await rm(executable, { force: true });
    await copyFile(process.execPath, executable);
    await chmod(executable, 0o755);
    // A signed binary changes when the blob goes in: drop node's signature first, sign again after.
    if (process.platform === 'darwin') run('codesign', ['--remove-signature', executable], 'removing the signature');
    const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
    const macho = process.platform === 'darwin' ? ['--macho-segment-name', 'NODE_SEA'] : [];
    run(process.execPath, [postject, executable, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE, ...macho], 'injecting the blob');
    if (process.platform === 'darwin') run('codesign', ['--sign', '-', executable], 'signing (ad hoc)');

    const [bytes, blobBytes] = await Promise.all([stat(executable), stat(blob)]).then((stats) => stats.map((s) => s.size));
    return { executable, bytes: bytes ?? 0, blobBytes: blobBytes ?? 0, ms: Math.round(performance.now() - started) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  let values: { out?: string };
  try {
    ({ values } = parseArgs({ options: { out: { type: 'string' } } }));
  } catch (error) {
    process.stderr.write(`build:exe: ${(error as Error).message}\nUsage: node packages/cli/sea/build.ts [--out <dir>]\n`);
    process.exit(2);
  }
  const outDir = resolve(values.out ?? join(REPO_DIR, '.tmp', 'exe'));
  const result = await buildExecutable(outDir).catch((error: unknown) => {
    if (!(error instanceof BuildError)) throw error;
    process.stderr.write(`build:exe: ${error.message}\n`);
    process.exit(1);
  });
  const rel = relative(process.cwd(), result.executable);
  const shown = rel.startsWith('..') ? result.executable : rel;
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  process.stdout.write(`Built ${shown} (${mb(result.bytes)}, of which ${mb(result.blobBytes)} Switchboard) in ${(result.ms / 1000).toFixed(1)} s\n`);
}
