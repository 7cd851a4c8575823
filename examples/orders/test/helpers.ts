// Test helpers for the example: a real server with its plugs, auth settings and a temporary database, clients
// signed in like the pages, and the example served by the real `switchboard dev` for the browser test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client } from '@switchboard/client';
import type { AppApi } from '@switchboard/server';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import { auth, type Role } from '../auth.ts';
import demo from '../plugs/demo.ts';
import { createShop } from '../plugs/shop.ts';

/** The example's API, so requests and live copies in the tests are typed end to end. */
export type OrdersApi = AppApi<typeof demo | ReturnType<typeof createShop>>;

/** The example's folder: where `npm start` runs. */
export const EXAMPLE_DIR = fileURLToPath(new URL('../', import.meta.url));

/** A temporary folder for one test's database, removed on dispose. */
export interface DataDir extends AsyncDisposable {
  readonly path: string;
  /** The SQLite file the shop keeps its orders and holds in. */
  readonly database: string;
}

/**
 * Makes an empty temporary folder for a database.
 *
 * @example
 * await using data = await dataDir();
 * await using server = await startExampleServer(data);
 */
export async function dataDir(): Promise<DataDir> {
  const path = await mkdtemp(join(tmpdir(), 'switchboard-orders-'));
  return { path, database: join(path, 'orders.db'), [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

/**
 * A server on a free port with the example's plugs, the same `auth` options `npm start` uses, and its data in
 * `data.database`. `restart()` keeps the database, as a restart of `npm start` does.
 *
 * @example
 * await using server = await startExampleServer(data);
 */
export function startExampleServer(data: DataDir): Promise<TestServer> {
  return startTestServer({ plugs: [demo, createShop({ file: data.database })], auth });
}

/** Reconnect at once after a restart, so that tests do not wait for the default backoff. */
const FAST_RECONNECT = { initialDelayMs: 10, maxDelayMs: 100, jitter: 0 };

/**
 * A client signed in the way the pages do it: `demo.signIn` over the socket, then `authenticate(token)`
 * (which the SDK sends again after every reconnect).
 *
 * @example
 * using ada = await signIn(server, 'Ada', 'customer');
 */
export async function signIn(server: TestServer, name: string, role: Role): Promise<Client<OrdersApi>> {
  const client = connect<OrdersApi>(server.wsUrl, { reconnect: FAST_RECONNECT });
  try {
    const { token } = await client.request('demo.signIn', { name, role });
    await client.authenticate(token);
    return client;
  } catch (error) {
    client.close();
    throw error;
  }
}

/**
 * Resolves with the first value `subscribe` hands its callback for which `accept` holds, or rejects after
 * `timeoutMs`.
 *
 * @example
 * const change = await nextValue<GrantsChange>((callback) => client.events.on('grants', callback));
 */
export function nextValue<T>(subscribe: (callback: (value: T) => void) => () => void, accept: (value: T) => boolean = () => true, timeoutMs = 15_000): Promise<T> {
  const promise = new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`nothing arrived within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = subscribe((value) => {
      if (!accept(value)) return;
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
  // A waiter a failing test never reached must not be reported as an unhandled rejection.
  promise.catch(() => undefined);
  return promise;
}

/**
 * Waits until `check` holds, looking again every 5 ms, for at most `timeoutMs`: for what arrives over the
 * socket with no event of its own to wait on (a record that must *not* show up is checked after this).
 *
 * @example
 * await until(() => office.records.size === 2, 'both orders in the back office');
 */
export async function until(check: () => boolean, what = 'the condition', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * A check for `assert.rejects`: the request failed with `code` and, when given, named the missing `grant`.
 *
 * @example
 * await assert.rejects(ada.request('shop.ship', { id }), failsWith('forbidden', 'call:shop.ship'));
 */
export function failsWith(code: string, grant?: string): (error: { code?: string; details?: { grant?: unknown } }) => true {
  return (error) => {
    assert.equal(error.code, code);
    if (grant !== undefined) assert.equal(error.details?.grant, grant);
    return true;
  };
}

/**
 * Variables that would change what the CLI does; the served example starts from none of them.
 * NODE_TEST_CONTEXT is set by the test runner for its own children.
 */
const CLI_VARIABLES = /^(PORT|HOST|SWITCHBOARD_.*|NODE_TEST_CONTEXT)$/;

/** The example served by `switchboard dev`, as `npm start` serves it: its URLs and a graceful stop. */
export interface ServedExample extends AsyncDisposable {
  /** The HTTP URL the CLI printed (the pages are under it). */
  readonly url: string;
  readonly wsUrl: string;
  /** What the CLI printed on stderr so far (its log). */
  stderr(): string;
}

/**
 * Runs `switchboard dev --port 0` in the example's folder with its data in `data.database` (ORDERS_DB), and
 * resolves once it printed its URLs. Disposing it stops it (SIGTERM, then SIGKILL after 10 s).
 *
 * @example
 * await using app = await serveExample(data);
 * await page.goto(`${app.url}/customer.html?name=Ada`);
 */
export async function serveExample(data: DataDir, timeoutMs = 20_000): Promise<ServedExample> {
  const bin = join(dirname(fileURLToPath(import.meta.resolve('@switchboard/cli/package.json'))), 'bin', 'switchboard.js');
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!CLI_VARIABLES.test(key)) env[key] = value;
  env.ORDERS_DB = data.database;
  const child = spawn(process.execPath, [bin, 'dev', '--port', '0'], { cwd: EXAMPLE_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const urls = await new Promise<{ url: string; wsUrl: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`)), timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
        const wsUrl = /WebSocket\s+(ws:\/\/\S+)/.exec(stdout)?.[1];
        if (url && wsUrl) {
          clearTimeout(timer);
          resolve({ url, wsUrl });
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`switchboard dev exited before printing a URL\nstdout: ${stdout}\nstderr: ${stderr}`));
      });
    });
    return { ...urls, stderr: () => stderr, [Symbol.asyncDispose]: stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
