// Test helpers for the example: a real server with its plugs, SDK clients that reconnect at once, waiting on
// what arrives over the socket, and the example served by the real `switchboard dev` for the browser test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client } from '@switchboard/client';
import type { AppApi, ServerOptions } from '@switchboard/server';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import board from '../plugs/board.ts';
import tictactoe from '../plugs/tictactoe.ts';

/**
 * The example's API, so `tictactoe.games` is typed in the tests. The board plug has rooms only (no plain
 * messages), so it adds nothing here; listed, its `messages: {}` would make every reply `unknown`.
 */
export type GamesApi = AppApi<typeof tictactoe>;

/** The example's folder: where `npm start` runs. */
export const EXAMPLE_DIR = fileURLToPath(new URL('../', import.meta.url));

/**
 * A server on a free port with the example's plugs, as `npm start` runs them (no sign-in); `options` adds to
 * the server's options (say, rate limits off for a test that sends hundreds of messages).
 *
 * @example
 * await using server = await startExampleServer();
 */
export function startExampleServer(options: ServerOptions = {}): Promise<TestServer> {
  return startTestServer({ ...options, plugs: [tictactoe, board] });
}

/** Reconnect at once after a dropped socket, so that tests do not wait for the default backoff. */
const FAST_RECONNECT = { initialDelayMs: 10, maxDelayMs: 100, jitter: 0 };

/**
 * An anonymous SDK client, as a page is. Dispose it with `using`.
 *
 * @example
 * using ada = player(server);
 * const game = ada.join<TicTacToeState>({ kind: 'tictactoe', create: true });
 */
export function player(server: TestServer): Client<GamesApi> {
  return connect<GamesApi>(server.wsUrl, { reconnect: FAST_RECONNECT });
}

/**
 * Waits until `check` holds, looking again every 5 ms, for at most `timeoutMs`: for what arrives over the
 * socket with no event of its own to wait on.
 *
 * @example
 * await until(() => watcher.state?.status === 'won', 'the spectator sees the win');
 */
export async function until(check: () => boolean, what = 'the condition', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Resolves with the first value `subscribe` hands its callback for which `accept` holds, or rejects after
 * `timeoutMs`.
 *
 * @example
 * const info = await nextValue((callback) => game.on('joined', callback));
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
 * A check for `assert.rejects`: the request failed with `code`.
 *
 * @example
 * await assert.rejects(game.send('move', { cell: 0 }), failsWith('not_your_turn'));
 */
export function failsWith(code: string): (error: { code?: string }) => true {
  return (error) => {
    assert.equal(error.code, code);
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
 * Runs `switchboard dev --port 0` in the example's folder and resolves once it printed its URLs. Disposing it
 * stops it (SIGTERM, then SIGKILL after 10 s).
 *
 * @example
 * await using app = await serveExample();
 * await page.goto(`${app.url}/tictactoe.html`);
 */
export async function serveExample(timeoutMs = 20_000): Promise<ServedExample> {
  const bin = join(dirname(fileURLToPath(import.meta.resolve('@switchboard/cli/package.json'))), 'bin', 'switchboard.js');
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!CLI_VARIABLES.test(key)) env[key] = value;
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
