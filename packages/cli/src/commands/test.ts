// `switchboard test`: runs the project's tests with node --test, able to import Switchboard before `npm install`.
import { spawn } from 'node:child_process';
import type { Command } from '../command.ts';

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
    const register = import.meta.resolve('../register.ts');
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
