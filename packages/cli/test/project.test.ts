// End to end through the real bin: init a project, serve it, talk to it, add a plug while it runs, stop it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@switchboard/client';
import { runCli, startCli, tempDir } from './helpers.ts';

interface Manifest {
  version: string;
  messages: { type: string; plug: string }[];
}

test('init writes a project that serves at once: page, SDK, plug, hot-added plug, graceful stop', async () => {
  await using dir = await tempDir();
  const project = join(dir.path, 'my app');
  const init = await runCli(['init', 'my app'], { cwd: dir.path });
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /Created my-app in \.\/my app/);
  const files = (await readdir(project, { recursive: true })).sort();
  assert.deepEqual(files, [
    '.gitignore',
    'README.md',
    'package.json',
    'plugs',
    'plugs/counter.test.ts',
    'plugs/counter.ts',
    'public',
    'public/index.html',
    'switchboard.config.ts',
    'tsconfig.json',
  ]);
  const pkg = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as { name: string; scripts: Record<string, string> };
  assert.equal(pkg.name, 'my-app');
  assert.deepEqual(Object.keys(pkg.scripts).sort(), ['dev', 'start', 'test', 'typecheck']);

  await using cli = await startCli(['dev', '--port', '0'], { cwd: project });
  assert.match(cli.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(cli.url, 'http://127.0.0.1:0');
  assert.match(cli.stdout(), /plugs {6}\.\/plugs: counter \(counter\.get, counter\.add\)/);

  const page = await fetch(`${cli.url}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /import \{ connect \} from '\/switchboard\.js'/);
  const sdk = await fetch(`${cli.url}/switchboard.js`);
  assert.equal(sdk.status, 200);
  assert.match(sdk.headers.get('content-type') ?? '', /^text\/javascript/);
  const source = await sdk.text();
  assert.match(source, /export \{[^}]*\bconnect\b/);
  assert.doesNotMatch(source, /^\s*import .* from ['"]/m, 'one file: no imports left');

  using alice = connect(cli.wsUrl);
  using bob = connect(cli.wsUrl);
  await Promise.all([alice.ready, bob.ready]);
  const changed = new Promise<unknown>((resolve) => bob.on('counter.changed', resolve));
  assert.deepEqual(await alice.request('counter.add', { by: 3 }), { count: 3 });
  assert.deepEqual(await withTimeout(changed, 5000, 'counter.changed push'), { count: 3, by: 3 });

  // Add a plug while the server runs: it appears in the pushed manifest and answers, without a restart.
  const manifestWithGreeter = new Promise<Manifest>((resolve) => {
    const off = alice.events.on('manifest', (manifest: Manifest) => {
      if (!manifest.messages.some((entry) => entry.type === 'greeter.hello')) return;
      off();
      resolve(manifest);
    });
  });
  const add = await runCli(['add', 'plug', 'greeter'], { cwd: project });
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /Created \.\/plugs\/greeter\.ts and \.\/plugs\/greeter\.test\.ts/);
  const manifest = await withTimeout(manifestWithGreeter, 10_000, 'greeter.hello in a $manifest push');
  assert.deepEqual(manifest.messages.map((entry) => entry.type).sort(), ['counter.add', 'counter.get', 'greeter.hello']);
  assert.deepEqual(await alice.request('greeter.hello', { name: 'Ada' }), { greeting: 'Hello, Ada!' });
  // The test file beside it is not a plug.
  const plugs = (await (await fetch(`${cli.url}/admin/plugs`)).json()) as { plugs: { name: string }[] };
  assert.deepEqual(plugs.plugs.map((plug) => plug.name).sort(), ['counter', 'greeter']);
  // Connections survived the swap.
  assert.deepEqual(await bob.request('counter.get', {}), { count: 3 });

  const again = await runCli(['add', 'plug', 'greeter'], { cwd: project });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /greeter\.test\.ts and .*greeter\.ts exist already; pick another name/);

  assert.equal(await cli.stop(), 0, 'SIGTERM ends with a graceful shutdown and exit code 0');
  // dev logs are readable lines (start's are JSON).
  assert.match(cli.stdout(), /INFO: server stopped/);

  // The scaffolded tests pass, before any npm install.
  const tests = await runCli(['test'], { cwd: project, timeoutMs: 60_000 });
  assert.equal(tests.code, 0, `${tests.stdout}\n${tests.stderr}`);
  // The spec reporter (ℹ) or TAP (#): node --test picks by Node version and terminal.
  assert.match(tests.stdout, /(ℹ|#) pass 4\b/);
  assert.match(tests.stdout, /(ℹ|#) fail 0\b/);
});

test('init refuses a folder that is not empty unless --force, and accepts one with only .git', async () => {
  await using dir = await tempDir();
  await writeFile(join(dir.path, 'notes.txt'), 'mine');
  const refused = await runCli(['init'], { cwd: dir.path });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /\. is not empty \(notes\.txt\)\. .*pass --force/);
  assert.equal(existsSync(join(dir.path, 'plugs')), false, 'nothing written');

  const forced = await runCli(['init', '--force'], { cwd: dir.path });
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(await readFile(join(dir.path, 'notes.txt'), 'utf8'), 'mine');
  assert.ok(existsSync(join(dir.path, 'plugs', 'counter.ts')));

  await using withGit = await tempDir();
  await mkdir(join(withGit.path, '.git'));
  const ok = await runCli(['init'], { cwd: withGit.path });
  assert.equal(ok.code, 0, ok.stderr);
});

test('bare switchboard explains what to do in an empty folder, and serves a folder with plugs', async () => {
  await using empty = await tempDir();
  const guide = await runCli([], { cwd: empty.path });
  assert.equal(guide.code, 0);
  assert.match(guide.stdout, /There is no Switchboard project here yet/);
  assert.match(guide.stdout, /switchboard init my-app/);
  assert.equal(guide.stderr, '');

  await using dir = await tempDir();
  assert.equal((await runCli(['init'], { cwd: dir.path })).code, 0);
  await using cli = await startCli(['--port', '0'], { cwd: dir.path });
  assert.match(cli.stdout(), /Switchboard dev server listening on http:\/\/127\.0\.0\.1:\d+/);
  using client = connect(cli.wsUrl);
  assert.deepEqual(await client.request('counter.get', {}), { count: 0 });
});

test('start serves without watching, and --watch turns hot swap on', async () => {
  await using dir = await tempDir();
  assert.equal((await runCli(['init'], { cwd: dir.path })).code, 0);
  await using cli = await startCli(['start', '--port', '0'], { cwd: dir.path });
  assert.match(cli.stdout(), /Switchboard server listening on/);
  assert.match(cli.stdout(), /hot swap {3}off/);
  const sdk = await (await fetch(`${cli.url}/switchboard.js`)).text();
  assert.ok(sdk.split('\n').length < 20, 'start serves the SDK minified');
  assert.equal(await cli.stop(), 0);

  await using watching = await startCli(['start', '--port', '0', '--watch'], { cwd: dir.path });
  assert.match(watching.stdout(), /hot swap {3}on/);
});

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
