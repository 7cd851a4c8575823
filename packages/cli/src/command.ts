// What every CLI command declares: its flags, how many arguments it takes, its help, and how it runs.
import type { ParseArgsOptionsConfig } from 'node:util';
import type { ParsedArgs } from './args.ts';

/** The process a command runs in, passed in so that paths and variables are explicit. */
export interface CommandContext {
  /** The program name to show in help and hints: `switchboard` or `socket`. */
  program: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
}

/**
 * A command. `run` resolves with an exit code, or with `'running'` when it started something that keeps
 * the process alive (a server), whose own signal handling then decides the exit code.
 *
 * @example
 * const hello: Command = { name: 'hello', summary: 'Says hello', usage: 'hello', help: '', options: {},
 *   maxPositionals: 0, run: async (_args, ctx) => { ctx.out('hello\n'); return 0; } };
 */
export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The usage line after the program name, e.g. `add plug <name> [flags]`. */
  usage: string;
  /** The body of `--help`: what it does, its flags, examples. */
  help: string;
  options: ParseArgsOptionsConfig;
  maxPositionals: number;
  /** Whether arguments after `--` are passed on untouched (as `rest`) instead of parsed. */
  passThrough?: boolean;
  run(args: ParsedArgs, ctx: CommandContext): Promise<number | 'running'>;
}
