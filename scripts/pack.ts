// `npm run pack`: builds every public package and writes installable tarballs of them to one folder.
//
// In this repository the packages' `exports` point at their TypeScript sources, so that `npm start` and
// `npm test` need no build. What is published points at `dist/` instead: each package.json carries that in
// `publishConfig` (the field pnpm and yarn apply when they publish; npm does not, so this script does),
// and the package is staged with its `files` only, then packed with `npm pack`.
//
//   node scripts/pack.ts [--out DIR]   (default .tmp/packages)
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The packages users install, in dependency order. */
export const PUBLIC_PACKAGES = ['protocol', 'server', 'client', 'cli', 'postgres', 'redis'] as const;

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

interface Manifest {
  name: string;
  version: string;
  files?: string[];
  publishConfig?: Record<string, unknown>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  [key: string]: unknown;
}

/** The package.json as published: publishConfig applied, nothing only the repository needs. */
export function publishedManifest(manifest: Manifest): Manifest {
  const { publishConfig, devDependencies: _dev, scripts: _scripts, ...rest } = manifest;
  const published: Manifest = { ...rest };
  for (const [key, value] of Object.entries(publishConfig ?? {})) {
    // npm's own publishConfig keys (registry, access, tag) stay where npm reads them.
    if (['registry', 'access', 'tag', 'provenance'].includes(key)) (published.publishConfig ??= {})[key] = value;
    else published[key] = value;
  }
  return published;
}

/**
 * Copies the files of a package's `src` that are not TypeScript (the admin page's HTML, CSS and JavaScript)
 * into `dist` at the same place: `tsc -b` emits only what it compiles. Returns the copied paths.
 */
export function copyAssets(packageDir: string): string[] {
  const src = join(packageDir, 'src');
  const dist = join(packageDir, 'dist');
  if (!existsSync(src)) return [];
  const copied: string[] = [];
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
    const from = join(entry.parentPath, entry.name);
    const to = join(dist, relative(src, from));
    mkdirSync(dirname(to), { recursive: true });
    cpSync(from, to);
    copied.push(to);
  }
  return copied;
}

/** Copies what `files` lists (with `!` exclusions) from a package folder into the staging folder. */
function stage(source: string, target: string, manifest: Manifest): void {
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const include = (manifest.files ?? []).filter((entry) => !entry.startsWith('!'));
  const exclude = (manifest.files ?? []).filter((entry) => entry.startsWith('!')).map((entry) => join(source, entry.slice(1)));
  for (const entry of include) {
    const from = join(source, entry);
    if (!existsSync(from)) throw new Error(`${manifest.name}: "files" lists ${entry}, which does not exist (did the build run?)`);
    cpSync(from, join(target, entry), { recursive: true, filter: (path) => !exclude.includes(path) && !/\.test\.(js|d\.ts|js\.map|d\.ts\.map)$/.test(path) });
  }
  for (const extra of ['README.md']) if (existsSync(join(source, extra))) cpSync(join(source, extra), join(target, extra));
  cpSync(join(root, 'LICENSE'), join(target, 'LICENSE'));
  writeFileSync(join(target, 'package.json'), `${JSON.stringify(publishedManifest(manifest), null, 2)}\n`);
}

/**
 * Builds, stages and packs every public package. Returns the staging folders and the tarballs.
 *
 * @example
 * const { tarballs } = pack({ out: '/tmp/switchboard-packages' });
 */
export function pack(options: { out?: string; build?: boolean } = {}): { staged: string[]; tarballs: string[] } {
  const out = resolve(options.out ?? join(root, '.tmp', 'packages'));
  if (options.build !== false) execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  mkdirSync(out, { recursive: true });
  const staged: string[] = [];
  const tarballs: string[] = [];
  for (const name of PUBLIC_PACKAGES) {
    const source = join(root, 'packages', name);
    const manifest = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')) as Manifest;
    copyAssets(source); // tsc emits no HTML, CSS or JavaScript assets
    const target = join(out, 'staged', name);
    stage(source, target, manifest);
    staged.push(target);
    const output = execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: target, encoding: 'utf8' });
    const [{ filename }] = JSON.parse(output) as [{ filename: string }];
    tarballs.push(join(out, filename));
  }
  return { staged, tarballs };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--out');
  const { tarballs } = pack(at > 0 ? { out: process.argv[at + 1] } : {});
  for (const tarball of tarballs) console.log(tarball);
}
