// Writes the file templates in packages/cli/templates/ into a project, filling in {{name}}.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The template sets: a whole project (`init`) and one plug with its test (`add plug`). */
export const TEMPLATES = {
  project: fileURLToPath(new URL('../templates/project/', import.meta.url)),
  plug: fileURLToPath(new URL('../templates/plug/', import.meta.url)),
} as const;
export type TemplateName = keyof typeof TEMPLATES;

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
 * Renders a template set in memory: `{{key}}` in contents and `__key__` in file names become `vars[key]`.
 *
 * @example
 * const files = await renderTemplates('plug', { name: 'rooms' });
 * // [{ path: 'plugs/rooms.test.ts', content: ... }, { path: 'plugs/rooms.ts', content: ... }]
 */
export async function renderTemplates(template: TemplateName, vars: Record<string, string>): Promise<RenderedFile[]> {
  const root = TEMPLATES[template];
  const files: RenderedFile[] = [];
  for (const file of await listFiles(root)) {
    const rel = relative(root, file).split(/[\\/]/);
    const path = rel.map((part) => targetName(part, vars)).join('/');
    const source = await readFile(file, 'utf8');
    const content = source.replaceAll(/\{\{(\w+)\}\}/g, (whole, key: string) => vars[key] ?? whole);
    files.push({ path, content });
  }
  return files;
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
