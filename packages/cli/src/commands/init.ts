// `switchboard init [dir]`: writes a starter project that serves at once with `switchboard dev`.
import { readdir, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { CommandError } from '../args.ts';
import type { Command } from '../command.ts';
import { displayPath } from '../display.ts';
import { renderTemplates, writeRendered } from '../templates.ts';

// A folder that only holds version-control metadata counts as empty: `git init` often comes first.
const IGNORED_ENTRIES = new Set(['.git', '.hg']);

/**
 * An npm package name from a folder name: lower case, URL-safe characters only.
 *
 * @example
 * packageNameFor('My Chat App') // 'my-chat-app'
 */
export function packageNameFor(folder: string): string {
  const name = folder
    .toLowerCase()
    .replaceAll(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[._~-]+/, '')
    .replace(/-+$/, '')
    .slice(0, 214);
  return name === '' ? 'switchboard-app' : name;
}

/** `switchboard init`. */
export const initCommand: Command = {
  name: 'init',
  summary: 'Create a project that runs at once',
  usage: 'init [dir] [--force]',
  help: `Creates a Switchboard project in <dir> (default: this folder):

  plugs/counter.ts        a plug with typed messages; counter.add broadcasts counter.changed
  plugs/counter.test.ts   its test, against a real server
  public/index.html       a page that uses the plug through the SDK at /switchboard.js
  switchboard.config.ts   port, folders and server options
  package.json            scripts dev, start and test
  tsconfig.json, README.md, .gitignore

The folder must be empty (a .git folder is fine) unless --force is given; with --force, files with the
same names are replaced and other files are left alone.

Flags:
  -f, --force   Write into a folder that is not empty
  -h, --help    Show this help

Examples:
  switchboard init my-app && cd my-app && switchboard dev
  switchboard init . --force`,
  options: {
    force: { type: 'boolean', short: 'f' },
    help: { type: 'boolean', short: 'h' },
  },
  maxPositionals: 1,
  async run(args, ctx) {
    const dir = resolve(ctx.cwd, args.positionals[0] ?? '.');
    const shown = displayPath(dir, ctx.cwd);
    const info = await stat(dir).catch(() => undefined);
    if (info && !info.isDirectory()) throw new CommandError(`${shown} is a file; pass a folder to create the project in`);
    if (info && args.values.force !== true) {
      const entries = (await readdir(dir)).filter((entry) => !IGNORED_ENTRIES.has(entry)).sort();
      if (entries.length > 0) {
        const listed = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, and ${entries.length - 5} more` : '');
        throw new CommandError(
          `${shown} is not empty (${listed}). Pick an empty or new folder, or pass --force to write the starter files ` +
            'into it anyway (files with the same names are replaced).',
        );
      }
    }
    const name = packageNameFor(basename(dir));
    const files = await renderTemplates('project', { name });
    await writeRendered(dir, files, { overwrite: true });
    const cd = shown === '.' ? '' : `  cd ${shown}\n`;
    ctx.out(
      `Created ${name} in ${shown}:\n${files.map((file) => `  ${file.path}`).join('\n')}\n\n` +
        `Next:\n${cd}` +
        `  ${'npm install'.padEnd(37)}# the Switchboard packages, TypeScript and editor types\n` +
        `  ${'npm run dev'.padEnd(37)}# serves http://127.0.0.1:3000 and hot-swaps plugs\n` +
        `  ${'npx @switchboard/cli add plug rooms'.padEnd(37)}# scaffolds plugs/rooms.ts and its test\n` +
        `  ${'npm test'.padEnd(37)}# runs the plug tests against a real server\n`,
    );
    return 0;
  },
};
