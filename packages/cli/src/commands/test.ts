// `switchboard test`: runs the project's tests with node --test, able to import Switchboard before `npm install`.
import { spawn } from 'node:child_process';
import { isSea } from 'node:sea';
import { UsageError, type ParsedArgs } from '../args.ts';
import type { Command, CommandContext } from '../command.ts';

// Inside the single executable (packages/cli/sea) there is no node to spawn: process.execPath is the
// executable. The tests run in this process instead (node:test's run() without isolation), where the
// executable's module hook already serves the Switchboard packages and zod.
async function runInThisProcess(args: ParsedArgs, ctx: CommandContext): Promise<number> {
  if (args.rest.length > 0) {
    throw new UsageError('node flags after "--" need node itself; the single executable runs the tests in its own process without them', 'test');
  }
  const [{ run }, { spec }] = await Promise.all([import('node:test'), import('node:test/reporters')]);
  let failed = false;
  const events = run({ cwd: ctx.cwd, isolation: 'none', ...(args.positionals.length > 0 ? { globPatterns: args.positionals } : {}) });
  events.on('test:fail', (data: { todo?: unknown }) => {
    if (data.todo === undefined || data.todo === false) failed = true;
  });
  for await (const chunk of events.compose(spec())) ctx.out(String(chunk));
  return failed ? 1 : 0;
}

/** `switchboard test`. */
export const testCommand: Command = {
  name: 'test',
  summary: "Run the project's tests (node --test)",
  usage: 'test [files...] [-- node flags]',
  help: `Runs node --test in this folder: every *.test.ts file outside node_modules, or the files and glob
patterns given. Tests may import @switchboard/server, @switchboard/server/testing, @switchboard/client and
zod even when the project has not installed them (the CLI's own copies are used).

Anything after "--" goes to node, before --test.

Flags:
  -h, --help   Show this help

Examples:
  switchboard test
  switchboard test plugs/rooms.test.ts
  switchboard test -- --test-name-pattern=broadcast`,
  options: { help: { type: 'boolean', short: 'h' } },
  maxPositionals: Number.POSITIVE_INFINITY,
  passThrough: true,
  async run(args, ctx) {
    if (isSea()) return runInThisProcess(args, ctx);
    // From the sources in the repository, or from the build in an installed package (tsc rewrites import
    // specifiers, not this URL).
    const register = new URL(import.meta.url.endsWith('.ts') ? '../register.ts' : '../register.js', import.meta.url).href;
    const child = spawn(process.execPath, ['--import', register, ...args.rest, '--test', ...args.positionals], {
      cwd: ctx.cwd,
      env: ctx.env,
      stdio: 'inherit',
    });
    // A SIGTERM sent to this process alone must reach the tests too; listening also keeps this process
    // alive until the child has reported.
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    try {
      return await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
      });
    } finally {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    }
  },
};
