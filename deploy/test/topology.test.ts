// The topology of docker-compose.yml, run with real processes on loopback: a throwaway redis-server and
// PostgreSQL, two `switchboard start` nodes of the chat example (SWITCHBOARD_REDIS_URL, SWITCHBOARD_DATABASE_URL,
// SWITCHBOARD_NODE, as compose sets them), and Debian's nginx running deploy/nginx.conf — the very file the compose service mounts,
// with only its addresses changed to loopback ones. Clients connect through nginx only. The compose file
// itself is checked with a real parser (`docker compose config`, or Debian's `docker-compose`).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { connect, type Client } from '@switchboard/client';
import type { ChatApi } from '../../examples/chat/test/helpers.ts';
import { startTestPostgres } from '../../packages/postgres/test/pg.ts';
import { startTestRedis } from '../../packages/redis/test/redis.ts';
import { freePort, skipBanner } from '../../scripts/throwaway-servers.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHAT = join(REPO, 'examples/chat');
const BIN = join(REPO, 'packages/cli/bin/switchboard.js');
const ADMIN_TOKEN = 'topology-admin-token-0123456789';
const SECRET = 'topology-test-secret-of-at-least-32-characters';

function findNginx(): string | undefined {
  for (const candidate of [process.env.NGINX, '/usr/sbin/nginx', '/usr/bin/nginx']) {
    if (candidate && spawnSync(candidate, ['-v']).status === 0) return candidate;
  }
  return undefined;
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Rejects when `promise` has not settled within `ms`: a message that never arrives fails the test, quickly. */
function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A process the test started: its output so far, and a kill that waits for it to end. */
interface Running {
  child: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Running {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `switchboard start` of the chat example as compose runs a node; resolves with its port once it listens. */
async function startNode(name: string, env: Record<string, string>): Promise<Running & { port: number }> {
  const node = run(process.execPath, [BIN, 'start', '--port', '0'], {
    cwd: CHAT,
    env: { ...process.env, ...env, SWITCHBOARD_NODE: name, HOST: '127.0.0.1', SWITCHBOARD_TRUST_PROXY: '127.0.0.1', SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN, CHAT_JWT_SECRET: SECRET },
  });
  try {
    await eventually(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(node.output()) || node.child.exitCode !== null, `${name} listening`);
  } catch (error) {
    await node.stop('SIGKILL');
    throw new Error(`${name} did not start:\n${node.output()}`, { cause: error });
  }
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(node.output())?.[1]);
  if (!port) throw new Error(`${name} exited:\n${node.output()}`);
  return { ...node, port };
}

/** Debian's nginx on deploy/nginx.conf, its upstreams and listen port moved to loopback. */
async function startNginx(nginx: string, upstreams: [number, number]): Promise<Running & { port: number; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-nginx-'));
  const port = await freePort();
  const original = readFileSync(join(REPO, 'deploy/nginx.conf'), 'utf8');
  const config = original
    .replace('server node1:3000', `server 127.0.0.1:${upstreams[0]}`)
    .replace('server node2:3000', `server 127.0.0.1:${upstreams[1]}`)
    .replace('listen 8080;', `listen 127.0.0.1:${port};`);
  // Exactly the addresses changed: if the file's shape changes, this test must be told.
  assert.equal(config.split('\n').length, original.split('\n').length);
  assert.notEqual(config.indexOf(`127.0.0.1:${upstreams[1]}`), -1, 'deploy/nginx.conf names its upstreams node1:3000 and node2:3000');
  assert.notEqual(config.indexOf(`listen 127.0.0.1:${port};`), -1, 'deploy/nginx.conf listens on 8080');
  writeFileSync(join(dir, 'nginx.conf'), config);
  const running = run(nginx, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { cwd: dir });
  await eventually(async () => {
    if (running.child.exitCode !== null) throw new Error(`nginx exited:\n${running.output()}`);
    return fetch(`http://127.0.0.1:${port}/healthz`).then(
      (response) => response.ok,
      () => false,
    );
  }, 'nginx answering');
  return { ...running, port, dir };
}

/** A chat client through nginx, signed in with the demo sign-in. */
async function signIn(port: number, name: string): Promise<Client<ChatApi>> {
  const client = connect<ChatApi>(`ws://127.0.0.1:${port}/ws`, { WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0 } });
  try {
    const { token } = await client.request('demo.signIn', { name, role: 'staff' });
    await client.authenticate(token);
    return client;
  } catch (error) {
    client.close(); // else it keeps reconnecting, and the failed test never ends
    throw error;
  }
}

/** The ids of the connections a node holds, from its own admin API (not through nginx). */
async function connectionsOn(port: number): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${port}/admin/connections`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(response.status, 200);
  return ((await response.json()) as { connections: { id: string }[] }).connections.map((connection) => connection.id);
}

const nginx = findNginx();
const redis = await startTestRedis();
const pg = await startTestPostgres();
if (typeof redis !== 'string') after(() => redis.close());
if (typeof pg !== 'string') after(() => pg.close());
if (nginx === undefined) skipBanner('TOPOLOGY TEST', 'no nginx binary (/usr/sbin/nginx, or NGINX=…)', 'Install it with "apt-get install -y nginx" to run it');

const skip = nginx === undefined ? 'no nginx' : typeof redis === 'string' ? `no redis-server: ${redis}` : typeof pg === 'string' ? `no PostgreSQL: ${pg}` : false;

test('the compose topology with real processes: nginx in front of two nodes on Redis and PostgreSQL acts as one server', { skip }, async () => {
  if (nginx === undefined || typeof redis === 'string' || typeof pg === 'string') return;
  const env = { SWITCHBOARD_REDIS_URL: redis.url, SWITCHBOARD_DATABASE_URL: await pg.createDatabase() };
  const node1 = await startNode('node1', env);
  const node2 = await startNode('node2', env).catch(async (error: unknown) => {
    await node1.stop();
    throw error;
  });
  const proxy = await startNginx(nginx, [node1.port, node2.port]).catch(async (error: unknown) => {
    await Promise.all([node1.stop(), node2.stop()]);
    throw error;
  });
  const clients: Client<ChatApi>[] = [];
  try {
    // Through nginx until each node holds at least one client (round robin: a few at most).
    const onNode = new Map<string, Client<ChatApi>>();
    for (let i = 0; i < 12 && onNode.size < 2; i++) {
      const client = await signIn(proxy.port, `user${i}`);
      clients.push(client);
      const id = client.connectionId!;
      if ((await connectionsOn(node1.port)).includes(id)) onNode.set('node1', onNode.get('node1') ?? client);
      else if ((await connectionsOn(node2.port)).includes(id)) onNode.set('node2', onNode.get('node2') ?? client);
    }
    assert.equal(onNode.size, 2, 'nginx spread the clients over both nodes');
    const ada = onNode.get('node1')!;
    const bob = onNode.get('node2')!;

    // A chat message sent on node1 reaches a client on node2 (broadcast through Redis).
    const heard = new Promise<{ text: string }>((resolve) => bob.on('chat.message', (message) => resolve(message)));
    await ada.request('chat.send', { text: 'hello across the cluster' });
    assert.equal((await within(heard, 'the message on node2')).text, 'hello across the cluster');

    // Who is online is one list across both nodes.
    const lobby = ada.subscribe('presence-lobby');
    await lobby.ready;
    const bobLobby = bob.subscribe('presence-lobby');
    await bobLobby.ready;
    await eventually(() => lobby.members.size === clients.length && bobLobby.members.size === clients.length, 'both see every signed-in user');

    // The health check through nginx, and each node's: both up, each naming itself.
    assert.equal((await fetch(`http://127.0.0.1:${proxy.port}/healthz`)).status, 200);
    for (const [name, port] of [['node1', node1.port], ['node2', node2.port]] as const) {
      const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { node: string; bus: string };
      assert.deepEqual([health.node, health.bus], [name, 'up']);
    }

    // Records go to the shared PostgreSQL: the message is in the audit log, asked through either node; the
    // client address is the one nginx saw (loopback), not nginx's own connection.
    await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${node2.port}/admin/audit?type=message.in&messageType=chat.send`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const { records } = (await response.json()) as { records: { node: string; data?: { payload?: { text?: string } } }[] };
      return records.some((record) => record.node === 'node1' && record.data?.payload?.text === 'hello across the cluster');
    }, 'the message recorded in PostgreSQL');

    // node1 dies (SIGKILL): its clients reconnect through nginx to node2 and go on chatting.
    await node1.stop('SIGKILL');
    await eventually(async () => (await connectionsOn(node2.port)).includes(ada.connectionId ?? ''), 'ada back, on node2', 30_000);
    const again = new Promise<{ text: string }>((resolve) => bob.on('chat.message', (message) => message.text === 'still here' && resolve(message)));
    await ada.request('chat.send', { text: 'still here' });
    assert.equal((await within(again, 'the message after the failover')).text, 'still here');
  } finally {
    for (const client of clients) client.close();
    await Promise.all([node1.stop(), node2.stop(), proxy.stop()]);
    rmSync(proxy.dir, { recursive: true, force: true });
  }
});

/** `docker compose`, or Debian's `docker-compose`: whichever parses compose files here. */
function composeCommand(): string[] | undefined {
  if (spawnSync('docker', ['compose', 'version']).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version']).status === 0) return ['docker-compose'];
  return undefined;
}

const compose = composeCommand();
if (compose === undefined) {
  process.stderr.write(`\n${'!'.repeat(78)}\n!! COMPOSE CHECK SKIPPED: neither "docker compose" nor "docker-compose" is installed.\n!! Install it with "apt-get install -y docker-compose" to run it.\n${'!'.repeat(78)}\n\n`);
}

test('docker-compose.yml parses, and runs what the topology test runs', { skip: compose === undefined ? 'no docker compose / docker-compose' : false }, () => {
  const [command, ...args] = compose!;
  const result = spawnSync(command!, [...args, '-f', join(REPO, 'docker-compose.yml'), 'config', '--format', 'json'], { cwd: REPO, encoding: 'utf8' });
  let parsed: { services: Record<string, { environment?: Record<string, string>; volumes?: (string | { source: string; target: string })[]; ports?: unknown[]; build?: { args?: Record<string, string> } }> };
  const json = result.status === 0 && result.stdout.trim().startsWith('{') ? result.stdout : undefined;
  if (json !== undefined) parsed = JSON.parse(json) as typeof parsed;
  else {
    // docker-compose 1.x has no --format: its YAML output, read back by its own parser's config -q check.
    const check = spawnSync(command!, [...args, '-f', join(REPO, 'docker-compose.yml'), 'config', '-q'], { cwd: REPO, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    const yaml = spawnSync(command!, [...args, '-f', join(REPO, 'docker-compose.yml'), 'config'], { cwd: REPO, encoding: 'utf8' }).stdout;
    // The resolved file names each service at two spaces under `services:`; what matters is checked below on the text.
    for (const name of ['redis', 'postgres', 'node1', 'node2', 'nginx']) assert.match(yaml, new RegExp(`^  ${name}:$`, 'm'), `service ${name}`);
    assert.match(yaml, /deploy\/nginx\.conf:\/etc\/nginx\/nginx\.conf:ro/, 'nginx runs deploy/nginx.conf');
    assert.match(yaml, /SWITCHBOARD_REDIS_URL: redis:\/\/redis:6379/);
    assert.match(yaml, /SWITCHBOARD_DATABASE_URL: postgres:\/\/switchboard:switchboard@postgres:5432\/switchboard/);
    assert.match(yaml, /SWITCHBOARD_NODE: node1/);
    assert.match(yaml, /SWITCHBOARD_NODE: node2/);
    assert.match(yaml, /published: 8080/);
    return;
  }
  const services = parsed.services;
  assert.deepEqual(Object.keys(services).sort(), ['nginx', 'node1', 'node2', 'postgres', 'redis']);
  assert.equal(services.node1?.environment?.SWITCHBOARD_NODE, 'node1');
  assert.equal(services.node2?.environment?.SWITCHBOARD_NODE, 'node2');
  assert.equal(services.node1?.environment?.SWITCHBOARD_REDIS_URL, 'redis://redis:6379');
  assert.ok(JSON.stringify(services.nginx?.volumes).includes('deploy/nginx.conf'));
});
