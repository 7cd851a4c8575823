// Test helpers: run the real `switchboard` bin as a child process, and temporary project folders.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The executable under test. */
export const BIN = fileURLToPath(new URL('../src/bin.ts', import.meta.url));

/**
 * Variables that would change what the CLI does; tests start from none of them. NODE_TEST_CONTEXT is set
 * by the test runner for its own children and would make `switchboard test` report to us in binary.
 */
const CLI_VARIABLES = /^(PORT|HOST|SWITCHBOARD_.*|NODE_TEST_CONTEXT)$/;

/** The environment for a CLI child: this one, minus CLI settings, plus `extra`. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!CLI_VARIABLES.test(key)) env[key] = value;
  return { ...env, ...extra };
}

/** What a finished CLI run printed, and how it ended. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI to completion (at most `timeoutMs`, then it is killed and the run fails). `bin` runs another
 * script than the CLI's entry, such as an installed bin link.
 *
 * @example
 * const { code, stderr } = await runCli(['dev', '--port', 'abc'], { cwd });
 */
export function runCli(args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number; bin?: string }): Promise<CliResult> {
  return runProcess(process.execPath, [options.bin ?? BIN, ...args], options);
}

/**
 * Runs a program to completion with the CLI's environment (at most `timeoutMs`, then it is killed and the
 * run fails).
 *
 * @example
 * const { code, stdout } = await runProcess(exe, ['--version'], { cwd });
 */
export async function runProcess(command: string, args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult> {
  const child = spawn(command, args, { cwd: options.cwd, env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  return { code, stdout, stderr };
}

/** A CLI process that serves: its URLs, its output so far, and a graceful stop. */
export interface RunningCli extends AsyncDisposable {
  readonly child: ChildProcess;
  /** The HTTP URL the CLI printed. */
  readonly url: string;
  readonly wsUrl: string;
  stdout(): string;
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit code (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | null>;
}

/**
 * Starts a serving command and resolves once it printed its URL (the real one, with `--port 0`).
 * Dispose it (or call `stop`) in every test, so no server outlives its test.
 *
 * @example
 * await using cli = await startCli(['dev', '--port', '0'], { cwd });
 * const res = await fetch(cli.url);
 */
export async function startCli(args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<RunningCli> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timeoutMs = options.timeoutMs ?? 20_000;
  let urls: { url: string; wsUrl: string };
  try {
    urls = await new Promise((resolve, reject) => {
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
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code} before printing a URL\nstdout: ${stdout}\nstderr: ${stderr}`));
      });
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  let stopping: Promise<number | null> | undefined;
  const stop = (stopTimeoutMs = 10_000) =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    })());
  return {
    child,
    url: urls.url,
    wsUrl: urls.wsUrl,
    stdout: () => stdout,
    stderr: () => stderr,
    stop,
    [Symbol.asyncDispose]: async () => void (await stop()),
  };
}

/** A temporary folder under the OS temp dir, removed on dispose. */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
}

/**
 * Makes an empty temporary folder.
 *
 * @example
 * await using dir = await tempDir();
 */
export async function tempDir(prefix = 'switchboard-cli-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}
