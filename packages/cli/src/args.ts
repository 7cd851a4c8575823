// Command-line parsing on node:util parseArgs, with errors that name the flag and exit with code 2.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** Exit codes: 0 done, 1 the command failed or refused, 2 the command line or a setting was wrong. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A mistake in how the command was called (unknown flag, bad value, missing argument). The CLI prints the
 * message with a pointer to `--help` and exits with code 2.
 *
 * @example
 * throw new UsageError('--port: expected an integer from 0 to 65535, got "abc"', 'dev');
 */
export class UsageError extends Error {
  override name = 'UsageError';
  /** The command whose `--help` the message points to. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

/**
 * A command that could not do its job for a reason the user can fix (a file exists, a folder is missing).
 * The CLI prints the message and exits with code 1.
 *
 * @example
 * throw new CommandError('plugs/chat.ts exists already; pick another name or delete it');
 */
export class CommandError extends Error {
  override name = 'CommandError';
}

/** What `parseCommandLine` returns: option values by name, and the positional arguments. */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** What followed `--`, for commands that pass arguments on (empty otherwise). */
  rest: string[];
}

// parseArgs's own messages suggest parseArgs syntax ("place it after '--'"); ours name the flag and the fix.
function describeParseError(error: Error & { code?: string }, command: string): string {
  // parseArgs names a flag as '--port', '-p' or '-p, --port <value>': prefer the long form.
  const flag = /(--[\w-]+)/.exec(error.message)?.[1] ?? /'(-[^' ,]+)/.exec(error.message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag ${flag ?? error.message} for "${command}"`;
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return /does not take an argument/.test(error.message) ? `${flag} is a switch and takes no value` : `${flag} needs a value, as in ${flag} <value>`;
  }
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const argument = /argument '([^']*)'/.exec(error.message)?.[1];
    return `unexpected argument ${JSON.stringify(argument ?? '')} for "${command}"`;
  }
  return error.message;
}

/**
 * Parses `args` strictly: unknown flags, missing values and extra positionals become a `UsageError`.
 * With `passThrough`, everything after `--` is returned untouched as `rest`.
 *
 * @example
 * const { values } = parseCommandLine('dev', ['--port', '8080'], { port: { type: 'string' } }, 0);
 */
export function parseCommandLine(
  command: string,
  args: string[],
  options: ParseArgsOptionsConfig,
  maxPositionals: number,
  passThrough = false,
): ParsedArgs {
  const split = passThrough ? args.indexOf('--') : -1;
  const own = split === -1 ? args : args.slice(0, split);
  const rest = split === -1 ? [] : args.slice(split + 1);
  let parsed: ParsedArgs;
  try {
    const { values, positionals } = parseArgs({ args: own, options, strict: true, allowPositionals: maxPositionals > 0 });
    parsed = { values: values as ParsedArgs['values'], positionals, rest };
  } catch (error) {
    throw new UsageError(describeParseError(error as Error & { code?: string }, command), command);
  }
  if (parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals[maxPositionals] ?? '';
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)} for "${command}"`, command);
  }
  return parsed;
}

/**
 * Reads a port number; `source` names where it came from (a flag, a variable, a config key) for the message.
 *
 * @example
 * parsePort('8080', '--port') // 8080
 * parsePort('abc', 'PORT')    // throws: PORT: expected an integer from 0 to 65535, got "abc"
 */
export function parsePort(value: unknown, source: string): number {
  const port = typeof value === 'string' && /^\d{1,5}$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${source}: expected an integer from 0 to 65535 (0 picks a free port), got ${JSON.stringify(value)}`);
  }
  return port;
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off']);

/**
 * Reads an on/off setting from text (1/0, true/false, yes/no, on/off).
 *
 * @example
 * parseSwitch('1', 'SWITCHBOARD_WATCH') // true
 */
export function parseSwitch(value: string, source: string): boolean {
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new UsageError(`${source}: expected 1/0, true/false, yes/no or on/off, got ${JSON.stringify(value)}`);
}

/** pino's levels, and `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Reads a log level.
 *
 * @example
 * parseLogLevel('debug', '--log-level') // 'debug'
 */
export function parseLogLevel(value: unknown, source: string): LogLevel {
  if (typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new UsageError(`${source}: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
}

/**
 * Reads a non-empty text setting such as a host or a folder.
 *
 * @example
 * parseText('0.0.0.0', '--host') // '0.0.0.0'
 */
export function parseText(value: unknown, source: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${source}: expected a non-empty value, got ${JSON.stringify(value)}`);
  return value;
}
