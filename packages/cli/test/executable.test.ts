// The single executable (packages/cli/sea): built once, then used as the CLI in a folder with no node_modules.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@switchboard/client';
import { cliEnv, runProcess, tempDir, type CliResult, type TempDir } from './helpers.ts';

const BUILD_SCRIPT = fileURLToPath(new URL('../sea/build.ts', import.meta.url));
const VERSION = (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface Manifest {
  version: string;
  messages: { type: string; plug: string }[];
}

// Where this machine cannot build an executable at all; anything else that breaks the build fails the tests.
function cannotBuild(): string | undefined {
  // The build refuses older Nodes itself (packages/cli/sea/build.ts); the suites also run on Node 22.
  if (Number(process.versions.node.split('.')[0]) < 24) return `building the executable needs Node 24 or newer; this is ${process.version}`;
  if ((process.config.variables as Record<string, unknown>).single_executable_application === false) {
    return `this node (${process.execPath}) was built without single executable support`;
  }
  try {
    createRequire(import.meta.url).resolve('postject/dist/cli.js');
  } catch {
    return 'postject is not installed (npm install at the repository root)';
  }
  return undefined;
}

const skipReason = cannotBuild();
let outDir: TempDir | undefined;
let exe = '';

before(async () => {
  if (skipReason !== undefined) return;
  outDir = await tempDir('switchboard-exe-');
  const build = await run(process.execPath, [BUILD_SCRIPT, '--out', outDir.path], process.cwd(), 180_000);
  assert.equal(build.code, 0, `the build failed\n${build.stdout}\n${build.stderr}`);
  exe = join(outDir.path, process.platform === 'win32' ? 'switchboard.exe' : 'switchboard');
});

after(async () => {
  await outDir?.[Symbol.asyncDispose]();
});

// Skips loudly: a missing executable should be noticed, not mistaken for a pass.
function skipped(t: TestContext): boolean {
  if (skipReason === undefined) return false;
  console.warn(`SKIPPED ${t.name}: cannot build the single executable here: ${skipReason}`);
  t.skip(skipReason);
  return true;
}

const run = (command: string, args: string[], cwd: string, timeoutMs?: number): Promise<CliResult> =>
  runProcess(command, args, timeoutMs === undefined ? { cwd } : { cwd, timeoutMs });

const runExe = (args: string[], cwd: string, timeoutMs?: number) => run(exe, args, cwd, timeoutMs);

interface Serving extends AsyncDisposable {
  url: string;
  wsUrl: string;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (from the start) matches `pattern`; fails after `timeoutMs`. */
  printed(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<number | null>;
}

// Starts a serving command of the executable; resolves once it printed its URLs.
async function serveExe(args: string[], cwd: string, options: { command?: string; env?: Record<string, string> } = {}): Promise<Serving> {
  const timeoutMs = 20_000;
  const child: ChildProcess = spawn(options.command ?? exe, args, { cwd, env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const printed = (pattern: RegExp, ms = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(stdout)) return;
        clearTimeout(timer);
        child.stdout?.off('data', check);
        resolve();
      };
      const timer = setTimeout(() => {
        child.stdout?.off('data', check);
        reject(new Error(`${pattern} not printed within ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, ms);
      child.stdout?.on('data', check);
      check();
    });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    return exited.finally(() => clearTimeout(timer));
  };
  try {
    const early = exited.then((code) => Promise.reject(new Error(`exited with ${code} before printing a URL\nstdout: ${stdout}\nstderr: ${stderr}`)));
    await Promise.race([printed(/WebSocket\s+ws:\/\/\S+/, timeoutMs), early]);
    const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1] ?? '';
    const wsUrl = /WebSocket\s+(ws:\/\/\S+)/.exec(stdout)?.[1] ?? '';
    return { url, wsUrl, stdout: () => stdout, stderr: () => stderr, printed, stop, [Symbol.asyncDispose]: async () => void (await stop()) };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

test('the executable answers --version and --help', async (t) => {
  if (skipped(t)) return;
  await using dir = await tempDir();
  const version = await runExe(['--version'], dir.path);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout, `${VERSION}\n`);
  assert.equal(version.stderr, '', 'no experimental warning or other noise');
  const help = await runExe(['--help'], dir.path);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: switchboard <command>/);
  for (const command of ['init', 'dev', 'start', 'add plug', 'test']) assert.match(help.stdout, new RegExp(`\\n  ${command} `));
  const unknown = await runExe(['serve'], dir.path);
  assert.equal(unknown.code, 2);
});

test('init, then dev serves page, SDK and plugs; add plug and edits swap in; test runs the plug tests', async (t) => {
  if (skipped(t)) return;
  await using dir = await tempDir();
  const init = await runExe(['init', 'app'], dir.path);
  assert.equal(init.code, 0, init.stderr);
  const project = join(dir.path, 'app');
  assert.match(await readFile(join(project, 'plugs', 'counter.ts'), 'utf8'), /name: 'counter'/);

  await using cli = await serveExe(['dev', '--port', '0'], project);
  assert.match(cli.stdout(), /plugs {6}\.\/plugs: counter \(counter\.get, counter\.add\)/);
  const page = await fetch(`${cli.url}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /from '\/switchboard\.js'/);
  const sdk = await (await fetch(`${cli.url}/switchboard.js`)).text();
  assert.match(sdk, /export \{[^}]*\bconnect\b/);

  using client = connect(cli.wsUrl);
  await client.ready;
  assert.deepEqual(await client.request('counter.add', { by: 2 }), { count: 2 });

  // A plug added while the server runs is loaded without a restart, and clients get the new manifest.
  const added = new Promise<Manifest>((resolve) => {
    const off = client.events.on('manifest', (manifest: Manifest) => {
      if (!manifest.messages.some((entry) => entry.type === 'greeter.hello')) return;
      off();
      resolve(manifest);
    });
  });
  const add = await runExe(['add', 'plug', 'greeter'], project);
  assert.equal(add.code, 0, add.stderr);
  await withTimeout(added, 10_000, 'greeter.hello in a $manifest push');
  assert.deepEqual(await client.request('greeter.hello', { name: 'Ada' }), { greeting: 'Hello, Ada!' });

  // Saving an edit swaps the new version in. Only the handler changes, so no manifest is pushed: the log
  // line says when (JSON or pretty-printed, it names the plug the same way).
  const file = join(project, 'plugs', 'greeter.ts');
  await writeFile(file, (await readFile(file, 'utf8')).replace('`Hello, ${data.name}!`', '`Hi, ${data.name}.`'));
  await cli.printed(/^.*(plug swapped.*"plug":"greeter"|"plug":"greeter".*plug swapped)/m);
  assert.deepEqual(await client.request('greeter.hello', { name: 'Ada' }), { greeting: 'Hi, Ada.' });
  assert.deepEqual(await client.request('counter.get', {}), { count: 2 }, 'the connection and the state survived');

  assert.equal(await cli.stop(), 0, 'SIGTERM ends with a graceful shutdown and exit code 0');

  // The scaffolded tests run inside the executable, in its own process. The greeter test still expects
  // "Hello", so it now fails, and the exit code says so.
  const tests = await runExe(['test'], project, 60_000);
  assert.equal(tests.code, 1, `${tests.stdout}\n${tests.stderr}`);
  assert.match(tests.stdout, /ℹ pass 3\b/);
  assert.match(tests.stdout, /ℹ fail 1\b/);
  const counterOnly = await runExe(['test', 'plugs/counter.test.ts'], project, 60_000);
  assert.equal(counterOnly.code, 0, `${counterOnly.stdout}\n${counterOnly.stderr}`);
  assert.match(counterOnly.stdout, /ℹ pass 2\b/);
  const nodeFlags = await runExe(['test', '--', '--test-name-pattern=x'], project);
  assert.equal(nodeFlags.code, 2);
  assert.match(nodeFlags.stderr, /node flags after "--" need node itself/);
});

test('start serves a JavaScript plug and the minified SDK', async (t) => {
  if (skipped(t)) return;
  await using dir = await tempDir();
  assert.equal((await runExe(['init'], dir.path)).code, 0);
  await writeFile(
    join(dir.path, 'plugs', 'echo.js'),
    `import { definePlug } from '@switchboard/server';
import { z } from 'zod';
export default definePlug({
  name: 'echo',
  messages: { 'echo.say': { input: z.object({ text: z.string() }), output: z.object({ text: z.string() }), handler: (data) => ({ text: data.text }) } },
});
`,
  );
  await using cli = await serveExe(['start', '--port', '0'], dir.path);
  assert.match(cli.stdout(), /hot swap {3}off/);
  assert.match(cli.stdout(), /echo \(echo\.say\)/);
  const sdk = await (await fetch(`${cli.url}/switchboard.js`)).text();
  assert.ok(sdk.split('\n').length < 20, 'start serves the SDK minified');
  using client = connect(cli.wsUrl);
  assert.deepEqual(await client.request('echo.say', { text: 'hi' }), { text: 'hi' });
  await assert.rejects(client.request('echo.say', { text: 5 }), { code: 'invalid_payload' });
  assert.equal(await cli.stop(), 0);
});

test('run bare next to a project, as a double-click does, it serves that project', async (t) => {
  if (skipped(t)) return;
  await using dir = await tempDir();
  const project = join(dir.path, 'app');
  assert.equal((await runExe(['init', 'app'], dir.path)).code, 0);
  const copy = join(project, process.platform === 'win32' ? 'switchboard.exe' : 'switchboard');
  await copyFile(exe, copy);
  const elsewhere = join(dir.path, 'elsewhere');
  await mkdir(elsewhere);
  await using cli = await serveExe([], elsewhere, { command: copy, env: { PORT: '0' } });
  assert.match(cli.stderr(), /no project here; serving the one beside the executable/);
  assert.match(cli.stdout(), /Switchboard dev server listening on/);
  assert.match(cli.stdout(), /counter \(counter\.get, counter\.add\)/);
  assert.match(await (await fetch(`${cli.url}/`)).text(), /from '\/switchboard\.js'/);
  assert.equal(await cli.stop(), 0);
});
