// `npm test`: type check, lint, then every test suite, saying what runs and how long each step took.
// `node scripts/test.js --suites-only` runs the suites alone (CI runs them again on the minimum Node).
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const suitesOnly = args.includes('--suites-only');
const major = Number(process.versions.node.split('.')[0]);

const suites = ['packages/*/test/**/*.test.ts', 'packages/*/src/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'deploy/test/**/*.test.ts'];
// The install test packs, installs from the registry and runs a project's README: minutes, not seconds.
const testArgs = ['--test', '--test-concurrency=2', '--test-timeout=300000'];
// Node 22 cannot parse `using`; the tests use it, so lower it there (Node 24 runs the files as they are).
if (major < 24) testArgs.unshift('--import', new URL('./lower-using.js', import.meta.url).pathname);

const steps = [
  ...(suitesOnly ? [] : [
    { name: 'typecheck', what: 'tsc -p tsconfig.json (every package, test and example)', command: 'npx', argv: ['tsc', '-p', 'tsconfig.json'] },
    { name: 'lint', what: 'eslint . (type-aware: floating promises, exhaustive switches, layer boundaries)', command: 'npx', argv: ['eslint', '.'] },
  ]),
  { name: 'suites', what: `node ${testArgs.join(' ')} (server, client, CLI, install, browser, examples)`, command: process.execPath, argv: [...testArgs, ...suites] },
];

for (const step of steps) {
  console.error(`\n▶ ${step.name}: ${step.what} …`);
  const started = Date.now();
  const result = spawnSync(step.command, step.argv, { stdio: 'inherit', shell: step.command === 'npx' && process.platform === 'win32' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    console.error(`✖ ${step.name} failed after ${seconds} s`);
    process.exit(result.status ?? 1);
  }
  console.error(`✔ ${step.name} passed in ${seconds} s`);
}
