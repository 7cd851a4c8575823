// Installs Switchboard as a user would: packs every package, installs the tarballs into a project outside
// the repository (third-party dependencies come from the registry), creates an app with the CLI and follows
// the generated README step by step.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { pack } from '../../../scripts/pack.ts';

const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
let work = '';
let tarballs: string[] = [];
let staged: string[] = [];

/** The environment of a user's shell: no test-runner or CLI settings leaking in, loud npm errors only. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };
  for (const key of Object.keys(env)) if (key.startsWith('SWITCHBOARD_') || key === 'NODE_TEST_CONTEXT' || key === 'PORT') delete env[key];
  return { ...env, ...extra };
}

async function sh(command: string, args: string[], cwd: string, extra: Record<string, string> = {}): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd, env: userEnv(extra), timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout + stderr;
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${failed.stdout ?? ''}\n${failed.stderr ?? ''}`, { cause: error });
  }
}

/** A long-running command (npm run dev) in its own process group, so that stopping it stops all of it. */
async function serve(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ url: string; wsUrl: string; output(): string; stop(): Promise<void>; exitCode(): number | null }> {
  const child = spawn(command, args, { cwd, env: userEnv({ PORT: '0', ...env }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-child.pid!, 'SIGTERM');
    const force = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(force);
  };
  const urls = await new Promise<{ url: string; wsUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 60 s:\n${output}`)), 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      const wsUrl = /WebSocket\s+(ws:\/\/\S+)/.exec(output)?.[1];
      if (url && wsUrl) {
        clearTimeout(timer);
        resolve({ url, wsUrl });
      }
    });
    void exited.then(() => reject(new Error(`exited before serving:\n${output}`)));
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  return { ...urls, output: () => output, stop, exitCode: () => child.exitCode };
}

/** One request over a plain WebSocket: connect, wait for $welcome, send, wait for the reply. */
async function request(wsUrl: string, type: string, data: unknown): Promise<{ data?: unknown; error?: { code: string } }> {
  const ws = new WebSocket(wsUrl);
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${type}`)), 10_000);
      ws.on('error', reject);
      ws.on('message', (raw) => {
        const envelope = JSON.parse(raw.toString()) as { type: string; id?: number; data?: unknown; error?: { code: string } };
        if (envelope.type === '$welcome') ws.send(JSON.stringify({ type, id: 1, data }));
        else if (envelope.id === 1) {
          clearTimeout(timer);
          resolve(envelope);
        }
      });
    });
  } finally {
    ws.terminate();
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'switchboard-install-'));
  ({ tarballs, staged } = pack({ out: join(work, 'packages') }));
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('every package passes publint and are-the-types-wrong (ESM only)', async () => {
  for (const dir of staged) {
    const lint = await sh(npx, ['publint', dir, '--strict'], repo);
    assert.match(lint, /All good!/, lint);
    const types = await sh(npx, ['attw', '--pack', dir, '--profile', 'esm-only', '--format', 'ascii'], repo);
    // attw exits non-zero on a problem that is not ignored; ESM-only packages ignore node10 and require().
    const verdicts = types.split('\n').filter((line) => /^(node16 \(from ESM\)|bundler):/.test(line));
    assert.ok(verdicts.length > 0, types);
    for (const line of verdicts) assert.match(line, /🟢/, `${dir}: ${line}`);
  }
  // What ships: compiled JavaScript with types and source maps, no TypeScript sources, no tests.
  const listing = await sh('tar', ['-tzf', tarballs.find((file) => file.includes('server'))!], work);
  assert.match(listing, /package\/dist\/index\.js\n/);
  assert.match(listing, /package\/dist\/index\.d\.ts\n/);
  assert.match(listing, /package\/dist\/testing\/bus-contract\.js\n/);
  assert.doesNotMatch(listing, /package\/src\/|\.test\.|tsbuildinfo/);
  const postgres = await sh('tar', ['-tzf', tarballs.find((file) => file.includes('switchboard-postgres-'))!], work);
  assert.match(postgres, /package\/dist\/postgres-store\.js\n/);
  assert.doesNotMatch(postgres, /package\/src\/|package\/test\/|tsbuildinfo/);
  const redis = await sh('tar', ['-tzf', tarballs.find((file) => file.includes('switchboard-redis-'))!], work);
  assert.match(redis, /package\/dist\/redis-bus\.js\n/);
  assert.doesNotMatch(redis, /package\/src\/|package\/test\/|tsbuildinfo/);
});

test('a new project outside the repository installs the tarballs, and every step of its README works', async () => {
  // The user's machine: an empty folder where the CLI is installed from the packages (as `npx @switchboard/cli` would).
  const home = join(work, 'home');
  await mkdir(home);
  await sh(npm, ['init', '-y'], home);
  // Everything but the optional back ends (@switchboard/postgres, @switchboard/redis): the quick start never installs a database driver.
  const quickStart = tarballs.filter((file) => !file.includes('switchboard-postgres-') && !file.includes('switchboard-redis-'));
  await sh(npm, ['install', ...quickStart], home);
  const created = await sh(npx, ['@switchboard/cli', 'init', 'my-app'], home);
  assert.match(created, /cd \.\/my-app/);
  const app = join(home, 'my-app');
  const readme = await readFile(join(app, 'README.md'), 'utf8');
  // The README's first code block, command by command (comments dropped): each is run below, as written.
  const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const commands = block.split('\n').map((line) => line.replace(/#.*$/, '').trim()).filter(Boolean);
  assert.deepEqual(commands, ['npm install', 'npm run dev', 'npx @switchboard/cli add plug rooms', 'npm test', 'npm run typecheck', 'npm start'], readme);

  // Stand-in for the registry until the packages are published: the same tarballs, into the project.
  await sh(npm, ['install', ...quickStart], app);
  // npm install
  await sh(npm, ['install'], app);
  assert.equal(existsSync(join(app, 'node_modules', 'postgres')), false, 'no PostgreSQL driver in a new app');
  assert.equal(existsSync(join(app, 'node_modules', 'ioredis')), false, 'no Redis driver in a new app');

  // npm run dev (PORT=0: a free port)
  const dev = await serve(npm, ['run', 'dev'], app);
  try {
    const page = await fetch(dev.url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /\/switchboard\.js/);
    assert.equal((await fetch(`${dev.url}/switchboard.js`)).status, 200);
    assert.deepEqual((await request(dev.wsUrl, 'counter.add', { by: 2 })).data, { count: 2 });
    // dev logs are for a person: one readable line each, not JSON.
    assert.match(dev.output(), /INFO: plug loaded/);
    assert.doesNotMatch(dev.output(), /"level":\d+/);
    // npx @switchboard/cli add plug rooms: picked up by the running server.
    await sh(npx, ['@switchboard/cli', 'add', 'plug', 'rooms'], app);
    let greeting: { data?: unknown; error?: { code: string } } = {};
    for (let attempt = 0; attempt < 100; attempt++) {
      greeting = await request(dev.wsUrl, 'rooms.hello', { name: 'Ada' });
      if (!greeting.error) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(greeting.data, { greeting: 'Hello, Ada!' });
  } finally {
    await dev.stop();
  }

  // npm test: the generated tests and the added plug's pass.
  const tests = await sh(npm, ['test'], app);
  assert.match(tests, /pass [1-9]/);
  assert.match(tests, /fail 0/);
  // npm run typecheck: the generated tsconfig matches the generated files.
  await sh(npm, ['run', 'typecheck'], app);
  await sh(npx, ['tsc', '--noEmit', '-p', 'tsconfig.json'], app);

  // npm start
  const production = await serve(npm, ['start'], app);
  try {
    assert.deepEqual((await request(production.wsUrl, 'counter.get', {})).data, { count: 0 });
  } finally {
    await production.stop();
  }

  // The container's command and health check (the Dockerfile's CMD and HEALTHCHECK), run in this same layout:
  // no Docker daemon here, so the image itself is not built, but what it runs is.
  const dockerfile = await readFile(join(repo, 'Dockerfile'), 'utf8');
  assert.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage');
  assert.match(dockerfile, /^USER node$/m, 'runs as a non-root user');
  assert.match(dockerfile, /^STOPSIGNAL SIGTERM$/m);
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
  const check = JSON.parse(/^\s+CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
  assert.equal(cmd[0], 'node');
  const container = await serve(process.execPath, cmd.slice(1), app, { NODE_ENV: 'production', HOST: '127.0.0.1' });
  try {
    const port = new URL(container.url).port;
    const healthy = await run(process.execPath, check.slice(1), { env: userEnv({ PORT: port }) }).then(() => 0, (error: { code?: number }) => error.code ?? 1);
    assert.equal(healthy, 0, 'the health check passes while the server runs');
    assert.match(container.output(), /"msg":"listening"/, 'production logs are JSON lines');
  } finally {
    await container.stop();
  }
  assert.equal(container.exitCode(), 0, 'SIGTERM ends it gracefully with 0');
  const down = await run(process.execPath, check.slice(1), { env: userEnv({ PORT: new URL(container.url).port }) }).then(() => 0, () => 1);
  assert.equal(down, 1, 'the health check fails once it is gone');
});
