// `switchboard add plug <name>`: scaffolds a plug and its test; a running dev server loads it at once.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { displayPath } from '../display.ts';
import { renderTemplates, writeRendered } from '../templates.ts';

import { PLUG_NAME_PATTERN } from '@switchboard/server';

// Plug names are the server's rule, so a scaffolded plug always loads.
export { PLUG_NAME_PATTERN };

/** `switchboard add`. */
export const addCommand: Command = {
  name: 'add',
  summary: 'Scaffold plugs/<name>.ts and its test',
  usage: 'add plug <name> [flags]',
  help: `Writes plugs/<name>.ts, a plug with one typed request (<name>.hello, which also broadcasts
<name>.greeted), and plugs/<name>.test.ts, a node:test test that starts a server with the plug and calls
it. A running "switchboard dev" loads the new plug at once, without a restart. Existing files are never
overwritten.

<name> starts with a letter, then letters, digits, "-" or "_"; 64 characters at most.

Flags:
      --plugs <dir>     Plugs folder (env SWITCHBOARD_PLUGS, config "plugs", default ./plugs)
  -c, --config <file>   Config file (env SWITCHBOARD_CONFIG, default ./switchboard.config.ts)
  -h, --help            Show this help

Examples:
  switchboard add plug rooms
  switchboard add plug presence --plugs src/plugs`,
  options: {
    plugs: { type: 'string' },
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' },
  },
  maxPositionals: 2,
  async run(args, ctx) {
    const [kind, name] = args.positionals;
    if (kind === undefined) throw new UsageError(`say what to add, as in "${ctx.program} add plug <name>"`, 'add');
    if (kind !== 'plug') throw new UsageError(`cannot add ${JSON.stringify(kind)}: only "plug" can be added, as in "${ctx.program} add plug <name>"`, 'add');
    if (name === undefined) throw new UsageError(`name the plug, as in "${ctx.program} add plug rooms"`, 'add');
    if (!PLUG_NAME_PATTERN.test(name)) {
      throw new UsageError(
        `plug name ${JSON.stringify(name)} is not valid: start with a letter, then use letters, digits, "-" or "_" (64 characters at most)`,
        'add',
      );
    }
    const flags = args.values as { plugs?: string; config?: string };
    // Loaded here so that argument errors answer without loading the server (config files import it).
    const { resolvePlugsDir } = await import('../config.ts');
    const plugsDir = await resolvePlugsDir(flags, ctx.env, ctx.cwd);
    const files = (await renderTemplates('plug', { name })).map((file) => ({ ...file, path: file.path.replace(/^plugs\//, '') }));
    const taken = files.filter((file) => existsSync(join(plugsDir, file.path)));
    if (taken.length > 0) {
      const paths = taken.map((file) => displayPath(join(plugsDir, file.path), ctx.cwd)).join(' and ');
      throw new CommandError(`${paths} ${taken.length > 1 ? 'exist' : 'exists'} already; pick another name or delete ${taken.length > 1 ? 'them' : 'it'} first`);
    }
    const created = !existsSync(plugsDir);
    await mkdir(plugsDir, { recursive: true });
    try {
      await writeRendered(plugsDir, files, { overwrite: false });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CommandError(`${(error as Error).message}; nothing was overwritten`);
      throw error;
    }
    const plugFile = displayPath(join(plugsDir, `${name}.ts`), ctx.cwd);
    const testFile = displayPath(join(plugsDir, `${name}.test.ts`), ctx.cwd);
    ctx.out(
      `${created ? `Created the plugs folder ${displayPath(plugsDir, ctx.cwd)}.\n` : ''}` +
        `Created ${plugFile} and ${testFile}.\n` +
        `A running "${ctx.program} dev" picks it up now, without a restart. From a page:\n` +
        `  await client.request('${name}.hello', { name: 'Ada' })  // → { greeting: 'Hello, Ada!' }\n` +
        `Test it: ${ctx.program} test ${testFile}\n`,
    );
    return 0;
  },
};
