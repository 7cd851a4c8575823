// Helpers of the cluster tests: a real agent with real worker processes (fixtures/cluster-app.ts) on loopback,
// the agent's API, tokens, SDK clients pinned to a worker, and bounded waits.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { connect, type Client, type ClientOptions } from '@switchboard/client';
import type { ClusterStatus, ConnectionEntry } from '@switchboard/server/cluster';
import { CLUSTER_SECRET } from './fixtures/cluster-auth.ts';
import { RawClient } from './helpers.ts';

const APP = fileURLToPath(new URL('./fixtures/cluster-app.ts', import.meta.url));

/**
 * Polls `check` until it holds (every 10 ms, at most `ms`): for state that changes in another process,
 * where there is no event to await in this one.
 */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (let attempt = 0; ; attempt++) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms (${attempt} checks)`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A JWT for `sub` (info `{ name }`), signed with the fixture's secret. */
export function tokenFor(sub: string, name = sub): Promise<string> {
  return new SignJWT({ info: { name } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(CLUSTER_SECRET));
}

/** A running agent with its workers. Disposing it stops the agent (SIGTERM, then SIGKILL) and its workers. */
export interface TestCluster extends AsyncDisposable {
  readonly child: ChildProcess;
  /** Where clients connect (every worker listens on it). */
  readonly url: string;
  readonly wsUrl: string;
  /** The agent API's base URL. */
  readonly agent: string;
  readonly pid: number;
  /** What the agent printed on stderr so far (its log, when CLUSTER_LOG is set). */
  stderr(): string;
  status(): Promise<ClusterStatus>;
  connections(query?: string): Promise<ConnectionEntry[]>;
  /** A request to the agent API, answered as JSON. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** The pids of the listening workers, by slot. */
  workerPids(): Promise<number[]>;
  /** Sends `signal` to the agent and resolves with its exit code (SIGKILL after `ms`). */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | null>;
}

/**
 * Starts fixtures/cluster-app.ts with `config` (CLUSTER_CONFIG) and resolves once every worker listens.
 *
 * @example
 * await using c = await startCluster({ workers: 2 });
 */
export async function startCluster(config: Record<string, unknown> = {}, options: { log?: string } = {}): Promise<TestCluster> {
  const env = { ...process.env, CLUSTER_CONFIG: JSON.stringify(config), ...(options.log ? { CLUSTER_LOG: options.log } : {}) };
  const child = spawn(process.execPath, [APP], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the cluster did not start within 30 s\nstderr: ${stderr}`)), 30_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const end = stdout.indexOf('\n');
      if (end < 0) return;
      clearTimeout(timer);
      resolve(stdout.slice(0, end));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the agent exited with ${code} before it listened\nstderr: ${stderr}`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  const started = JSON.parse(line) as { url: string; agent: string; pid: number };
  // The agent API takes the admin token when the cluster has one.
  const token: Record<string, string> = typeof config.adminToken === 'string' ? { authorization: `Bearer ${config.adminToken}` } : {};
  const api: TestCluster['api'] = async (method, path, body, headers = {}) => {
    const response = await fetch(`${started.agent}${path}`, {
      method,
      headers: { ...token, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } as Record<string, string>,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: response.status, body: await response.json() };
  };
  let stopping: Promise<number | null> | undefined;
  const stop = (signal: NodeJS.Signals = 'SIGTERM', ms = 15_000) =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    })());
  const handle: TestCluster = {
    child,
    url: started.url,
    wsUrl: `${started.url.replace(/^http/, 'ws')}/ws`,
    agent: started.agent,
    pid: started.pid,
    stderr: () => stderr,
    status: async () => (await api('GET', '/cluster')).body as ClusterStatus,
    connections: async (query = '') => ((await api('GET', `/cluster/connections${query}`)).body as { connections: ConnectionEntry[] }).connections,
    api,
    async workerPids() {
      const { workers } = await handle.status();
      return workers.filter((worker) => worker.state === 'listening').sort((a, b) => a.index - b.index).map((worker) => worker.pid);
    },
    stop,
    [Symbol.asyncDispose]: async () => void (await stop()),
  };
  return handle;
}

/** An SDK client that reconnects quickly (unless `options` say otherwise). */
export function client(url: string, options: ClientOptions = {}): Client {
  return connect(url, { reconnect: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0.2 }, requestTimeoutMs: 10_000, heartbeatMs: 0, ...options });
}

/** The pid of the worker a client is connected to. */
export async function pidOf(c: Client): Promise<number> {
  return ((await c.request('where.am' as never, {} as never)) as { pid: number }).pid;
}

/**
 * SDK clients, one on each worker pid of `pids` (the i-th on `pids[i]`, authenticated as `sub(i)`): connects
 * clients (round robin spreads them) and keeps the first on each worker, closing the rest. At most 20 tries.
 */
export async function clientsOn(url: string, pids: number[], sub?: (i: number) => string, options?: ClientOptions): Promise<Client[]> {
  const found = new Map<number, Client>();
  for (let attempt = 0; attempt < 20 && found.size < pids.length; attempt++) {
    const c = client(url, options);
    await c.ready;
    const pid = await pidOf(c);
    if (pids.includes(pid) && !found.has(pid)) found.set(pid, c);
    else c.close();
  }
  if (found.size < pids.length) throw new Error(`could not reach every worker (${[...found.keys()]} of ${pids})`);
  const clients = pids.map((pid) => found.get(pid)!);
  // Authenticated once placed; the SDK keeps the token for its reconnects.
  if (sub) await Promise.all(clients.map(async (c, i) => c.authenticate(await tokenFor(sub(i)))));
  return clients;
}

/** Resolves when the child exits, with its code. */
export async function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

/** Plain `ws` clients (anonymous), one on each worker pid of `pids`, like `clientsOn`. */
export async function rawClientsOn(wsUrl: string, pids: number[]): Promise<RawClient[]> {
  const found = new Map<number, RawClient>();
  for (let attempt = 0; attempt < 20 && found.size < pids.length; attempt++) {
    const raw = await RawClient.connect(wsUrl);
    const pid = ((await raw.request('where.am', {})).data as { pid: number }).pid;
    if (pids.includes(pid) && !found.has(pid)) found.set(pid, raw);
    else await raw[Symbol.asyncDispose]();
  }
  if (found.size < pids.length) throw new Error(`could not reach every worker (${[...found.keys()]} of ${pids})`);
  return pids.map((pid) => found.get(pid)!);
}
