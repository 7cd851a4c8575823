// Writes the file templates in packages/cli/templates/ into a project, filling in {{name}}.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getAsset, isSea } from 'node:sea';

/** The template sets: a whole project (`init`) and one plug with its test (`add plug`). */
export const TEMPLATES = {
  project: fileURLToPath(new URL('../templates/project/', import.meta.url)),
  plug: fileURLToPath(new URL('../templates/plug/', import.meta.url)),
} as const;
export type TemplateName = keyof typeof TEMPLATES;

/** Inside the single executable (packages/cli/sea), the asset holding every template file. */
export const TEMPLATES_ASSET = 'templates.json';

/** One template file: its path in the set (`/`-separated, as named on disk) and its text. */
export interface TemplateFile {
  path: string;
  source: string;
}

/** One file a template set would write: where (relative to the target folder) and what. */
export interface RenderedFile {
  path: string;
  content: string;
}

// Template files end in .tmpl so that neither tsc nor eslint treats them as the CLI's own sources, and a
// leading `dot-` stands for `.`, because npm drops `.gitignore` files from published packages.
function targetName(templateName: string, vars: Record<string, string>): string {
  const name = templateName.replace(/\.tmpl$/, '').replace(/^dot-/, '.');
  return name.replaceAll(/__(\w+)__/g, (whole, key: string) => vars[key] ?? whole);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.tmpl'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/**
 * The files of a template set, sorted by path: from packages/cli/templates/, or inside the single
 * executable from its TEMPLATES_ASSET (`{ project: { [path]: source }, plug: {...} }`).
 *
 * @example
 * const files = await templateFiles('plug'); // [{ path: 'plugs/__name__.test.ts.tmpl', source: ... }, ...]
 */
export async function templateFiles(template: TemplateName): Promise<TemplateFile[]> {
  if (isSea()) {
    const sets = JSON.parse(getAsset(TEMPLATES_ASSET, 'utf8')) as Record<TemplateName, Record<string, string>>;
    return Object.entries(sets[template]).map(([path, source]) => ({ path, source })).sort((a, b) => (a.path < b.path ? -1 : 1));
  }
  const root = TEMPLATES[template];
  const files: TemplateFile[] = [];
  for (const file of await listFiles(root)) {
    files.push({ path: relative(root, file).split(/[\\/]/).join('/'), source: await readFile(file, 'utf8') });
  }
  return files;
}

/**
 * Renders a template set in memory: `{{key}}` in contents and `__key__` in file names become `vars[key]`.
 *
 * @example
 * const files = await renderTemplates('plug', { name: 'rooms' });
 * // [{ path: 'plugs/rooms.test.ts', content: ... }, { path: 'plugs/rooms.ts', content: ... }]
 */
export async function renderTemplates(template: TemplateName, vars: Record<string, string>): Promise<RenderedFile[]> {
  return (await templateFiles(template)).map((file) => ({
    path: file.path.split('/').map((part) => targetName(part, vars)).join('/'),
    content: file.source.replaceAll(/\{\{(\w+)\}\}/g, (whole, key: string) => vars[key] ?? whole),
  }));
}

/**
 * Writes rendered files under `dir`. Without `overwrite`, a file that exists makes the write fail with
 * EEXIST (checked by the file system itself, so a file created meanwhile is not clobbered either).
 *
 * @example
 * await writeRendered('/tmp/app', await renderTemplates('project', { name: 'app' }), { overwrite: false });
 */
export async function writeRendered(dir: string, files: RenderedFile[], options: { overwrite: boolean }): Promise<void> {
  for (const file of files) {
    const target = join(dir, file.path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.content, { flag: options.overwrite ? 'w' : 'wx' });
  }
}
