// Test helpers for the example: a real server with all its plugs and auth settings, and clients signed in like the page.
import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client } from '@switchboard/client';
import type { AppApi } from '@switchboard/server';
import { startTestServer, type TestServer } from '@switchboard/server/testing';
import { auth, type Role } from '../auth.ts';
import chat from '../plugs/chat.ts';
import demo from '../plugs/demo.ts';
import ops from '../plugs/ops.ts';

/** The example's API, so requests in the tests are typed end to end. */
export type ChatApi = AppApi<typeof chat | typeof demo | typeof ops>;

/**
 * A server on a free port with the example's plugs and the same `auth` options `npm start` uses; or, with
 * `plugs` a folder and `watch`, the plugs in that folder, hot-swapped when their files change.
 *
 * @example
 * await using server = await startExampleServer();
 */
export function startExampleServer(options: { plugs?: string; watch?: boolean } = {}): Promise<TestServer> {
  return startTestServer({ plugs: options.plugs ?? [chat, demo, ops], watch: options.watch ?? false, auth });
}

/** A copy of the example's plugs a test may edit, removed on dispose. */
export interface PlugsCopy extends AsyncDisposable {
  /** The copied plugs folder. */
  readonly dir: string;
}

/**
 * Copies `plugs/` (and the `auth.ts` they import) into a git-ignored `.tmp` folder of the example, so that a
 * test can edit plug files while a server watches them without touching the real ones. Inside the example,
 * the copies resolve `jose` and `@switchboard/*` as the originals do.
 *
 * @example
 * await using plugs = await copyPlugs();
 * await using server = await startExampleServer({ plugs: plugs.dir, watch: true });
 */
export async function copyPlugs(): Promise<PlugsCopy> {
  const base = fileURLToPath(new URL('../.tmp/', import.meta.url));
  await mkdir(base, { recursive: true });
  const root = await mkdtemp(join(base, 'plugs-'));
  const dir = join(root, 'plugs');
  await cp(fileURLToPath(new URL('../plugs/', import.meta.url)), dir, { recursive: true });
  await copyFile(fileURLToPath(new URL('../auth.ts', import.meta.url)), join(root, 'auth.ts'));
  return { dir, [Symbol.asyncDispose]: () => rm(root, { recursive: true, force: true }) };
}

/**
 * A client signed in the way the page does it: `demo.signIn` over the socket, then `authenticate(token)`.
 *
 * @example
 * using ada = await signIn(server, 'Ada', 'staff');
 */
export async function signIn(server: TestServer, name: string, role: Role): Promise<Client<ChatApi>> {
  const client = connect<ChatApi>(server.wsUrl);
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
 * Resolves with the first value `subscribe` hands its callback, or rejects after `timeoutMs`.
 *
 * @example
 * const change = await nextValue<GrantsChange>((callback) => client.events.on('grants', callback));
 */
export function nextValue<T>(subscribe: (callback: (value: T) => void) => () => void, timeoutMs = 2000): Promise<T> {
  const promise = new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`nothing arrived within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = subscribe((value) => {
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
 * A check for `assert.rejects`: the request failed with `code` and, when given, named the missing `grant`.
 *
 * @example
 * await assert.rejects(bob.request('ops.revoke', { userId: 'ada' }), failsWith('forbidden', 'call:ops.revoke'));
 */
export function failsWith(code: string, grant?: string): (error: { code?: string; details?: { grant?: unknown } }) => true {
  return (error) => {
    assert.equal(error.code, code);
    if (grant !== undefined) assert.equal(error.details?.grant, grant);
    return true;
  };
}
