// `switchboard start --workers` (an agent and its worker processes on one port), `switchboard status` and
// `switchboard reload`, the CLI run as child processes in a project folder: the banner and the pid file,
// clients on different workers reaching each other, the status table and JSON with the admin token, a reload,
// the restart intensity from the config file, and wrong command lines. (SIGHUP reloads: cluster-reload.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type Client } from '@switchboard/client';
import { runCli, startCli, tempDir, type RunningCli } from './helpers.ts';

const ADMIN_TOKEN = 'a-cluster-cli-test-token-0123456789';

const WHERE_PLUG = `import { definePlug, z } from '@switchboard/server';
export default definePlug({
  name: 'where',
  messages: { 'where.am': { input: z.object({}).optional(), output: z.object({ pid: z.number() }), handler: () => ({ pid: process.pid }) } },
});
`;

/** A project with a plug that says which worker answers, and a config file when given. */
async function project(dir: string, config?: string): Promise<void> {
  await mkdir(join(dir, 'plugs'));
  await writeFile(join(dir, 'plugs', 'where.ts'), WHERE_PLUG);
  if (config !== undefined) await writeFile(join(dir, 'switchboard.config.ts'), config);
}

/** Polls `check` every 20 ms until it holds, for at most `ms`: for state that changes in other processes. */
async function eventually<T>(check: () => Promise<T | undefined | false>, ms = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The agent API's URL from the banner. */
function agentUrl(cli: RunningCli): string {
  const url = /agent\s+(http:\/\/\S+)\/cluster/.exec(cli.stdout())?.[1];
  assert.ok(url, `the banner names the agent:\n${cli.stdout()}`);
  return url;
}

interface Status {
  workers: { index: number; pid: number; state: string }[];
  counts: { connections: number };
  connections?: { id: string; worker: number; channels: string[] }[];
}

async function statusJson(cwd: string, url: string, extra: string[] = []): Promise<Status> {
  const result = await runCli(['status', '--url', url, '--json', ...extra], { cwd, env: { SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN } });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Status;
}

/** The agent's answer to GET `path`, asked directly (cheaper than a CLI run, for polling). */
async function agentGet<T>(url: string, path: string): Promise<T> {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
  return (await response.json()) as T;
}

/** SDK clients until one is on each of `pids`; the rest are closed. At most 20 tries. */
async function clientsOn(wsUrl: string, pids: number[]): Promise<Client[]> {
  const found = new Map<number, Client>();
  for (let attempt = 0; attempt < 20 && found.size < pids.length; attempt++) {
    const client = connect(wsUrl, { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, heartbeatMs: 0 });
    await client.ready;
    const { pid } = (await client.request('where.am' as never, {} as never)) as { pid: number };
    if (pids.includes(pid) && !found.has(pid)) found.set(pid, client);
    else client.close();
  }
  assert.equal(found.size, pids.length, 'a client on every worker');
  return pids.map((pid) => found.get(pid)!);
}

test('start --workers 2: one port, messages cross workers; status and reload talk to the agent; SIGINT stops', async () => {
  await using dir = await tempDir();
  await project(dir.path, `export default { channels: { history: { channels: ['feed'] } }, auth: { defaultGrants: ['call:*', 'publish:*'] } };\n`);
  const env = { SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN, SWITCHBOARD_LOG_LEVEL: 'warn' };
  await using cli = await startCli(['start', '--workers', '2', '--port', '0', '--agent-port', '0'], { cwd: dir.path, env, timeoutMs: 30_000 });
  assert.match(cli.stdout(), /^Switchboard cluster listening on http:\/\/127\.0\.0\.1:\d+\n/);
  assert.match(cli.stdout(), /workers {4}2 \(pids \d+, \d+\), restarted when they crash: at most 5 in 60 s/);
  const agent = agentUrl(cli);
  const pidFile = join(dir.path, 'data', 'agent.pid');
  assert.equal(Number(readFileSync(pidFile, 'utf8')), cli.child.pid);

  // The status table, then JSON; without the token the agent refuses.
  const table = await runCli(['status', '--url', agent], { cwd: dir.path, env: { SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN } });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^Cluster of 2 workers \(2 listening\), agent pid \d+/);
  assert.match(table.stdout, /\nWORKER\s+PID\s+STATE\s+CONNECTIONS\s+RESTARTS\s+LAST EXIT\s+STARTED\n0\s+\d+\s+listening\s+0\s+0\s+-\s+/);
  const refused = await runCli(['status', '--url', agent], { cwd: dir.path });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /unauthorized.*\n {2}The server has an admin token: set SWITCHBOARD_ADMIN_TOKEN/);
  const pids = (await statusJson(dir.path, agent)).workers.map((worker) => worker.pid);
  assert.equal(pids.length, 2);

  const clients = await clientsOn(cli.wsUrl, pids);
  try {
    const heard: unknown[] = [];
    await clients[1]!.subscribe('feed', (data) => heard.push(data)).ready;
    await clients[0]!.publish('feed', 'posted', { n: 1 });
    await eventually(async () => heard.length === 1, 10_000, 'the message on the other worker');
    await eventually(async () => {
      const { connections } = await agentGet<{ connections: { channels: string[] }[] }>(agent, '/cluster/connections');
      return connections.some((entry) => entry.channels.includes('feed'));
    });
    const listed = await statusJson(dir.path, agent, ['--connections']);
    assert.equal(listed.counts.connections, 2);
    assert.deepEqual(listed.connections!.find((entry) => entry.channels.includes('feed'))!.worker, 1);
    const text = await runCli(['status', '--url', agent, '--worker', '1'], { cwd: dir.path, env: { SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN } });
    assert.match(text.stdout, /\nCONNECTION\s+WORKER\s+USER\s+ADDRESS\s+CHANNELS\s+CONNECTED\n\S+\s+1\s+-\s+127\.0\.0\.1\s+feed\s+/);

    // switchboard reload: answers once both were replaced; the clients follow and the subscriber recovers.
    const reload = await runCli(['reload', '--url', agent], { cwd: dir.path, env: { SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN }, timeoutMs: 60_000 });
    assert.equal(reload.code, 0, reload.stderr);
    assert.match(reload.stdout, new RegExp(`^Reloaded 2 workers, one at a time:\\n  worker 0: pid ${pids[0]} → \\d+\\n  worker 1: pid ${pids[1]} → \\d+\\n$`));
    const reloaded = (await agentGet<Status>(agent, '/cluster')).workers.map((worker) => worker.pid);
    assert.ok(reloaded.every((pid) => !pids.includes(pid)), 'every worker replaced');
    await clients[0]!.publish('feed', 'posted', { n: 2 });
    await eventually(async () => heard.length === 2, 15_000, 'the subscriber, moved to a new worker, hears the next one');
    assert.deepEqual(heard, [{ n: 1 }, { n: 2 }]);
  } finally {
    for (const client of clients) client.close();
  }

  // Ctrl+C: everything stops gracefully; the pid file goes.
  const exited = new Promise<number | null>((resolve) => cli.child.once('exit', (code) => resolve(code)));
  cli.child.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.equal(existsSync(pidFile), false);
});

test('the config file sets the agent: a worker killed past the restart intensity stops the cluster with exit code 1', async () => {
  await using dir = await tempDir();
  await project(dir.path, `export default { agent: { workers: 2, maxRestarts: 0 } };\n`);
  await using cli = await startCli(['start', '--port', '0'], { cwd: dir.path, env: { SWITCHBOARD_STORE: 'off', SWITCHBOARD_LOG_LEVEL: 'warn' }, timeoutMs: 30_000 });
  assert.match(cli.stdout(), /at most 0 in 60 s/);
  const { workers } = await agentGet<Status>(agentUrl(cli), '/cluster');
  process.kill(workers[0]!.pid, 'SIGKILL');
  const code = await new Promise<number | null>((resolve) => cli.child.once('exit', (exitCode) => resolve(exitCode)));
  assert.equal(code, 1);
  assert.match(cli.stderr(), /switchboard: the workers crashed more than 0 times in 60 s \(SB_WORKER_RESTARTS_EXCEEDED\); the cluster stopped/);
  assert.match(cli.stdout(), /"code":"SB_WORKER_RESTARTS_EXCEEDED"/);
});

test('wrong agent flags and settings exit with 2; an unknown option or an agent that is not there, with 1', async () => {
  await using dir = await tempDir();
  await project(dir.path);
  await writeFile(join(dir.path, 'bad.config.ts'), 'export default { prot: 3000 };\n');
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['start', '--workers', '0'], {}, /--workers: expected a number of workers from 1 to 256, or "auto" for one per core, got "0"/],
    [['start', '--agent-port', '4000'], {}, /--agent-port is for the agent: pass --workers too/],
    [['start', '--workers', '2', '--port', '4000', '--agent-port', '4000'], {}, /the agent's port 4000 is the server's/],
    [['start'], { SWITCHBOARD_WORKERS: 'x' }, /SWITCHBOARD_WORKERS: expected a number of workers/],
    [['dev', '--workers', '2'], {}, /unknown flag --workers for "dev"/],
    [['status', '--worker', 'first'], {}, /--worker: expected a worker index/],
    [['status'], { PORT: '0' }, /PORT is 0 \(a free port, picked when the agent starts\): pass --url/],
  ];
  // Four at a time: each is a short CLI run that fails before starting anything.
  for (let i = 0; i < cases.length; i += 4) {
    const batch = cases.slice(i, i + 4);
    const results = await Promise.all(batch.map(([args, env]) => runCli(args, { cwd: dir.path, env })));
    batch.forEach(([args, , message], j) => {
      assert.equal(results[j]!.code, 2, `${args.join(' ')}: ${results[j]!.stderr}`);
      assert.match(results[j]!.stderr, message, args.join(' '));
    });
  }
  // The agent checks the workers' options before it forks one: exit 1 with the code, as a single server does.
  const unknown = await runCli(['start', '--workers', '2', '--config', 'bad.config.ts'], { cwd: dir.path });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /SB_CONFIG_UNKNOWN_OPTION: unknown option "prot"; did you mean "port"\?/);
  // Nothing listens on the agent's default port (the server's 3000 + 1) here: exit 1, with how to start one.
  const missing = await runCli(['status'], { cwd: dir.path, env: { SWITCHBOARD_AGENT_PORT: '1' } });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot reach a server at http:\/\/127\.0\.0\.1:1 .*Start it with "switchboard start --workers <n>"/);
});

test('SWITCHBOARD_REDIS_URL and SWITCHBOARD_DATABASE_URL that are not URLs of their kind stop start with a clear message', async () => {
  await using dir = await tempDir();
  await project(dir.path);
  const redis = await runCli(['start', '--port', '0'], { cwd: dir.path, env: { SWITCHBOARD_STORE: 'off', SWITCHBOARD_REDIS_URL: 'http://127.0.0.1:6379' } });
  assert.equal(redis.code, 1);
  assert.match(redis.stderr, /SWITCHBOARD_REDIS_URL must start with redis:\/\/ or rediss:\/\/, got "http:\/\/…"/);
  const database = await runCli(['start', '--port', '0'], { cwd: dir.path, env: { SWITCHBOARD_DATABASE_URL: 'not a url' } });
  assert.equal(database.code, 1);
  assert.match(database.stderr, /SWITCHBOARD_DATABASE_URL must be a URL \(postgres:\/\/… or postgresql:\/\/…\), got "not a url"/);
});

test('start --workers 2 --watch: a saved plug is swapped in on every worker, and each pushes the new manifest to its clients', async () => {
  await using dir = await tempDir();
  await project(dir.path, `export default { auth: { defaultGrants: ['call:*'] } };\n`);
  const env = { SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN, SWITCHBOARD_LOG_LEVEL: 'warn', SWITCHBOARD_STORE: 'off' };
  await using cli = await startCli(['start', '--workers', '2', '--watch', '--port', '0', '--agent-port', '0'], { cwd: dir.path, env, timeoutMs: 30_000 });
  const wsUrl = /WebSocket\s+(ws:\/\/\S+)/.exec(cli.stdout())?.[1];
  assert.ok(wsUrl, cli.stdout());
  const pids = (await statusJson(dir.path, agentUrl(cli))).workers.map((worker) => worker.pid);
  const clients = await clientsOn(wsUrl, pids);
  try {
    const manifests = clients.map(
      (client) => new Promise<string[]>((resolve) => client.events.on('manifest', (manifest) => resolve(manifest.messages.map((message) => message.type)))),
    );
    await writeFile(
      join(dir.path, 'plugs', 'hello.ts'),
      `import { definePlug, z } from '@switchboard/server';
export default definePlug({ name: 'hello', messages: { 'hello.say': { input: z.object({}).optional(), handler: () => ({ hi: process.pid }) } } });
`,
    );
    const seen = await Promise.all(manifests.map((manifest) => Promise.race([manifest, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no $manifest push within 20 s')), 20_000))])));
    for (const types of seen) assert.ok(types.includes('hello.say'), `the new plug's message is in every worker's manifest: ${types.join(', ')}`);
    // Each worker answers it itself.
    const answers = await Promise.all(clients.map((client) => client.request('hello.say' as never, {} as never) as Promise<{ hi: number }>));
    assert.deepEqual(answers.map((answer) => answer.hi), pids);
  } finally {
    for (const client of clients) client.close();
  }
});
