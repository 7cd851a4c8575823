// The CLI's entry: picks the command, parses its flags, and turns every failure into a message and an exit code.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { getAsset, isSea } from 'node:sea';
import { CommandError, ExitCode, parseCommandLine, UsageError } from './args.ts';
import type { Command, CommandContext } from './command.ts';
import { addCommand } from './commands/add.ts';
import { initCommand } from './commands/init.ts';
import { roomsCommand } from './commands/rooms.ts';
import { auditCommand } from './commands/audit.ts';
import { reloadCommand, statusCommand } from './commands/agent.ts';
import { devCommand, serve, SERVE_OPTIONS, startCommand } from './commands/serve.ts';
import { testCommand } from './commands/test.ts';
import type { ServeFlags } from './config.ts';
import { displayPath } from './display.ts';

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [initCommand, devCommand, startCommand, addCommand, testCommand, roomsCommand, auditCommand, statusCommand, reloadCommand];

function version(): string {
  // The single executable (packages/cli/sea) carries this package.json as an asset.
  const source = isSea() ? getAsset('package.json', 'utf8') : readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  const pkg = JSON.parse(source) as { version: string };
  return pkg.version;
}

function programName(argv1: string | undefined): string {
  const name = argv1 === undefined ? '' : basename(argv1).replace(/\.[cm]?[jt]s$/, '');
  return name === 'socket' ? 'socket' : 'switchboard';
}

function mainHelp(program: string): string {
  const width = Math.max(...COMMANDS.map((command) => command.usage.length));
  const list = COMMANDS.map((command) => `  ${command.usage.padEnd(width)}  ${command.summary}`).join('\n');
  return `Switchboard: a real-time WebSocket server whose logic lives in hot-swappable plugs.

Usage: ${program} <command> [flags]

Commands:
${list}
  ${'help [command]'.padEnd(width)}  Show help for a command

With no command, ${program} serves the project in this folder like "dev" when it has a plugs folder,
and otherwise explains how to start one.

Flags:
  -h, --help      Show help (also after any command: ${program} dev --help)
  -v, --version   Show the version

Exit codes: 0 done, 1 the command failed or refused, 2 a wrong flag, argument or setting.
`;
}

function commandHelp(command: Command, program: string): string {
  return `Usage: ${program} ${command.usage}\n\n${command.summary}.\n\n${command.help.replaceAll('switchboard ', `${program} `)}\n`;
}

// How many single-letter edits turn `a` into `b` (for "did you mean").
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command) return command;
  const close = COMMANDS.find((candidate) => editDistance(candidate.name, name) <= 2);
  throw new UsageError(`unknown command ${JSON.stringify(name)}${close ? `; did you mean "${close.name}"?` : ''}`);
}

// Bare `switchboard`: serve when there is something to serve, otherwise say how to get there.
async function runDefault(args: string[], ctx: CommandContext): Promise<number | 'running'> {
  const parsed = parseCommandLine(ctx.program, args, SERVE_OPTIONS, 0);
  if (parsed.values.help === true) {
    ctx.out(mainHelp(ctx.program));
    return ExitCode.ok;
  }
  const flags = parsed.values as ServeFlags;
  const { resolvePlugsDir } = await import('./config.ts');
  const plugsDir = await resolvePlugsDir(flags, ctx.env, ctx.cwd);
  if (existsSync(plugsDir)) return serve(flags, ctx, 'dev');
  const p = ctx.program;
  ctx.out(`There is no Switchboard project here yet (no plugs folder at ${displayPath(plugsDir, ctx.cwd)}).

Start one:
  ${p} init my-app      # a project with an example plug, a page and its test
  cd my-app
  ${p} dev              # serve it; plugs hot-swap when you save them

Or in this folder: "${p} init", or "${p} add plug <name>" to start with a single plug.
"${p} --help" lists every command.
`);
  return ExitCode.ok;
}

function report(error: unknown, ctx: CommandContext, running: Command | undefined): number {
  if (error instanceof UsageError) {
    const command = error.command ?? running?.name;
    const help = command && command !== ctx.program ? `${ctx.program} ${command} --help` : `${ctx.program} --help`;
    ctx.err(`${ctx.program}: ${error.message}\nSee "${help}".\n`);
    return ExitCode.usage;
  }
  if (error instanceof CommandError) {
    ctx.err(`${ctx.program}: ${error.message}\n`);
    return ExitCode.failed;
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('SB_')) {
    // Developer errors from the catalogue already say what to change; bad settings are usage errors.
    const cause = (error as Error).cause instanceof Error ? `\n  caused by: ${((error as Error).cause as Error).message}` : '';
    ctx.err(`${ctx.program}: ${(error as Error).message}${code === 'SB_CONFIG_LOAD_FAILED' ? cause : ''}\n`);
    return code === 'SB_CONFIG_INVALID' ? ExitCode.usage : ExitCode.failed;
  }
  ctx.err(`${ctx.program}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return ExitCode.failed;
}

/**
 * Runs the CLI with `argv` (without node and the script). Resolves with the exit code, or `'running'`
 * when a server now keeps the process alive.
 *
 * @example
 * const code = await main(['init', 'my-app']);
 */
export async function main(argv: string[], context: Partial<CommandContext> = {}): Promise<number | 'running'> {
  const ctx: CommandContext = {
    program: context.program ?? programName(process.argv[1]),
    cwd: context.cwd ?? process.cwd(),
    env: context.env ?? process.env,
    out: context.out ?? ((text) => void process.stdout.write(text)),
    err: context.err ?? ((text) => void process.stderr.write(text)),
  };
  const [first, ...rest] = argv;
  let command: Command | undefined;
  try {
    if (first === undefined || (first.startsWith('-') && !['-h', '--help', '-v', '--version'].includes(first))) {
      return await runDefault(argv, ctx);
    }
    if (first === '-h' || first === '--help') {
      ctx.out(mainHelp(ctx.program));
      return ExitCode.ok;
    }
    if (first === '-v' || first === '--version') {
      ctx.out(`${version()}\n`);
      return ExitCode.ok;
    }
    if (first === 'help') {
      if (rest.length > 1) throw new UsageError(`"help" takes at most one command name, got ${rest.length}`);
      ctx.out(rest[0] === undefined ? mainHelp(ctx.program) : commandHelp(findCommand(rest[0]), ctx.program));
      return ExitCode.ok;
    }
    command = findCommand(first);
    const args = parseCommandLine(command.name, rest, command.options, command.maxPositionals, command.passThrough);
    if (args.values.help === true) {
      ctx.out(commandHelp(command, ctx.program));
      return ExitCode.ok;
    }
    return await command.run(args, ctx);
  } catch (error) {
    return report(error, ctx, command);
  }
}
